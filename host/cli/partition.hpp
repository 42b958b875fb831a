// gpu-eval --shard-index I --shard-count N: which input files part I of N evaluates.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace gpueval::cli {

// Splits files of the given sizes into `count` parts balanced by bytes and returns part
// `index`'s files in their original order. Deterministic (it depends only on the sizes and their
// order, so every process of a fanned-out run computes the same split) and exhaustive: every
// file is in exactly one part. Largest files first, each to the part with the fewest bytes so
// far (the lowest index on a tie): no part exceeds the ideal share by more than one file.
inline std::vector<std::size_t> shard_part(const std::vector<std::uint64_t>& bytes, int index,
                                           int count) {
  std::vector<std::size_t> order(bytes.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return bytes[a] > bytes[b]; });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(count), 0);
  std::vector<std::size_t> mine;
  for (std::size_t f : order) {
    const auto part =
        static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[part] += bytes[f];
    if (part == static_cast<std::size_t>(index)) {
      mine.push_back(f);
    }
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

} // namespace gpueval::cli
