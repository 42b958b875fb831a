// The CPU roofline the throughput tools time in the same run as each update: a multithreaded
// read of the same bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

namespace gpueval::bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Reads every byte of the buffers once with `threads` threads (an OR over 64-bit words, which
// costs nothing next to the memory traffic; each thread takes the same share of every buffer).
// Returns seconds.
inline double time_read(const std::vector<std::pair<const void*, std::size_t>>& buffers,
                        int threads) {
  std::vector<std::uint64_t> sink(static_cast<std::size_t>(threads) * 8);
  const double t0 = now();
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      std::uint64_t acc[8] = {};
      for (const auto& [data, bytes] : buffers) {
        const std::size_t words = bytes / 8;
        const auto* w = static_cast<const std::uint64_t*>(data);
        const std::size_t a = words * static_cast<std::size_t>(k) / threads;
        const std::size_t b = words * static_cast<std::size_t>(k + 1) / threads;
        std::size_t i = a;
        for (; i + 8 <= b; i += 8) {
          for (int j = 0; j < 8; ++j) {
            acc[j] |= w[i + j];
          }
        }
        for (; i < b; ++i) {
          acc[0] |= w[i];
        }
      }
      std::memcpy(&sink[static_cast<std::size_t>(k) * 8], acc, sizeof acc);
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  const double dt = now() - t0;
  volatile std::uint64_t keep = sink[0];
  (void)keep;
  return dt;
}

} // namespace gpueval::bench
