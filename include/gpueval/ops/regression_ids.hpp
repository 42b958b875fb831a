// Metric identifiers and statistic-group bits. Plain enums, usable on the host and the device.
#pragma once

#include <cstdint>

namespace gpueval {

// Order is the report order; append new metrics at the end.
enum class Metric : std::uint8_t {
  mse,
  rmse,
  mae,
  bias,
  max_error,
  r2,
  explained_variance,
  pearson,
  ccc,
  cosine,
  rse,
  nrmse,
  nrmse_range,
  mape,
  smape,
  msle,
  median_absolute_error,
  abs_error_q90,
  abs_error_q99,
};

inline constexpr int kNumMetrics = 19;

// Statistic groups of the regression record (docs/design.md, "Regression record"). The core group
// is always present, since every metric needs the count; the others are bits.
enum Group : unsigned {
  kGroupCore = 0,
  kGroupRange = 1u << 0, // min_t, max_t: nrmse_range
  kGroupPct = 1u << 1,   // sum_ape, sum_sape: mape, smape
  kGroupLog = 1u << 2,   // sum_sle, n_sle_out_of_domain: msle
  // The record's groups (RegressionRecord<G> templates over them).
  kAllGroups = kGroupRange | kGroupPct | kGroupLog,
  // Not in the record: a per-channel sketch beside it (ops/quantile_sketch.hpp).
  kGroupQuantile = 1u << 3, // median_absolute_error, abs_error_q90, abs_error_q99
  kKnownGroups = kAllGroups | kGroupQuantile,
};

} // namespace gpueval
