// Host emulation of the CUDA backend's work split (cuda/index_math.hpp): every element of a batch
// is folded exactly once, by a thread whose key is the element's key, for odd shapes in both
// regimes. Runs without a GPU.
#include <gtest/gtest.h>

#include <vector>

#include "cuda/index_math.hpp"

namespace gpueval::cuda {
namespace {

void check_rows(std::int64_t rows, std::int64_t keys) {
  const RowSplit s = row_split(rows, keys);
  ASSERT_GE(s.blocks, 1);
  ASSERT_LE(s.blocks, kMaxBlocks);
  ASSERT_EQ(s.lanes % keys, 0);
  ASSERT_LE(s.lanes, kThreads);
  std::vector<int> seen(static_cast<std::size_t>(rows * keys), 0);
  for (int b = 0; b < s.blocks; ++b) {
    for (int t = 0; t < kThreads; ++t) {
      if (t >= s.lanes) {
        continue; // idle threads fold nothing
      }
      for (std::int64_t m = 0;; ++m) {
        const std::int64_t e = s.element(b, t, m);
        if (e < 0) {
          break;
        }
        ASSERT_LT(e, rows * keys);
        ASSERT_EQ(e % keys, s.key_of_thread(t)) << "rows " << rows << " keys " << keys;
        ++seen[static_cast<std::size_t>(e)];
      }
    }
  }
  for (std::size_t e = 0; e < seen.size(); ++e) {
    ASSERT_EQ(seen[e], 1) << "element " << e << " rows " << rows << " keys " << keys;
  }
}

void check_keys(std::int64_t rows, std::int64_t keys) {
  const KeySplit s = key_split(rows, keys);
  ASSERT_GE(s.blocks, 1);
  ASSERT_LE(s.blocks, kMaxBlocks);
  std::vector<int> seen(static_cast<std::size_t>(keys), 0);
  for (std::int64_t g = 0; g < s.grid_threads(); ++g) {
    for (std::int64_t m = 0;; ++m) {
      const std::int64_t k = s.key(g, m);
      if (k < 0) {
        break;
      }
      ++seen[static_cast<std::size_t>(k)];
    }
  }
  for (std::size_t k = 0; k < seen.size(); ++k) {
    ASSERT_EQ(seen[k], 1) << "key " << k;
  }
  EXPECT_EQ(KeySplit::element(3, 5, keys), 3 * keys + 5);
}

TEST(CudaIndexMath, RowsRegimeCoversEveryElementOnce) {
  for (std::int64_t keys : {1, 2, 3, 17, 20, 32, 33, 63, 64}) {
    for (std::int64_t rows : {0, 1, 2, 7, 255, 256, 257, 1000, 8000, 70001}) {
      check_rows(rows, keys);
      if (HasFatalFailure()) {
        return;
      }
    }
  }
  // Large batches keep to kMaxBlocks blocks and still cover everything.
  check_rows(3'000'000, 1);
  check_rows(200'000, 20);
}

TEST(CudaIndexMath, KeysRegimeOwnsEveryKeyOnce) {
  for (std::int64_t keys : {65, 100, 1000, 10000, 300001}) {
    for (std::int64_t rows : {0, 1, 16}) {
      check_keys(rows, keys);
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
