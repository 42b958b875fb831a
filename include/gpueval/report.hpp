// The result of compute(): every requested metric at every aggregation DESIGN.md names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/spec.hpp"

namespace gpueval {

struct Report {
  RegressionSpec spec;     // the spec that produced it (metrics in report order)
  std::string device;      // "cpu (2 threads)", "cuda:0 (NVIDIA H100 ...)"
  std::uint64_t count = 0; // pairs folded, all keys
  std::uint64_t skipped_nonfinite = 0;
  std::int64_t channels = 0;

  // Headline values, one per spec.metrics entry: the uniform average over channels of the
  // per-channel metric (scikit-learn's multioutput default on x.reshape(-1, C)); max_error is
  // the overall max.
  std::vector<double> headline;
  // All values as one stream, one per spec.metrics entry.
  std::vector<double> flat;
  // r2 and explained_variance averaged with weights m2_t, as scikit-learn's
  // multioutput="variance_weighted" (uniform when every channel's target is constant). NaN for
  // the other metrics, and for these two when they were not requested.
  double variance_weighted_r2 = 0;
  double variance_weighted_explained_variance = 0;
  // per_channel[i][c]: metric spec.metrics[i] of channel c.
  std::vector<std::vector<double>> per_channel;
  std::vector<std::uint64_t> per_channel_count;
  // by_axis[i][j]: the headline aggregation of metric spec.metrics[i] restricted to breakdown
  // index j. Empty without a breakdown.
  std::vector<std::vector<double>> by_axis;
  std::vector<std::uint64_t> by_axis_count;
  // by_axis_per_channel[i][j * channels + c]: metric spec.metrics[i] of channel c restricted to
  // breakdown index j (the values by_axis averages). Empty without a breakdown.
  std::vector<std::vector<double>> by_axis_per_channel;
  // Breakdown axis as an axis of the batch tensor; -1 without one.
  int by_axis_index = -1;
  // median_absolute_error, abs_error_q90, abs_error_q99 come from a sketch whose values are
  // within quantile_accuracy of the exact quantiles, relatively, for |errors| in [2^-64, 2^64)
  // (smaller ones count as 0). 0 without quantile metrics. Their by_axis values are NaN: the
  // sketch is per channel, not per key.
  double quantile_accuracy = 0;
  int quantile_bits = 0;

  // Filled by callers that read data (the CLI); zero otherwise.
  double elapsed_s = 0;
  std::uint64_t bytes_read = 0;

  bool has(std::string_view metric) const;
  // Throw InvalidArgument when the metric was not requested (naming the requested ones).
  double value(std::string_view metric) const;
  double flat_value(std::string_view metric) const;
  const std::vector<double>& per_channel_values(std::string_view metric) const;
  const std::vector<double>& by_axis_values(std::string_view metric) const;

  // DESIGN.md's schema gpueval.report/1: 17 significant digits, non-finite values as null.
  std::string to_json() const;

private:
  std::size_t index_of(std::string_view metric) const;
};

} // namespace gpueval
