// The CUDA backend's work split: which (block, thread) folds which elements into which key.
// Plain GPUEVAL_HD arithmetic with no CUDA headers, so that CPU tests can emulate every grid and
// check that each element is folded exactly once, into its own key.
//
// Two regimes (docs/design.md, "Keys, regimes and aggregation"):
// - rows (K <= kMaxRowKeys): block b folds the rows [row_begin(b), row_end(b)), about
//   kPairsPerBlock pairs; inside it, thread t < lanes (a multiple of K) folds the elements
//   row_begin * K + t + m * lanes, m = 0, 1, ..., all of key t % K. The block merges its threads'
//   records per key in a fixed tree into one partial per key, and a merge kernel folds the
//   partials of all blocks, per key, into the epoch.
// - keys (K > kMaxRowKeys): the grid is key blocks x row chunks. Thread t of key block x owns key
//   x * kThreads + t and folds rows [row_begin(c), row_end(c)) of it, where c is the chunk
//   (coalesced: neighbouring threads read neighbouring keys). With one chunk, a thread owns its
//   key for the whole batch and folds straight into the epoch record; with several, each chunk
//   writes a partial per key and a merge kernel folds the chunks' partials, per key, in chunk
//   order.
// The split depends only on the batch's rows and K, never on the device: the same batch gives
// the same bits on any GPU model.
#pragma once

#include <cstdint>

#include "gpueval/macros.hpp"

namespace gpueval::cuda {

inline constexpr int kThreads = 256;            // threads per block, both regimes
inline constexpr std::int64_t kMaxRowKeys = 64; // rows regime up to this K
// Rows regime: a block folds about this many pairs (8 per thread), so that a [16, 500, 20] batch
// spreads over 79 blocks; at most kMaxBlocks blocks (partials per key), enough for ten waves of
// three blocks per SM on 132 SMs, so that the last wave's idle SMs cost little.
inline constexpr std::int64_t kPairsPerBlock = 2048;
inline constexpr int kMaxBlocks = 4096;
// Keys regime: enough chunks to give about kTargetThreads threads work, each chunk at least
// kMinRowsPerChunk rows (a chunk's partial record costs as much memory traffic as ~14 pairs of
// float32), at most kMaxChunks chunks and kMaxPartialRecords partial records.
inline constexpr std::int64_t kTargetThreads = std::int64_t{1} << 17;
inline constexpr std::int64_t kMinRowsPerChunk = 64;
inline constexpr std::int64_t kMaxChunks = 256;
inline constexpr std::int64_t kMaxPartialRecords = std::int64_t{1} << 18;

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
  // Iterations of `unroll` elements per thread that cover the largest block: the same count for
  // every thread of every block, so that a warp stays converged.
  GPUEVAL_HD std::int64_t iterations(int unroll) const {
    const std::int64_t per_iteration = static_cast<std::int64_t>(unroll) * lanes;
    return (rows_per_block * keys + per_iteration - 1) / per_iteration;
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
  int key_blocks = 1; // grid x
  int chunks = 1;     // grid y
  std::int64_t rows_per_chunk = 0;

  // The key of thread t in key block x, or -1 past the last key.
  GPUEVAL_HD std::int64_t key(int x, int t) const {
    const std::int64_t k = static_cast<std::int64_t>(x) * kThreads + t;
    return k < keys ? k : -1;
  }
  GPUEVAL_HD std::int64_t row_begin(int c) const {
    const std::int64_t r = static_cast<std::int64_t>(c) * rows_per_chunk;
    return r < rows ? r : rows;
  }
  GPUEVAL_HD std::int64_t row_end(int c) const {
    const std::int64_t r = row_begin(c) + rows_per_chunk;
    return r < rows ? r : rows;
  }
  GPUEVAL_HD static std::int64_t element(std::int64_t row, std::int64_t key, std::int64_t keys) {
    return row * keys + key;
  }
};

// Most chunks a batch of `keys` keys may be split into (so that the partials fit the buffer
// allocated when the evaluator is configured).
GPUEVAL_HD inline std::int64_t max_chunks(std::int64_t keys) {
  std::int64_t c = kMaxPartialRecords / (keys < 1 ? 1 : keys);
  c = c < 1 ? 1 : c;
  return c > kMaxChunks ? kMaxChunks : c;
}

GPUEVAL_HD inline KeySplit key_split(std::int64_t rows, std::int64_t keys) {
  KeySplit s;
  s.rows = rows;
  s.keys = keys;
  s.key_blocks = static_cast<int>(keys < 1 ? 1 : (keys + kThreads - 1) / kThreads);
  std::int64_t chunks = (kTargetThreads + keys - 1) / (keys < 1 ? 1 : keys);
  const std::int64_t by_rows = rows / kMinRowsPerChunk;
  chunks = chunks < by_rows ? chunks : by_rows;
  const std::int64_t cap = max_chunks(keys);
  chunks = chunks < cap ? chunks : cap;
  chunks = chunks < 1 ? 1 : chunks;
  s.rows_per_chunk = (rows + chunks - 1) / chunks;
  if (s.rows_per_chunk < 1) {
    s.rows_per_chunk = 1;
  }
  // Chunks that would start past the last row are not launched.
  s.chunks = static_cast<int>(rows == 0 ? 1 : (rows + s.rows_per_chunk - 1) / s.rows_per_chunk);
  return s;
}

// Partial records the backend allocates for K keys: the most either regime can write. Past
// kTargetThreads keys the keys regime always has one chunk, which writes no partials.
GPUEVAL_HD inline std::int64_t partial_records(std::int64_t keys) {
  if (keys <= kMaxRowKeys) {
    return static_cast<std::int64_t>(kMaxBlocks) * keys;
  }
  return keys >= kTargetThreads ? 0 : max_chunks(keys) * keys;
}

// n / d for a divisor d >= 1 fixed for a whole kernel, with a multiply-high instead of a 64-bit
// division (about 70 instructions on a GPU): Granlund and Montgomery's round-up method with the
// add indicator ("Division by invariant integers using multiplication", 1994, figure 4.1),
// exact for every n < 2^64.
__extension__ typedef unsigned __int128 Uint128;

struct FastDivisor {
  std::uint64_t magic = 0; // 0: d is a power of two, n >> shift
  int shift = 0;

  static FastDivisor make(std::uint64_t d) {
    FastDivisor f;
    int l = 0;
    while (l < 64 && (std::uint64_t{1} << l) < d) {
      ++l; // l = ceil(log2 d)
    }
    if ((d & (d - 1)) == 0) {
      f.shift = l;
      return f;
    }
    const Uint128 two_l = static_cast<Uint128>(1) << l;
    f.magic = static_cast<std::uint64_t>(((two_l - d) << 64) / d + 1);
    f.shift = l;
    return f;
  }
  GPUEVAL_HD std::uint64_t divide(std::uint64_t n) const {
    if (magic == 0) {
      return n >> shift;
    }
#ifdef __CUDA_ARCH__
    const std::uint64_t t = __umul64hi(n, magic);
#else
    const auto t = static_cast<std::uint64_t>((static_cast<Uint128>(n) * magic) >> 64);
#endif
    return (t + ((n - t) >> 1)) >> (shift - 1);
  }
};

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
