// The classification family's CPU kernels: a block of staged samples (every value converted to
// double by the backend, classes as rows of `stride` samples so that vector lanes are samples)
// folded into a record. classification_kernels.cpp is compiled once per instruction set, like the
// regression fold kernels; every build performs the same IEEE operations per lane as the scalar
// ops of ops/classification.hpp, so the record does not depend on the instruction set.
#pragma once

#include <cstdint>

#include "gpueval/ops/classification.hpp"

namespace gpueval::cpu {

inline constexpr int kClassLanes = 8;
// The histograms' words in groups of 2^kHistGroupShift, each with a `touched` byte, and those
// bytes in turn summarised a byte per 2^kHistSuperShift words: reading back or clearing a few
// thousand touched bins scans a few KiB of summary and their groups, not the whole table.
inline constexpr int kHistGroupShift = 4;
inline constexpr int kHistSuperShift = 12;

struct ClassBlock {
  int n = 0;           // samples; lanes past n are padding (include 0)
  int stride = 0;      // distance between one class's row and the next in the staged arrays
  bool labels = false; // predictions are labels, not scores
  // binary: score[i]; multiclass scores and multilabel: score[c * stride + i]; multiclass labels:
  // score[i], the predicted class. Scratch: a kernel may overwrite it.
  double* score = nullptr;
  // binary, multiclass: target[i]; multilabel: target[c * stride + i].
  const double* target = nullptr;
  // 1 where the mask includes the sample (multilabel: the label), 0 elsewhere and in padding; a
  // weighted record (layout.weighted): the sample's weight where the mask includes it.
  const double* include = nullptr;
  // The AUROC / average precision histograms (params.hist), shared by every worker and counted
  // with atomic integer increments; nullptr when not requested. A weighted record's histograms
  // hold a weight sum per bin, two words (lo, hi) at 2 * index.
  std::uint64_t* hist = nullptr;
  // One byte per group of 2^kHistGroupShift histogram words: set (to 1) when a word of the group
  // is added to, so that reading the histograms back scans only those groups.
  std::uint8_t* touched = nullptr;
  std::uint8_t* touched_super = nullptr; // a byte per 2^kHistSuperShift words, alike
  // Inexact histograms (params.hist.keyed()): per bin the key its samples share
  // (ops::merge_key), updated with atomic compare-and-swap; nullptr otherwise.
  std::uint32_t* keys = nullptr;
  // Whether other workers fold into the same histograms now (the batch has several tasks):
  // atomic read-modify-writes then, plain ones when this worker is alone.
  bool shared = true;
  // The block's first sample's index within its batch (by_axis records: layout.position_of).
  std::int64_t first = 0;
};

// Folds a block into `w`; *first_invalid becomes the smallest invalid sample index of the block
// (unchanged when there is none).
using ClassBlockFn = void (*)(const ClassBlock& block, const ops::ClassLayout& layout,
                              const ops::ClassParams& params, std::uint64_t* w, int* first_invalid);

#define GPUEVAL_DECLARE_CLASS_ISA(ns)                                                              \
  namespace ns {                                                                                   \
  ClassBlockFn class_block_function();                                                             \
  }
GPUEVAL_DECLARE_CLASS_ISA(isa_baseline)
GPUEVAL_DECLARE_CLASS_ISA(isa_avx2)
GPUEVAL_DECLARE_CLASS_ISA(isa_avx512)
#undef GPUEVAL_DECLARE_CLASS_ISA

// The kernel for this CPU's instruction set (regression_dispatch.cpp).
ClassBlockFn class_block_function();

} // namespace gpueval::cpu
