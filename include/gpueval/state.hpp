// An evaluator's epoch state as bytes: how ranks merge and how a long evaluation checkpoints.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gpueval/spec.hpp"

namespace gpueval {

// Layout, version 1 (all integers little-endian, doubles IEEE binary64 little-endian). The
// envelope and the fixed header are every family's; the family tag says how to read the rest.
//
//   offset  size  field
//   0       8     magic "GPUEVST\0"
//   8       4     version (1)
//   12      4     header size in bytes (from offset 0, to the payload)
//   16      4     statistic groups (the family's bits; regression: Group bits)
//   20      1     nan policy (0 skip, 1 propagate, 2 error)
//   21      1     has channel axis (0/1)
//   22      1     has breakdown axis (0/1)
//   23      1     sample rank r (<= 7)
//   24      4     breakdown axis (batch-tensor axis; 0 when none)
//   28      4     family (0 regression, 1 classification; see gpueval/family.hpp)
//   32      8     keys K (regression: records; classification: words of the record)
//   40      8     batches folded
//   48      8     first non-finite batch (UINT64_MAX: none)   } nan_policy = error only
//   56      8     first non-finite element (UINT64_MAX: none) }
//   64      8*r   sample shape
//   ...           the family's own header fields (regression: none; classification: task,
//                 classes, input kinds, threshold, top_k, ignore_index, bins, class axis,
//                 then the auroc histograms' presence, key format, bits and classes)
//   payload       regression: K records: n (u64), skipped (u64), then 12 doubles (ref_p, ref_t,
//                 ref_e, dmean_p, dmean_t, dmean_e, m2_p, m2_t, m2_e, c_pt, sum_abs_e,
//                 max_abs_e), then the optional groups present in the group bits in bit order:
//                 range (min_t, max_t), pct (sum_ape, sum_sape), log (sum_sle,
//                 n_sle_out_of_domain as u64); with the quantile group, after the K records:
//                 the sketch's mantissa bits (u64), quantile_alpha (double), the number of
//                 nonzero counts (u64), then (index, count) u64 pairs, indices ascending.
//                 classification: the K words of its record (ops/classification.hpp's
//                 ClassLayout), u64 each; with histograms, then their nonzero counts as above.
//   end-8   8     FNV-1a 64 checksum of every byte before it
//
// A blob that is truncated, fails its checksum, has another version, or was made with another
// spec (groups, axes, nan policy, sample shape, family) is rejected with a StateError naming the
// field.
struct State {
  std::vector<std::uint8_t> bytes;
};

inline constexpr std::uint32_t kStateVersion = 1;

// What a state blob records about the evaluation that made it, read without an evaluator: how
// `gpu-eval merge` and Python's Regression.from_state rebuild a spec that merges it.
struct StateInfo {
  unsigned groups = 0; // statistic groups (Group bits)
  NanPolicy nan_policy = NanPolicy::skip;
  std::optional<int> channel_axis; // -1, or none
  std::optional<int> by_axis;      // the breakdown axis of the batch tensor, or none
  std::vector<std::int64_t> sample_shape;
  std::int64_t keys = 0;
  std::uint64_t batches = 0; // batches folded into the state (merged states add theirs)
  std::uint64_t count = 0;   // pairs folded, all keys
  // The quantile sketch's relative accuracy (quantile group only): a spec with it merges.
  double quantile_alpha = 0.005;

  // A spec that merges this state: its axes, nan policy and sample shape, with `metrics`, or
  // metrics_for_groups(groups) when `metrics` is empty. Throws InvalidArgument when `metrics`
  // needs statistic groups the state does not hold (a subset of them is fine).
  RegressionSpec spec(std::vector<Metric> metrics = {}) const;
};

// Throws StateError for a blob that is truncated, corrupted or of another version, with the
// same messages as Evaluator::merge.
StateInfo inspect_state(const State& state);

} // namespace gpueval
