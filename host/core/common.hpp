// What every family's evaluator shares: where nan_policy = error first fired, view checks,
// shape text, and whether a device is usable.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "gpueval/device.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::detail {

inline constexpr std::uint64_t kNoIndex = std::numeric_limits<std::uint64_t>::max();

// Where nan_policy = error first saw a bad value: the smallest (batch, element) in
// lexicographic order; element is the C-order index within the batch (of the tensor the family
// counts elements of).
struct NonFiniteLocation {
  std::uint64_t batch = kNoIndex;
  std::uint64_t element = kNoIndex;
  bool found() const { return batch != kNoIndex; }
  bool before(const NonFiniteLocation& o) const {
    return batch < o.batch || (batch == o.batch && element < o.element);
  }
  // Becomes `here` when `here` comes first (an absent location comes after every found one).
  void keep_earliest(const NonFiniteLocation& here) {
    if (here.before(*this)) {
      *this = here;
    }
  }
};

std::string shape_string(const std::int64_t* shape, int rank);

// Throws InvalidArgument when `v` (named `name` in the message) has a rank outside 1..kMaxRank,
// a negative dimension, no data, or lives on another device than `device`.
void check_view(const TensorView& v, const char* name, Device device);

// Throws CudaError naming the reason when `device` is a CUDA device this process cannot use.
void require_usable(Device device);

} // namespace gpueval::detail
