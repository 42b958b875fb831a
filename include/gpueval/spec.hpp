// What to compute: metrics, how the tensor is keyed, what to do with non-finite values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/metrics.hpp"

namespace gpueval {

enum class NanPolicy : std::uint8_t {
  skip,      // drop pairs where p or t is NaN or infinite; count them (the default)
  propagate, // fold them in: the affected keys' metrics become NaN or infinite
  error,     // compute() throws NonFiniteError naming the first offending batch and element
};

std::string_view nan_policy_name(NanPolicy p);
// Throws InvalidArgument listing skip, propagate, error.
NanPolicy parse_nan_policy(std::string_view text);

// Largest number of keys a breakdown may create. A state of 2^20 keys is about 100 MB of records;
// anything bigger is almost certainly a wrong --by-axis.
inline constexpr std::int64_t kMaxKeys = std::int64_t{1} << 20;
// Largest quantile sketch, in counts (8 bytes each) over every channel: 512 MiB, 4,095 channels
// at the default accuracy. The CPU backend's tables are calloc'd (only pages a count touched are
// resident); the CUDA backend allocates the whole sketch.
inline constexpr std::int64_t kMaxSketchWords = std::int64_t{1} << 26;

struct RegressionSpec {
  // Metrics to report, in report order. Default: every metric that is not opt-in.
  std::vector<Metric> metrics = default_metrics();
  // -1 (the last axis is the channel axis) or std::nullopt (no channel axis: every value is one
  // stream, K = 1 unless there is a breakdown). Other axes are rejected by validate().
  std::optional<int> channel_axis = -1;
  // An axis of the batch tensor (>= 1; negative counts from the end) whose index, together with
  // every later axis, becomes part of the key: [batch, time, channel] with by_axis = 1 gives
  // K = time * channel keys and by-time metrics. std::nullopt: no breakdown.
  std::optional<int> by_axis;
  NanPolicy nan_policy = NanPolicy::skip;
  // Shape of one sample: the batch tensor's shape without its leading (batch) axis. Fixes K.
  // Empty: taken from the first update.
  std::vector<std::int64_t> sample_shape;
  // median_absolute_error, abs_error_q90, abs_error_q99: the quantile sketch's relative
  // accuracy, 0.049% (2^-10 / (2 + 2^-10)) to 0.5. The sketch uses the fewest mantissa bits that
  // reach it (quantile_bits()); the report states the accuracy those give.
  double quantile_alpha = 0.005;

  // Groups of statistics the metrics need (Group bits).
  unsigned groups() const { return groups_for(metrics); }
  // The sketch's mantissa bits for quantile_alpha; 0 without quantile metrics.
  int quantile_bits() const;
  // Throws InvalidArgument for an empty or duplicated metric list, a channel axis other than -1,
  // a by_axis of 0, a quantile_alpha outside [0.00049, 0.5], or a sample shape that does not fit
  // channel_axis / by_axis (or, with quantile metrics, has over 4,095 channels at the default
  // quantile_alpha).
  void validate() const;
  // A stable 64-bit fingerprint of everything that shapes the statistics (groups, channel axis,
  // by axis, nan policy, sample shape, quantile bits): two states merge only when these agree.
  std::uint64_t fingerprint() const;
};

// How a sample shape maps to keys. A batch tensor [B, s1, ..., sr] is viewed as
// [rows, keys]: keys = prod(s[by - 1:]) with a breakdown at batch axis `by`, the last axis
// with a channel axis and no breakdown, 1 otherwise; rows = numel / keys.
// Key k has channel k % channels and breakdown index k / (keys / by_length).
struct KeyLayout {
  std::int64_t keys = 1;
  std::int64_t channels = 1;
  // The breakdown axis as an axis of the batch tensor (-1: none) and its length.
  int by_axis = -1;
  std::int64_t by_length = 0;

  // Throws InvalidArgument when the spec does not fit the sample shape or keys > kMaxKeys.
  static KeyLayout from(const RegressionSpec& spec, const std::vector<std::int64_t>& sample_shape);

  std::int64_t channel_of(std::int64_t key) const { return key % channels; }
  std::int64_t by_index_of(std::int64_t key) const { return key / (keys / by_length); }
};

} // namespace gpueval
