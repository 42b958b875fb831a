// Runs kept as structure-of-arrays lanes, eight to a block, so that one loop over a block folds
// eight pairs with the same vector instructions. The math is ops::RegressionOps::run_fold,
// reached through LaneRef, a proxy with the member names run_fold expects.
#pragma once

#include <cstdint>

#include "gpueval/dtype.hpp"
#include "gpueval/ops/regression.hpp"

namespace gpueval::cpu {

inline constexpr int kBlockLanes = 8;

struct alignas(64) LaneBlock {
  double k[kBlockLanes], w[kBlockLanes], skipped[kBlockLanes];
  double p0[kBlockLanes], t0[kBlockLanes], e0[kBlockLanes];
  double s1p[kBlockLanes], s1t[kBlockLanes], s1e[kBlockLanes];
  double s2p[kBlockLanes], s2t[kBlockLanes], s2e[kBlockLanes], spt[kBlockLanes];
  double sum_abs_e[kBlockLanes], max_abs_e[kBlockLanes];
  double min_t[kBlockLanes], max_t[kBlockLanes];
  double sum_ape[kBlockLanes], sum_sape[kBlockLanes];
  double sum_sle[kBlockLanes], n_sle_out_of_domain[kBlockLanes];

  // Every lane an empty run (ops::Run{}).
  void clear() {
    const ops::Run<kAllGroups> empty{};
    for (int j = 0; j < kBlockLanes; ++j) {
      k[j] = w[j] = skipped[j] = p0[j] = t0[j] = e0[j] = 0;
      s1p[j] = s1t[j] = s1e[j] = s2p[j] = s2t[j] = s2e[j] = spt[j] = 0;
      sum_abs_e[j] = max_abs_e[j] = 0;
      min_t[j] = empty.min_t;
      max_t[j] = empty.max_t;
      sum_ape[j] = sum_sape[j] = sum_sle[j] = n_sle_out_of_domain[j] = 0;
    }
  }
};

struct LaneRef {
  double &k, &w, &skipped, &p0, &t0, &e0, &s1p, &s1t, &s1e, &s2p, &s2t, &s2e, &spt;
  double &sum_abs_e, &max_abs_e, &min_t, &max_t, &sum_ape, &sum_sape, &sum_sle,
      &n_sle_out_of_domain;
};

GPUEVAL_FORCEINLINE LaneRef lane_ref(LaneBlock& b, int j) {
  return {b.k[j],        b.w[j],         b.skipped[j],
          b.p0[j],       b.t0[j],        b.e0[j],
          b.s1p[j],      b.s1t[j],       b.s1e[j],
          b.s2p[j],      b.s2t[j],       b.s2e[j],
          b.spt[j],      b.sum_abs_e[j], b.max_abs_e[j],
          b.min_t[j],    b.max_t[j],     b.sum_ape[j],
          b.sum_sape[j], b.sum_sle[j],   b.n_sle_out_of_domain[j]};
}

// Fold `groups` groups of `count` pairs into lanes lane0 .. lane0 + count - 1 (lane0 a multiple
// of kBlockLanes): pair g * stride + i goes to lane lane0 + i, groups in order.
//
// FoldGeneral: include[...] = 0 leaves the lane untouched, include[...] > 0 folds the pair (with
// that weight when `weighted`, else with weight 1: a mask's fold keeps the products by a weight
// out of its loop), and skipped[...] is added to the lane's skipped count; a lane's first
// included pair becomes its run's shift. finite_included: every included value is finite
// (nan_policy skip or error), so whole vectors may fold at once.
// FoldFast: every pair is included and finite; when `fresh` the first group starts every lane's
// run (sets its shift), otherwise every lane's run must already hold a pair.
//
// Which instruction set runs is chosen at load time; every variant performs the same IEEE
// operations in the same order per lane, so results do not depend on it.
using FoldGeneral = void (*)(LaneBlock* blocks, int lane0, int count, int groups, int stride,
                             bool finite_included, bool weighted, const double* p, const double* t,
                             const double* include, const double* skipped);
using FoldFast = void (*)(LaneBlock* blocks, int lane0, int count, int groups, int stride,
                          bool fresh, const double* p, const double* t);

// FoldFast reading the values where they are (contiguous, of their dtypes; converted to double in
// registers, exactly as staging converts them, so the fold's results are the same bits): pair
// g * stride + i is element g * stride + i of p and of t. Every value must be finite.
using FoldFastFrom = void (*)(LaneBlock* blocks, int lane0, int count, int groups, int stride,
                              bool fresh, const unsigned char* p, const unsigned char* t);
// FoldGeneral reading the values where they are (as FoldFastFrom), every value finite,
// unweighted: include[...] is 0 or 1 and skipped[...] 0, pair g * stride + i's at
// g * istride + i (a mask staged for a tile whose rows lie farther apart than the tile's).
using FoldMaskedFrom = void (*)(LaneBlock* blocks, int lane0, int count, int groups, int stride,
                                int istride, const unsigned char* p, const unsigned char* t,
                                const double* include, const double* skipped);
// Whether n contiguous values are all finite.
using AllFinite = bool (*)(const unsigned char* src, std::int64_t n);

// The quantile sketch's buckets of n staged pairs: out[i] = ops::sketch::bucket(p[i] - t[i],
// bits), computed from the bits of the difference on vector lanes.
using SketchBuckets = void (*)(const double* p, const double* t, int n, int bits,
                               std::uint32_t* out);
// SketchBuckets reading the values where they are (contiguous, of their dtypes, converted as
// staging converts them: the same buckets).
using SketchBucketsFrom = void (*)(const unsigned char* p, const unsigned char* t, int n, int bits,
                                   std::uint32_t* out);

// The per-instruction-set builds of regression_kernels.cpp (see CMakeLists.txt);
// regression_dispatch.cpp picks one, tests call each.
#define GPUEVAL_DECLARE_FOLD_ISA(ns)                                                               \
  namespace ns {                                                                                   \
  FoldGeneral fold_general_function(unsigned groups);                                              \
  FoldFast fold_fast_function(unsigned groups);                                                    \
  SketchBuckets sketch_buckets_function();                                                         \
  SketchBucketsFrom sketch_buckets_from_function(DType pred, DType target);                        \
  FoldFastFrom fold_fast_from_function(unsigned groups, DType pred, DType target);                 \
  FoldMaskedFrom fold_masked_from_function(unsigned groups, DType pred, DType target);             \
  AllFinite all_finite_function(DType dtype);                                                      \
  }
GPUEVAL_DECLARE_FOLD_ISA(isa_baseline)
GPUEVAL_DECLARE_FOLD_ISA(isa_avx2)
GPUEVAL_DECLARE_FOLD_ISA(isa_avx512)
#undef GPUEVAL_DECLARE_FOLD_ISA

// The kernels for this CPU's instruction set (regression_dispatch.cpp).
FoldGeneral fold_general_function(unsigned groups);
FoldFast fold_fast_function(unsigned groups);
SketchBuckets sketch_buckets_function();
// For the dtype pairs fold_fast_from_function takes; nullptr otherwise.
SketchBucketsFrom sketch_buckets_from_function(DType pred, DType target);
// For f32, f64, bf16 or f16 predictions with targets of their dtype or f32; nullptr otherwise
// (the caller stages).
FoldFastFrom fold_fast_from_function(unsigned groups, DType pred, DType target);
FoldMaskedFrom fold_masked_from_function(unsigned groups, DType pred, DType target);
// For f64, f32, bf16 and f16; nullptr otherwise.
AllFinite all_finite_function(DType dtype);
// "avx512f", "avx2" or "x86-64": which variant fold_*_function return.
const char* fold_isa_name();

} // namespace gpueval::cpu
