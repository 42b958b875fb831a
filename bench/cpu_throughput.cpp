// CPU update() throughput against this machine's memory read bandwidth, measured in the same
// run: each repetition times a multithreaded read of the large batch's bytes (the roofline; a
// buffer far larger than the caches, with the same threads) and then the update, so that both
// see the same machine state. Small batches fit in cache and may exceed it. Prints a Markdown
// table.
//
//   gpueval-cpu-throughput [--threads N,M,...] [--reps R] [--mib S]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpueval/regression.hpp"
#include "read_roofline.hpp"

namespace {

using gpueval::bench::now;
using gpueval::bench::time_read;

struct Row {
  const char* shape;
  std::int64_t rows;
  std::int64_t channels;
  bool all_groups;
};

} // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts = {1, 2};
  int reps = 7;
  std::int64_t mib = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      thread_counts.clear();
      std::string list = argv[++i];
      for (std::size_t pos = 0; pos <= list.size();) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        thread_counts.push_back(std::stoi(list.substr(pos, comma - pos)));
        pos = comma + 1;
      }
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::stoi(argv[++i]);
    } else if (a == "--mib" && i + 1 < argc) {
      mib = std::stoll(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--threads N,M] [--reps R] [--mib S]\n", argv[0]);
      return 2;
    }
  }
  // One buffer pair big enough for the large row: `mib` MiB of predictions plus targets.
  const std::int64_t pairs = mib * 1024 * 1024 / 8;
  std::vector<float> pred(static_cast<std::size_t>(pairs)), target(pred.size());
  std::mt19937_64 rng(1);
  std::normal_distribution<float> z;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    target[i] = 3.0f + z(rng);
    pred[i] = target[i] + 0.3f * z(rng);
  }
  const Row rows[] = {
      {"[16, 500, 20]", 16 * 500, 20, false},
      {"[16, 500, 20]", 16 * 500, 20, true},
      {"large", pairs / 20, 20, false},
      {"large", pairs / 20, 20, true},
  };
  std::printf(
      "| threads | batch | metrics | MiB | update GB/s | read roofline GB/s | fraction |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int threads : thread_counts) {
    for (const Row& row : rows) {
      gpueval::RegressionSpec spec;
      if (row.all_groups) {
        spec.metrics = gpueval::all_metrics();
      }
      gpueval::Evaluator ev(spec, gpueval::Device::cpu(threads));
      const auto p = gpueval::TensorView::contiguous(pred.data(), gpueval::DType::f32,
                                                     {row.rows, row.channels});
      const auto t = gpueval::TensorView::contiguous(target.data(), gpueval::DType::f32,
                                                     {row.rows, row.channels});
      const std::size_t n = static_cast<std::size_t>(row.rows * row.channels);
      std::vector<float> sp(pred.begin(), pred.begin() + static_cast<std::ptrdiff_t>(n));
      std::vector<float> st(target.begin(), target.begin() + static_cast<std::ptrdiff_t>(n));
      // Small batches are timed in a loop (per-update overhead included), large ones once.
      const int inner = n < (1u << 22) ? 200 : 1;
      double best_update = 1e30, best_read = 1e30;
      ev.update(p, t); // warm-up: threads started, workspace allocated
      for (int r = 0; r < reps; ++r) {
        best_read = std::min(best_read, time_read({{pred.data(), pred.size() * sizeof(float)},
                                                   {target.data(), target.size() * sizeof(float)}},
                                                  threads));
        const double t0 = now();
        for (int i = 0; i < inner; ++i) {
          ev.update(p, t);
        }
        best_update = std::min(best_update, (now() - t0) / inner);
      }
      const double bytes = static_cast<double>(n) * 8.0;
      const double update_gbs = bytes / best_update / 1e9;
      const double read_gbs =
          static_cast<double>(pred.size() + target.size()) * sizeof(float) / best_read / 1e9;
      std::printf("| %d | %s | %s | %.1f | %.2f | %.2f | %.0f%% |\n", threads, row.shape,
                  row.all_groups ? "all" : "default", bytes / (1 << 20), update_gbs, read_gbs,
                  100.0 * update_gbs / read_gbs);
      std::fflush(stdout);
    }
  }
  return 0;
}
