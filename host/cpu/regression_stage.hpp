// Staging: reads a window of a batch's logical (C-order) elements into double tiles, whatever
// the dtype and strides, and works out which pairs are included.
#pragma once

#include <cstdint>

#include "gpueval/ops/inclusion.hpp"
#include "gpueval/regression.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::cpu {

// Elements staged per step: 1024 pairs are 16 KiB of doubles, which stay in L1/L2.
inline constexpr int kTile = 1024;

// out[i] = element i0 + i of v (logical C order), converted exactly to double. Returns whether
// every value is finite.
bool stage_values(const TensorView& v, bool contiguous, std::int64_t i0, int n, double* out);

// out[i] = 1 when the mask element covering logical element i0 + i is nonzero. Each mask element
// covers `cover` consecutive elements (a prefix mask).
void stage_mask(const TensorView& mask, bool contiguous, std::int64_t cover, std::int64_t i0, int n,
                std::uint8_t* out);

// out[i] = the weight covering logical element i0 + i, as a double (any dtype, any strides; each
// weight element covers `cover` consecutive elements, as a prefix mask does).
void stage_weight(const TensorView& weight, std::int64_t cover, std::int64_t i0, int n,
                  double* out);

// The first element of `weight` that is not a weight (`ok` false: by default ops::is_weight,
// negative, NaN, infinite or a subnormal), its value in *value; -1 when every one is.
std::int64_t first_bad_weight(const TensorView& weight, double* value,
                              bool (*ok)(double) = ops::is_weight);

// Decides inclusion per pair: include = the pair's weight (1 unweighted) when it is in the mask
// with a nonzero weight and (propagate || finite), else 0; skipped = in the mask && !finite
// (skip and error policies). `mask` and `weight` may be null. Returns the index of the first
// non-finite pair the mask includes, or -1.
int classify(const double* p, const double* t, const std::uint8_t* mask, const double* weight,
             int n, NanPolicy policy, double* include, double* skipped);

} // namespace gpueval::cpu
