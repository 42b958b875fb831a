// Encoding and decoding of State blobs (layout in gpueval/state.hpp).
#pragma once

#include <vector>

#include "core/backend.hpp"
#include "gpueval/state.hpp"

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
};

State encode_state(const RegressionSpec& spec, const std::vector<std::int64_t>& sample_shape,
                   const KeyLayout& layout, std::uint64_t batches, NonFiniteLocation where,
                   const std::vector<FullRecord>& records);

// Throws StateError for a truncated, corrupted or other-version blob.
DecodedState decode_state(const State& state);

} // namespace gpueval::detail
