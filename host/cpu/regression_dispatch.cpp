// Picks the fold kernels for this CPU: AVX-512F, AVX2 or baseline x86-64 (regression_kernels.cpp is
// compiled once per instruction set). Every variant performs the same IEEE operations in the
// same order per lane (no FMA contraction), so the choice changes speed, never results.
#include "cpu/classification_kernels.hpp"
#include "cpu/regression_lanes.hpp"

namespace gpueval::cpu {

namespace {
enum class Isa { baseline, avx2, avx512 };
Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    return Isa::avx512;
  }
  if (__builtin_cpu_supports("avx2")) {
    return Isa::avx2;
  }
  return Isa::baseline;
}
const Isa kIsa = detect();
// The variant of a kernel getter for this CPU.
template <class F> F pick(F avx512, F avx2, F baseline) {
  return kIsa == Isa::avx512 ? avx512 : kIsa == Isa::avx2 ? avx2 : baseline;
}

} // namespace

FoldGeneral fold_general_function(unsigned groups) {
  return pick(isa_avx512::fold_general_function, isa_avx2::fold_general_function,
              isa_baseline::fold_general_function)(groups);
}

FoldFast fold_fast_function(unsigned groups) {
  return pick(isa_avx512::fold_fast_function, isa_avx2::fold_fast_function,
              isa_baseline::fold_fast_function)(groups);
}

SketchBuckets sketch_buckets_function() {
  return pick(isa_avx512::sketch_buckets_function, isa_avx2::sketch_buckets_function,
              isa_baseline::sketch_buckets_function)();
}

SketchBucketsFrom sketch_buckets_from_function(DType pred, DType target) {
  return pick(isa_avx512::sketch_buckets_from_function, isa_avx2::sketch_buckets_from_function,
              isa_baseline::sketch_buckets_from_function)(pred, target);
}

FoldMaskedFrom fold_masked_from_function(unsigned groups, DType pred, DType target) {
  return pick(isa_avx512::fold_masked_from_function, isa_avx2::fold_masked_from_function,
              isa_baseline::fold_masked_from_function)(groups, pred, target);
}

FoldFastFrom fold_fast_from_function(unsigned groups, DType pred, DType target) {
  return pick(isa_avx512::fold_fast_from_function, isa_avx2::fold_fast_from_function,
              isa_baseline::fold_fast_from_function)(groups, pred, target);
}

AllFinite all_finite_function(DType dtype) {
  return pick(isa_avx512::all_finite_function, isa_avx2::all_finite_function,
              isa_baseline::all_finite_function)(dtype);
}

ClassBlockFn class_block_function() {
  return pick(isa_avx512::class_block_function, isa_avx2::class_block_function,
              isa_baseline::class_block_function)();
}

const char* fold_isa_name() {
  return kIsa == Isa::avx512 ? "avx512f" : kIsa == Isa::avx2 ? "avx2" : "x86-64";
}

} // namespace gpueval::cpu
