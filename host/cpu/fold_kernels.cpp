// The hot loop of the CPU backend, compiled for several instruction sets (target_clones) and
// picked at load time by the CPU's features. No global -march: binaries travel.
#include <cstdint>
#include <cstring>

#include "cpu/isa.hpp"
#include "cpu/lanes.hpp"

namespace gpueval::cpu {
// Eight lanes as one GCC vector: 1 zmm with AVX-512, 2 ymm with AVX2, 4 xmm otherwise.
typedef double v8d __attribute__((vector_size(64)));
typedef long long v8i __attribute__((vector_size(64)));
} // namespace gpueval::cpu

namespace gpueval::ops {
template <> struct Math<cpu::v8d> {
  static cpu::v8d abs(cpu::v8d x) { // clears the sign bit, as fabs does
    return reinterpret_cast<cpu::v8d>(reinterpret_cast<cpu::v8i>(x) & 0x7fffffffffffffffLL);
  }
  static cpu::v8d max(cpu::v8d a, cpu::v8d b) { return a > b ? a : b; }
  static cpu::v8d min(cpu::v8d a, cpu::v8d b) { return a < b ? a : b; }
  static cpu::v8d splat(double x) { return cpu::v8d{} + x; }
};
} // namespace gpueval::ops

namespace gpueval::cpu {

namespace {

static_assert(kBlockLanes == 8, "v8d holds one block");

// A block's runs as vectors: the compiler keeps these in registers across a whole tile, which it
// will not do for the block's arrays in memory.
struct VecRun {
  v8d k, skipped, p0, t0, e0, s1p, s1t, s1e, s2p, s2t, s2e, spt, sum_abs_e, max_abs_e;
  v8d min_t, max_t, sum_ape, sum_sape, sum_sle, n_sle_out_of_domain;
};

// clang-format off
#define GPUEVAL_VEC_FIELDS(X)                                                                    \
  X(k) X(skipped) X(p0) X(t0) X(e0) X(s1p) X(s1t) X(s1e) X(s2p) X(s2t) X(s2e) X(spt)           \
  X(sum_abs_e) X(max_abs_e) X(min_t) X(max_t) X(sum_ape) X(sum_sape) X(sum_sle)                 \
  X(n_sle_out_of_domain)
// clang-format on

GPUEVAL_FORCEINLINE VecRun load_block(const LaneBlock& b) {
  VecRun v;
#define GPUEVAL_LOAD(f) std::memcpy(&v.f, b.f, sizeof v.f);
  GPUEVAL_VEC_FIELDS(GPUEVAL_LOAD)
#undef GPUEVAL_LOAD
  return v;
}

GPUEVAL_FORCEINLINE void store_block(const VecRun& v, LaneBlock& b) {
#define GPUEVAL_STORE(f) std::memcpy(b.f, &v.f, sizeof v.f);
  GPUEVAL_VEC_FIELDS(GPUEVAL_STORE)
#undef GPUEVAL_STORE
}

// One block of lanes over `groups` groups: pair g*stride + j goes to lane j. kFast: every pair is
// included and finite, and the runs have their shifts except, when `fresh`, in the first group.
template <unsigned G, bool kFast, int kWidth>
GPUEVAL_FORCEINLINE void fold_block(LaneBlock& block, int width, int groups, int stride, bool fresh,
                                    const double* __restrict p, const double* __restrict t,
                                    const std::uint8_t* __restrict include,
                                    const std::uint8_t* __restrict skipped) {
  using Ops = ops::RegressionOps<G>;
  const int w = kWidth > 0 ? kWidth : width;
  int g = 0;
  if (kFast && fresh) {
    for (int j = 0; j < w; ++j) {
      LaneRef r = lane_ref(block, j);
      Ops::template run_fold<false>(r, p[j], t[j], true);
    }
    g = 1;
  }
  if constexpr (kFast && kWidth == kBlockLanes && (G & kGroupLog) == 0) {
    // Whole vectors: the same run_fold_started on eight lanes at once.
    VecRun v = load_block(block);
    for (; g < groups; ++g) {
      v8d pv, tv;
      std::memcpy(&pv, p + g * stride, sizeof pv);
      std::memcpy(&tv, t + g * stride, sizeof tv);
      Ops::run_fold_started(v, pv, tv);
    }
    store_block(v, block);
    return;
  }
  for (; g < groups; ++g) {
    const int base = g * stride;
    for (int j = 0; j < w; ++j) {
      LaneRef r = lane_ref(block, j);
      if constexpr (kFast) {
        Ops::run_fold_started(r, p[base + j], t[base + j]);
      } else {
        Ops::template run_fold<true>(r, p[base + j], t[base + j], include[base + j] != 0);
        r.skipped += static_cast<double>(skipped[base + j]);
      }
    }
  }
}

template <unsigned G, bool kFast>
GPUEVAL_FORCEINLINE void fold_impl(LaneBlock* blocks, int lane0, int count, int groups, int stride,
                                   bool fresh, const double* p, const double* t,
                                   const std::uint8_t* include, const std::uint8_t* skipped) {
  LaneBlock* b = blocks + lane0 / kBlockLanes;
  int i = 0;
  for (; i + kBlockLanes <= count; i += kBlockLanes, ++b) {
    fold_block<G, kFast, kBlockLanes>(*b, kBlockLanes, groups, stride, fresh, p + i, t + i,
                                      include + (kFast ? 0 : i), skipped + (kFast ? 0 : i));
  }
  if (i < count) { // a partial block: the same math, fewer lanes
    fold_block<G, kFast, 0>(*b, count - i, groups, stride, fresh, p + i, t + i,
                            include + (kFast ? 0 : i), skipped + (kFast ? 0 : i));
  }
}

#define GPUEVAL_FOLD(G)                                                                            \
  GPUEVAL_ISA_CLONES void fold_fast_##G(LaneBlock* blocks, int lane0, int count, int groups,       \
                                        int stride, bool fresh, const double* p,                   \
                                        const double* t) {                                         \
    fold_impl<G, true>(blocks, lane0, count, groups, stride, fresh, p, t, nullptr, nullptr);       \
  }                                                                                                \
  GPUEVAL_ISA_CLONES void fold_general_##G(                                                        \
      LaneBlock* blocks, int lane0, int count, int groups, int stride, const double* p,            \
      const double* t, const std::uint8_t* include, const std::uint8_t* skipped) {                 \
    fold_impl<G, false>(blocks, lane0, count, groups, stride, false, p, t, include, skipped);      \
  }

GPUEVAL_FOLD(0)
GPUEVAL_FOLD(1)
GPUEVAL_FOLD(2)
GPUEVAL_FOLD(3)
GPUEVAL_FOLD(4)
GPUEVAL_FOLD(5)
GPUEVAL_FOLD(6)
GPUEVAL_FOLD(7)

#undef GPUEVAL_FOLD

} // namespace

FoldFast fold_fast_function(unsigned groups) {
  static constexpr FoldFast table[8] = {fold_fast_0, fold_fast_1, fold_fast_2, fold_fast_3,
                                        fold_fast_4, fold_fast_5, fold_fast_6, fold_fast_7};
  return table[groups & kAllGroups];
}

FoldGeneral fold_general_function(unsigned groups) {
  static constexpr FoldGeneral table[8] = {fold_general_0, fold_general_1, fold_general_2,
                                           fold_general_3, fold_general_4, fold_general_5,
                                           fold_general_6, fold_general_7};
  return table[groups & kAllGroups];
}

} // namespace gpueval::cpu
