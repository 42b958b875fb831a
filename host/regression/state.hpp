// Encoding and decoding of State blobs (layout in gpueval/state.hpp).
#pragma once

#include <utility>
#include <vector>

#include "gpueval/state.hpp"
#include "regression/backend.hpp"

namespace gpueval::detail {

struct DecodedState {
  unsigned groups = 0;
  NanPolicy nan_policy = NanPolicy::skip;
  bool has_channel_axis = true;
  int by_axis = -1;
  std::vector<std::int64_t> sample_shape;
  std::uint64_t batches = 0;
  NonFiniteLocation first_nonfinite;
  std::vector<FullRecord> records;
  // With the quantile group: the sketch's mantissa bits, the quantile_alpha asked for, and its
  // nonzero counts as (index, count), indices ascending, over channels x buckets(bits).
  int sketch_bits = 0;
  double quantile_alpha = 0; // the accuracy the state's spec asked for
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sketch;
};

// `sketch`: the dense sketch (empty without the quantile group), stored sparse.
State encode_state(const RegressionSpec& spec, const std::vector<std::int64_t>& sample_shape,
                   const KeyLayout& layout, std::uint64_t batches, NonFiniteLocation where,
                   const std::vector<FullRecord>& records,
                   const std::vector<std::uint64_t>& sketch);

// Throws StateError for a truncated, corrupted or other-version blob.
DecodedState decode_state(const State& state);

} // namespace gpueval::detail
