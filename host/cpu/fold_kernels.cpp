// The hot loop of the CPU backend, compiled for several instruction sets (target_clones) and
// picked at load time by the CPU's features. No global -march: binaries travel.
#include <cstdint>

#include "cpu/lanes.hpp"

namespace gpueval::cpu {

namespace {

template <unsigned G, bool kMayExclude>
GPUEVAL_FORCEINLINE void fold_impl(LaneBlock* blocks, int lane0, int count,
                                   const double* __restrict p, const double* __restrict t,
                                   const std::uint8_t* __restrict include,
                                   const std::uint8_t* __restrict skipped) {
  using Ops = ops::RegressionOps<G>;
  LaneBlock* b = blocks + lane0 / kBlockLanes;
  int i = 0;
  for (; i + kBlockLanes <= count; i += kBlockLanes, ++b) {
    LaneBlock& __restrict blk = *b;
    for (int j = 0; j < kBlockLanes; ++j) {
      LaneRef r = lane_ref(blk, j);
      Ops::template run_fold<kMayExclude>(r, p[i + j], t[i + j],
                                          kMayExclude ? include[i + j] != 0 : true);
      if constexpr (kMayExclude) {
        r.skipped += static_cast<double>(skipped[i + j]);
      }
    }
  }
  for (int j = 0; i < count; ++i, ++j) { // a partial block: the same math, lane by lane
    LaneRef r = lane_ref(*b, j);
    Ops::template run_fold<kMayExclude>(r, p[i], t[i], kMayExclude ? include[i] != 0 : true);
    if constexpr (kMayExclude) {
      r.skipped += static_cast<double>(skipped[i]);
    }
  }
}

#define GPUEVAL_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))

#define GPUEVAL_FOLD(G, X)                                                                         \
  GPUEVAL_CLONES void fold_##G##_##X(LaneBlock* blocks, int lane0, int count, const double* p,     \
                                     const double* t, const std::uint8_t* include,                 \
                                     const std::uint8_t* skipped) {                                \
    fold_impl<G, X>(blocks, lane0, count, p, t, include, skipped);                                 \
  }

GPUEVAL_FOLD(0, false)
GPUEVAL_FOLD(1, false)
GPUEVAL_FOLD(2, false)
GPUEVAL_FOLD(3, false)
GPUEVAL_FOLD(4, false)
GPUEVAL_FOLD(5, false)
GPUEVAL_FOLD(6, false)
GPUEVAL_FOLD(7, false)
GPUEVAL_FOLD(0, true)
GPUEVAL_FOLD(1, true)
GPUEVAL_FOLD(2, true)
GPUEVAL_FOLD(3, true)
GPUEVAL_FOLD(4, true)
GPUEVAL_FOLD(5, true)
GPUEVAL_FOLD(6, true)
GPUEVAL_FOLD(7, true)

#undef GPUEVAL_FOLD
#undef GPUEVAL_CLONES

} // namespace

FoldFn fold_function(unsigned groups, bool may_exclude) {
  static constexpr FoldFn table[2][8] = {{fold_0_false, fold_1_false, fold_2_false, fold_3_false,
                                          fold_4_false, fold_5_false, fold_6_false, fold_7_false},
                                         {fold_0_true, fold_1_true, fold_2_true, fold_3_true,
                                          fold_4_true, fold_5_true, fold_6_true, fold_7_true}};
  return table[may_exclude ? 1 : 0][groups & kAllGroups];
}

} // namespace gpueval::cpu
