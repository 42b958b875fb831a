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
} // namespace

FoldGeneral fold_general_function(unsigned groups) {
  switch (kIsa) {
  case Isa::avx512:
    return isa_avx512::fold_general_function(groups);
  case Isa::avx2:
    return isa_avx2::fold_general_function(groups);
  case Isa::baseline:
    break;
  }
  return isa_baseline::fold_general_function(groups);
}

FoldFast fold_fast_function(unsigned groups) {
  switch (kIsa) {
  case Isa::avx512:
    return isa_avx512::fold_fast_function(groups);
  case Isa::avx2:
    return isa_avx2::fold_fast_function(groups);
  case Isa::baseline:
    break;
  }
  return isa_baseline::fold_fast_function(groups);
}

SketchBuckets sketch_buckets_function() {
  switch (kIsa) {
  case Isa::avx512:
    return isa_avx512::sketch_buckets_function();
  case Isa::avx2:
    return isa_avx2::sketch_buckets_function();
  case Isa::baseline:
    break;
  }
  return isa_baseline::sketch_buckets_function();
}

ClassBlockFn class_block_function() {
  switch (kIsa) {
  case Isa::avx512:
    return isa_avx512::class_block_function();
  case Isa::avx2:
    return isa_avx2::class_block_function();
  case Isa::baseline:
    break;
  }
  return isa_baseline::class_block_function();
}

const char* fold_isa_name() {
  return kIsa == Isa::avx512 ? "avx512f" : kIsa == Isa::avx2 ? "avx2" : "x86-64";
}

} // namespace gpueval::cpu
