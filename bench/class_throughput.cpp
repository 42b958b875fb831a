// Classification update() throughput on the CPU against this machine's memory read bandwidth,
// measured in the same run: each repetition times a multithreaded read of the row's own bytes
// (predictions and targets; buffers far larger than the caches, the same threads) and then the
// update. Float32 scores, int64 targets (PyTorch's default), default metrics. Prints a Markdown
// table. The binary rows add a ceiling timed in the same run: the same read plus what their
// rank histograms cost at the least, one locked add of 1 to the sample's word of a table as
// large as the binary histograms (2^24 bins, positive and negative: 256 MiB), at the bin of the
// score's bits, as the fold does.
//
//   gpueval-class-throughput [--threads N] [--reps R] [--mib S] [--only TEXT]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpueval/classification.hpp"
#include "read_roofline.hpp"

namespace {

using gpueval::bench::now;
using gpueval::bench::time_read;

struct Row {
  const char* name;
  gpueval::ClassTask task;
  std::int64_t classes;
  bool logits;
  bool labels;
};

// Seconds for the binary ceiling: every score read with its target, and 1 added (a locked add,
// as two workers sharing the histograms do) to word 2 * bin + positive of `table`.
double time_random_adds(const std::vector<float>& scores, const std::vector<std::int64_t>& target,
                        std::vector<std::uint64_t>& table, int threads) {
  const double t0 = now();
  std::vector<std::thread> pool;
  const std::size_t n = scores.size();
  for (int k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      const std::size_t a = n * static_cast<std::size_t>(k) / threads;
      const std::size_t b = n * static_cast<std::size_t>(k + 1) / threads;
      for (std::size_t i = a; i < b; ++i) {
        std::uint32_t bits;
        std::memcpy(&bits, &scores[i], sizeof bits);
        const std::size_t word = ((bits >> 8) & 0xFFFFFFu) * 2 + (target[i] != 0 ? 1 : 0);
        __atomic_fetch_add(&table[word], std::uint64_t{1}, __ATOMIC_RELAXED);
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  return now() - t0;
}

} // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  std::int64_t mib = 256;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::stoi(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::stoi(argv[++i]);
    } else if (a == "--mib" && i + 1 < argc) {
      mib = std::stoll(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--reps R] [--mib S] [--only TEXT]\n", argv[0]);
      return 2;
    }
  }
  const Row rows[] = {
      {"binary, probabilities", gpueval::ClassTask::binary, 2, false, false},
      {"binary, logits", gpueval::ClassTask::binary, 2, true, false},
      {"multiclass C=10, probabilities", gpueval::ClassTask::multiclass, 10, false, false},
      {"multiclass C=10, logits", gpueval::ClassTask::multiclass, 10, true, false},
      {"multiclass C=1000, probabilities", gpueval::ClassTask::multiclass, 1000, false, false},
      {"multiclass C=1000, logits", gpueval::ClassTask::multiclass, 1000, true, false},
      {"multiclass C=10, labels", gpueval::ClassTask::multiclass, 10, false, true},
      {"multilabel L=10, probabilities", gpueval::ClassTask::multilabel, 10, false, false},
  };
  std::printf("%d threads, float32 scores, int64 targets, default metrics, best of %d\n\n", threads,
              reps);
  std::printf("| task | samples | MiB | update GB/s | read roofline GB/s | fraction | "
              "samples/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::mt19937_64 rng(1);
  std::normal_distribution<float> z;
  for (const Row& row : rows) {
    if (std::string(row.name).find(only) == std::string::npos) {
      continue;
    }
    const bool multi = row.task != gpueval::ClassTask::binary;
    const std::int64_t per = multi && !row.labels ? row.classes : 1;
    const std::int64_t target_per = row.task == gpueval::ClassTask::multilabel ? row.classes : 1;
    const std::int64_t sample_bytes =
        (row.labels ? 8 : 4) * per + 8 * target_per; // scores or labels, then targets
    const std::int64_t n = mib * 1024 * 1024 / sample_bytes;
    std::vector<float> scores(row.labels ? 0 : static_cast<std::size_t>(n * per));
    std::vector<std::int64_t> labels(row.labels ? static_cast<std::size_t>(n) : 0);
    std::vector<std::int64_t> target(static_cast<std::size_t>(n * target_per));
    for (std::int64_t i = 0; i < n; ++i) {
      if (row.task == gpueval::ClassTask::multiclass) {
        const auto y = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(row.classes));
        target[static_cast<std::size_t>(i)] = y;
        if (row.labels) {
          labels[static_cast<std::size_t>(i)] = rng() % 5 == 0 ? (y + 1) % row.classes : y;
          continue;
        }
        float sum = 0;
        for (std::int64_t c = 0; c < row.classes; ++c) {
          const float v = z(rng) + (c == y ? 2.0f : 0.0f);
          scores[static_cast<std::size_t>(i * row.classes + c)] = row.logits ? v : std::exp(v);
          sum += std::exp(v);
        }
        if (!row.logits) {
          for (std::int64_t c = 0; c < row.classes; ++c) {
            scores[static_cast<std::size_t>(i * row.classes + c)] /= sum;
          }
        }
      } else {
        for (std::int64_t c = 0; c < per; ++c) {
          const float v = z(rng);
          const auto at = static_cast<std::size_t>(i * per + c);
          scores[at] = row.logits ? v : 1.0f / (1.0f + std::exp(-v));
          target[at] = rng() % 2;
        }
      }
    }
    gpueval::ClassificationSpec spec;
    spec.task = row.task;
    spec.num_classes = row.classes;
    spec.scores = row.logits ? gpueval::ScoreKind::logits : gpueval::ScoreKind::probabilities;
    gpueval::ClassificationEvaluator ev(spec, gpueval::Device::cpu(threads));
    std::vector<std::int64_t> pshape = {n};
    if (multi && !row.labels) {
      pshape.push_back(row.classes);
    }
    std::vector<std::int64_t> tshape = {n};
    if (row.task == gpueval::ClassTask::multilabel) {
      tshape.push_back(row.classes);
    }
    const void* pdata = row.labels ? static_cast<const void*>(labels.data()) : scores.data();
    const std::size_t pbytes = row.labels ? labels.size() * 8 : scores.size() * 4;
    const auto p = gpueval::TensorView::contiguous(
        pdata, row.labels ? gpueval::DType::i64 : gpueval::DType::f32, pshape.data(),
        static_cast<int>(pshape.size()));
    const auto t = gpueval::TensorView::contiguous(target.data(), gpueval::DType::i64,
                                                   tshape.data(), static_cast<int>(tshape.size()));
    ev.update(p, t); // warm-up
    double best_update = 1e30, best_read = 1e30;
    for (int r = 0; r < reps; ++r) {
      best_read = std::min(
          best_read, time_read({{pdata, pbytes}, {target.data(), target.size() * 8}}, threads));
      const double t0 = now();
      ev.update(p, t);
      best_update = std::min(best_update, now() - t0);
    }
    const double bytes = static_cast<double>(pbytes + target.size() * 8);
    const double update_gbs = bytes / best_update / 1e9;
    const double read_gbs = bytes / best_read / 1e9;
    std::printf("| %s | %lld | %.0f | %.2f | %.2f | %.0f%% | %.3g |\n", row.name,
                static_cast<long long>(n), bytes / (1 << 20), update_gbs, read_gbs,
                100.0 * update_gbs / read_gbs, static_cast<double>(n) / best_update);
    if (row.task == gpueval::ClassTask::binary && !row.labels) {
      std::vector<std::uint64_t> table(std::size_t{1} << 25);
      double best_adds = 1e30;
      for (int r = 0; r < reps; ++r) {
        best_adds = std::min(best_adds, time_random_adds(scores, target, table, threads));
      }
      const double adds_gbs = bytes / best_adds / 1e9;
      std::printf("| ceiling: the read + a locked add to a random word of 256 MiB | %lld | %.0f | "
                  "%.2f | %.2f | %.0f%% | %.3g |\n",
                  static_cast<long long>(n), bytes / (1 << 20), adds_gbs, read_gbs,
                  100.0 * adds_gbs / read_gbs, static_cast<double>(n) / best_adds);
    }
    std::fflush(stdout);
  }
  return 0;
}
