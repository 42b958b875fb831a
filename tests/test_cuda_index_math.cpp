// Host emulation of the CUDA backend's work split (cuda/index_math.hpp): every element of a batch
// is folded exactly once, by a thread whose key is the element's key, for odd shapes in both
// regimes. Runs without a GPU.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/index_math.hpp"

namespace gpueval::cuda {
namespace {

// The rows kernel's loop as regression.cu runs it: `iterations(unroll)` trips of `unroll`
// elements, first + (it * unroll + u) * lanes; the first `full` trips need no bounds check.
void check_rows(std::int64_t rows, std::int64_t keys, int unroll = 8) {
  const RowSplit s = row_split(rows, keys);
  ASSERT_GE(s.blocks, 1);
  ASSERT_LE(s.blocks, kMaxBlocks);
  ASSERT_EQ(s.lanes % keys, 0);
  ASSERT_LE(s.lanes, kThreads);
  ASSERT_LE(static_cast<std::int64_t>(s.blocks) * keys, partial_records(keys));
  std::vector<int> seen(static_cast<std::size_t>(rows * keys), 0);
  for (int b = 0; b < s.blocks; ++b) {
    const std::int64_t block_first = s.row_begin(b) * keys, end = s.row_end(b) * keys;
    const std::int64_t step = static_cast<std::int64_t>(unroll) * s.lanes;
    const std::int64_t full = (end - block_first) / step;
    for (int t = 0; t < kThreads; ++t) {
      const bool active = t < s.lanes; // idle threads walk lane 0's elements, fold nothing
      const std::int64_t first = block_first + (active ? t : 0);
      for (std::int64_t it = 0; it < s.iterations(unroll); ++it) {
        for (int u = 0; u < unroll; ++u) {
          const std::int64_t e = first + it * step + u * s.lanes;
          if (it < full) {
            ASSERT_LT(e, end) << "a full trip reads past its block";
          }
          if (!active || e >= end) {
            continue;
          }
          ASSERT_EQ(e, s.element(b, t, it * unroll + u));
          ASSERT_EQ(e % keys, s.key_of_thread(t)) << "rows " << rows << " keys " << keys;
          ++seen[static_cast<std::size_t>(e)];
        }
      }
      if (active) {
        ASSERT_EQ(s.element(b, t, s.iterations(unroll) * unroll), -1) << "elements left over";
      }
    }
  }
  for (std::size_t e = 0; e < seen.size(); ++e) {
    ASSERT_EQ(seen[e], 1) << "element " << e << " rows " << rows << " keys " << keys;
  }
}

// The keys kernel's grid: key blocks x row chunks, each thread one key of one chunk's rows.
void check_keys(std::int64_t rows, std::int64_t keys) {
  const KeySplit s = key_split(rows, keys);
  ASSERT_GE(s.chunks, 1);
  ASSERT_LE(s.chunks, max_chunks(keys));
  if (s.chunks > 1) {
    ASSERT_LE(static_cast<std::int64_t>(s.chunks) * keys, partial_records(keys));
    ASSERT_GE(s.rows_per_chunk, kMinRowsPerChunk);
  }
  std::vector<int> seen(static_cast<std::size_t>(rows * keys), 0);
  for (int c = 0; c < s.chunks; ++c) {
    for (int x = 0; x < s.key_blocks; ++x) {
      for (int t = 0; t < kThreads; ++t) {
        const std::int64_t k = s.key(x, t);
        if (k < 0) {
          continue;
        }
        for (std::int64_t r = s.row_begin(c); r < s.row_end(c); ++r) {
          ++seen[static_cast<std::size_t>(KeySplit::element(r, k, keys))];
        }
      }
    }
  }
  for (std::size_t e = 0; e < seen.size(); ++e) {
    ASSERT_EQ(seen[e], 1) << "element " << e << " rows " << rows << " keys " << keys;
  }
  EXPECT_EQ(KeySplit::element(3, 5, keys), 3 * keys + 5);
}

TEST(CudaIndexMath, RowsRegimeCoversEveryElementOnce) {
  for (std::int64_t keys : {1, 2, 3, 17, 20, 32, 33, 63, 64}) {
    for (std::int64_t rows : {0, 1, 2, 7, 255, 256, 257, 1000, 8000, 70001}) {
      for (int unroll : {4, 8, 16}) {
        check_rows(rows, keys, unroll);
      }
      if (HasFatalFailure()) {
        return;
      }
    }
  }
  // Large batches keep to kMaxBlocks blocks and still cover everything.
  check_rows(3'000'000, 1);
  check_rows(200'000, 20);
}

TEST(CudaIndexMath, KeysRegimeCoversEveryElementOnce) {
  for (std::int64_t keys : {65, 100, 1000, 10000, 300001}) {
    for (std::int64_t rows : {0, 1, 16, 64, 129}) {
      check_keys(rows, keys);
    }
  }
  // Row chunks: several keys blocks and chunks.
  check_keys(20000, 65);
  check_keys(5000, 1000);
  check_keys(70000, 300);
}

TEST(CudaIndexMath, ASmallBatchSpreadsOverManyBlocks) {
  // [16, 500, 20]: 160,000 pairs over 79 blocks (a split of 65,536 pairs a block gave it 3).
  EXPECT_EQ(row_split(16 * 500, 20).blocks, 79);
  // Large batches: kMaxBlocks blocks; K = 10,000 keys of 16 rows: one chunk (straight into the
  // epoch); K = 100 of a million rows: many chunks.
  EXPECT_EQ(row_split(std::int64_t{1} << 26, 1).blocks, kMaxBlocks);
  EXPECT_EQ(key_split(16, 10000).chunks, 1);
  EXPECT_GT(key_split(1'000'000, 100).chunks, 100);
}

TEST(CudaIndexMath, FastDivisorDividesEveryNumerator) {
  std::mt19937_64 rng(5);
  for (std::uint64_t d :
       {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}, std::uint64_t{7}, std::uint64_t{20},
        std::uint64_t{64}, std::uint64_t{500}, std::uint64_t{10000}, std::uint64_t{1} << 40,
        (std::uint64_t{1} << 40) + 1, ~std::uint64_t{0}}) {
    const FastDivisor f = FastDivisor::make(d);
    for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, d - 1, d, d + 1, 2 * d - 1,
                            ~std::uint64_t{0}, ~std::uint64_t{0} - 1}) {
      ASSERT_EQ(f.divide(n), n / d) << n << " / " << d;
    }
    for (int i = 0; i < 10000; ++i) {
      const std::uint64_t n = rng() >> (rng() % 64);
      ASSERT_EQ(f.divide(n), n / d) << n << " / " << d;
    }
  }
}

TEST(CudaIndexMath, SplitDependsOnlyOnTheInputSize) {
  const RowSplit a = row_split(8000, 20), b = row_split(8000, 20);
  EXPECT_EQ(a.blocks, b.blocks);
  EXPECT_EQ(a.rows_per_block, b.rows_per_block);
  EXPECT_EQ(row_split(1, 20).blocks, 1);
  EXPECT_EQ(row_split(0, 20).blocks, 1);
}

TEST(CudaIndexMath, PositionsOrderByBatchThenElement) {
  EXPECT_LT(encode_position(1, 999999), encode_position(2, 0));
  EXPECT_LT(encode_position(2, 5), encode_position(2, 6));
  const std::uint64_t p = encode_position(12345, 987654321);
  EXPECT_EQ(position_batch(p), 12345u);
  EXPECT_EQ(position_element(p), 987654321u);
}

} // namespace
} // namespace gpueval::cuda
