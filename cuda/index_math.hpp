// The CUDA backend's work split: which (block, thread) folds which elements into which key.
// Plain GPUEVAL_HD arithmetic with no CUDA headers, so that CPU tests can emulate every grid and
// check that each element is folded exactly once, into its own key.
//
// Two regimes (DESIGN.md, "Keys, regimes and aggregation"):
// - rows (K <= kMaxRowKeys): block b folds the rows [row_begin(b), row_end(b)); inside it,
//   thread t < lanes (a multiple of K) folds elements row_begin * K + t + m * lanes, m = 0, 1, ...,
//   all of key t % K; the block then merges its threads' records per key into a partial, and a
//   merge kernel folds the partials of all blocks per key, in block order, into the epoch.
// - keys (K > kMaxRowKeys): thread g of the grid owns keys g, g + grid_threads, ...; for each it
//   folds rows 0, 1, ... of that key (coalesced: neighbouring threads read neighbouring keys) and
//   merges the runs into the epoch record it owns. No partials, no merge kernel.
// The split depends only on the input's size and K, never on the device: the same batch gives the
// same bits on any GPU model.
#pragma once

#include <cstdint>

#include "gpueval/macros.hpp"

namespace gpueval::cuda {

inline constexpr int kThreads = 256;            // threads per block, both regimes
inline constexpr std::int64_t kMaxRowKeys = 64; // rows regime up to this K
inline constexpr int kMaxBlocks = 1024;         // rows regime: partials per key
inline constexpr std::int64_t kPairsPerBlock = 64 * 1024;

struct RowSplit {
  std::int64_t rows = 0;
  std::int64_t keys = 1;
  int blocks = 1; // grid size
  std::int64_t rows_per_block = 0;
  int lanes = 1; // active threads per block: the largest multiple of K <= kThreads

  GPUEVAL_HD std::int64_t row_begin(int b) const {
    const std::int64_t r = static_cast<std::int64_t>(b) * rows_per_block;
    return r < rows ? r : rows;
  }
  GPUEVAL_HD std::int64_t row_end(int b) const {
    const std::int64_t r = row_begin(b) + rows_per_block;
    return r < rows ? r : rows;
  }
  // The key every element of thread t belongs to (t < lanes).
  GPUEVAL_HD std::int64_t key_of_thread(int t) const { return t % keys; }
  // Element index (C order, in the batch) of thread t's m-th element in block b, or -1 past the
  // block's rows.
  GPUEVAL_HD std::int64_t element(int b, int t, std::int64_t m) const {
    const std::int64_t e = row_begin(b) * keys + t + m * lanes;
    return e < row_end(b) * keys ? e : -1;
  }
};

// The split for `rows` rows of `keys` keys (keys <= kMaxRowKeys): about kPairsPerBlock pairs a
// block, at most kMaxBlocks blocks.
GPUEVAL_HD inline RowSplit row_split(std::int64_t rows, std::int64_t keys) {
  RowSplit s;
  s.rows = rows;
  s.keys = keys;
  const std::int64_t pairs = rows * keys;
  std::int64_t blocks = (pairs + kPairsPerBlock - 1) / kPairsPerBlock;
  blocks = blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks);
  s.rows_per_block = (rows + blocks - 1) / blocks;
  if (s.rows_per_block < 1) {
    s.rows_per_block = 1;
  }
  // Blocks that would start past the last row are not launched.
  s.blocks = static_cast<int>(rows == 0 ? 1 : (rows + s.rows_per_block - 1) / s.rows_per_block);
  s.lanes = static_cast<int>((kThreads / keys) * keys);
  return s;
}

struct KeySplit {
  std::int64_t rows = 0;
  std::int64_t keys = 0;
  int blocks = 1;

  GPUEVAL_HD std::int64_t grid_threads() const {
    return static_cast<std::int64_t>(blocks) * kThreads;
  }
  // The m-th key of global thread g, or -1 past the last key.
  GPUEVAL_HD std::int64_t key(std::int64_t g, std::int64_t m) const {
    const std::int64_t k = g + m * grid_threads();
    return k < keys ? k : -1;
  }
  GPUEVAL_HD static std::int64_t element(std::int64_t row, std::int64_t key, std::int64_t keys) {
    return row * keys + key;
  }
};

GPUEVAL_HD inline KeySplit key_split(std::int64_t rows, std::int64_t keys) {
  KeySplit s;
  s.rows = rows;
  s.keys = keys;
  std::int64_t blocks = (keys + kThreads - 1) / kThreads;
  s.blocks = static_cast<int>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
  return s;
}

// A non-finite pair's position as one integer, so that an atomic min finds the first in
// (batch, element) order: the batch in the top 24 bits, the element in the low 40.
GPUEVAL_HD inline std::uint64_t encode_position(std::uint64_t batch, std::uint64_t element) {
  return (batch << 40) | (element & ((std::uint64_t{1} << 40) - 1));
}
GPUEVAL_HD inline std::uint64_t position_batch(std::uint64_t p) {
  return p >> 40;
}
GPUEVAL_HD inline std::uint64_t position_element(std::uint64_t p) {
  return p & ((std::uint64_t{1} << 40) - 1);
}

} // namespace gpueval::cuda
