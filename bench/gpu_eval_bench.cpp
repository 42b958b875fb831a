// gpu-eval-bench: update() throughput against the memory roofline measured in the same process,
// and the "concatenate then compute" baseline, with Google Benchmark.
//
//   gpu-eval-bench [--quick] [--json FILE] [--threads N] [Google Benchmark flags]
//
// Rows: [16, 500, 20] (a trainer's batch), [256, 500, 20], a flat 256 MiB batch (K = 1) and the
// [16, 500, 20] time-axis breakdown (K = 10000); float32 and bfloat16; with and without a
// [batch, time] mask; default metrics and all statistic groups. Bytes counted: predictions +
// targets (+ mask) read. Each row reports GB/s, pairs/s and its fraction of the roofline: on the
// CPU a multithreaded read of the same number of bytes from a buffer larger than the caches.
// The CUDA rows (gpu_rows.cpp: a device-to-device copy of 1 GiB as their roofline, CUDA-event
// timing, inputs rotated past the L2 cache, graph replay) run when a device is usable; otherwise
// the JSON context says why they are absent.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpueval/regression.hpp"
#ifdef GPUEVAL_BENCH_CUDA
#include "gpu_rows.hpp"
#endif

namespace {

using namespace gpueval;

int g_threads = 2;
double g_roofline_gbs = 0; // CPU read bandwidth, GB/s, measured at start

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Multithreaded read of `bytes` (OR over 64-bit words): the bandwidth any streaming pass over
// that much data can hope for on this machine.
double measure_read_gbs(std::size_t bytes, int threads, int reps) {
  std::vector<std::uint64_t> buf(bytes / 8, 0x0123456789abcdefull);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    std::vector<std::uint64_t> sink(static_cast<std::size_t>(threads));
    const double t0 = now();
    std::vector<std::thread> pool;
    for (int k = 0; k < threads; ++k) {
      pool.emplace_back([&, k] {
        const std::size_t a = buf.size() * static_cast<std::size_t>(k) / threads;
        const std::size_t b = buf.size() * static_cast<std::size_t>(k + 1) / threads;
        std::uint64_t acc[8] = {};
        std::size_t i = a;
        for (; i + 8 <= b; i += 8) {
          for (int j = 0; j < 8; ++j) {
            acc[j] |= buf[i + j];
          }
        }
        for (; i < b; ++i) {
          acc[0] |= buf[i];
        }
        std::uint64_t x = 0;
        for (std::uint64_t v : acc) {
          x |= v;
        }
        sink[static_cast<std::size_t>(k)] = x;
      });
    }
    for (auto& t : pool) {
      t.join();
    }
    best = std::min(best, now() - t0);
    benchmark::DoNotOptimize(sink.data());
  }
  return static_cast<double>(bytes) / best / 1e9;
}

struct Shape {
  const char* name;
  std::vector<std::int64_t> dims;
  std::optional<int> by_axis;
};

// Data shared by all rows: the largest batch's worth of predictions and targets in each dtype.
struct Data {
  std::vector<float> p32, t32;
  std::vector<std::uint16_t> p16, t16;
  std::vector<std::uint8_t> mask;
};

Data& data(std::size_t pairs) {
  static Data d;
  if (d.p32.size() < pairs) {
    std::mt19937_64 rng(11);
    std::normal_distribution<float> z;
    d.p32.resize(pairs);
    d.t32.resize(pairs);
    d.p16.resize(pairs);
    d.t16.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      d.t32[i] = 3.0f + z(rng);
      d.p32[i] = d.t32[i] + 0.3f * z(rng);
      d.t16[i] = float_to_bf16_bits(d.t32[i]);
      d.p16[i] = float_to_bf16_bits(d.p32[i]);
    }
    d.mask.assign(pairs, 1);
    for (std::size_t i = 0; i < pairs; i += 10) {
      d.mask[i] = 0;
    }
  }
  return d;
}

std::int64_t numel(const std::vector<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) {
    n *= d;
  }
  return n;
}

void cpu_update(benchmark::State& state, Shape shape, bool bf16, bool masked, bool all_groups) {
  const std::int64_t n = numel(shape.dims);
  Data& d = data(static_cast<std::size_t>(n));
  RegressionSpec spec;
  spec.by_axis = shape.by_axis;
  if (all_groups) {
    spec.metrics = all_metrics();
  }
  Evaluator ev(spec, Device::cpu(g_threads));
  const DType dt = bf16 ? DType::bf16 : DType::f32;
  const void* p = bf16 ? static_cast<const void*>(d.p16.data()) : d.p32.data();
  const void* t = bf16 ? static_cast<const void*>(d.t16.data()) : d.t32.data();
  const TensorView pv =
      TensorView::contiguous(p, dt, shape.dims.data(), static_cast<int>(shape.dims.size()));
  const TensorView tv =
      TensorView::contiguous(t, dt, shape.dims.data(), static_cast<int>(shape.dims.size()));
  // A [batch, time] mask (or [batch] for a flat batch): a prefix of the tensor's shape.
  const int mask_rank = shape.dims.size() > 1 ? 2 : 1;
  const TensorView mv =
      masked ? TensorView::contiguous(d.mask.data(), DType::boolean, shape.dims.data(), mask_rank)
             : TensorView{};
  const std::int64_t mask_bytes =
      masked ? numel({shape.dims.begin(), shape.dims.begin() + mask_rank}) : 0;
  ev.update(pv, tv, mv); // warm-up: threads started, workspace sized
  const double t0 = now();
  for (auto _ : state) {
    ev.update(pv, tv, mv);
  }
  const double elapsed = now() - t0;
  const std::int64_t bytes = n * 2 * static_cast<std::int64_t>(dtype_size(dt)) + mask_bytes;
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["roofline_GBps"] = g_roofline_gbs;
  // The fraction of the roofline: bytes per second over the read bandwidth (a plain number, from
  // the loop's own wall time).
  state.counters["roofline_frac"] = elapsed > 0 ? static_cast<double>(bytes) *
                                                      static_cast<double>(state.iterations()) /
                                                      elapsed / (g_roofline_gbs * 1e9)
                                                : 0.0;
  state.SetLabel(std::string(dtype_name(dt)) + (masked ? " masked" : "") +
                 (all_groups ? " all-groups" : " default") +
                 " threads=" + std::to_string(g_threads));
}

// The usual trainer code: append every batch to a host list, concatenate at the end of the
// epoch, then compute per-channel metrics (two passes in double, as numpy/scikit-learn would).
// Time and bytes held for an epoch of `batches` batches of [16, 500, 20] float32.
void concat_then_compute(benchmark::State& state) {
  const std::int64_t batches = state.range(0);
  const std::int64_t per_batch = 16 * 500 * 20;
  Data& d = data(static_cast<std::size_t>(per_batch));
  std::size_t held = 0;
  for (auto _ : state) {
    std::vector<std::vector<float>> preds, targets; // the trainer's lists
    for (std::int64_t b = 0; b < batches; ++b) {
      preds.emplace_back(d.p32.begin(), d.p32.begin() + per_batch);
      targets.emplace_back(d.t32.begin(), d.t32.begin() + per_batch);
    }
    std::vector<float> p, t; // np.concatenate
    p.reserve(static_cast<std::size_t>(batches * per_batch));
    t.reserve(p.capacity());
    for (std::int64_t b = 0; b < batches; ++b) {
      p.insert(p.end(), preds[b].begin(), preds[b].end());
      t.insert(t.end(), targets[b].begin(), targets[b].end());
    }
    held = (p.size() + t.size()) * sizeof(float) * 2; // lists + concatenated copies at the peak
    preds.clear();
    targets.clear();
    constexpr int C = 20;
    double mean_t[C] = {}, sse[C] = {}, sst[C] = {};
    const std::size_t rows = p.size() / C;
    for (std::size_t r = 0; r < rows; ++r) {
      for (int c = 0; c < C; ++c) {
        mean_t[c] += t[r * C + c];
      }
    }
    for (double& m : mean_t) {
      m /= static_cast<double>(rows);
    }
    for (std::size_t r = 0; r < rows; ++r) {
      for (int c = 0; c < C; ++c) {
        const double e = static_cast<double>(p[r * C + c]) - t[r * C + c];
        const double dt = t[r * C + c] - mean_t[c];
        sse[c] += e * e;
        sst[c] += dt * dt;
      }
    }
    double r2 = 0;
    for (int c = 0; c < C; ++c) {
      r2 += (1 - sse[c] / sst[c]) / C;
    }
    benchmark::DoNotOptimize(r2);
  }
  const std::int64_t bytes = batches * per_batch * 8;
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * batches * per_batch);
  state.counters["peak_held_MiB"] = static_cast<double>(held) / (1 << 20);
  state.SetLabel("concatenate then compute, float32");
}

// gpueval over the same epoch, batch by batch: memory held is its K records.
void gpueval_epoch(benchmark::State& state) {
  const std::int64_t batches = state.range(0);
  const std::int64_t per_batch = 16 * 500 * 20;
  Data& d = data(static_cast<std::size_t>(per_batch));
  for (auto _ : state) {
    Evaluator ev(RegressionSpec{}, Device::cpu(g_threads));
    for (std::int64_t b = 0; b < batches; ++b) {
      ev.update(TensorView::contiguous(d.p32.data(), DType::f32, {16, 500, 20}),
                TensorView::contiguous(d.t32.data(), DType::f32, {16, 500, 20}));
    }
    benchmark::DoNotOptimize(ev.compute().value("r2"));
  }
  const std::int64_t bytes = batches * per_batch * 8;
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * batches * per_batch);
  state.SetLabel("gpueval, batch by batch, float32 threads=" + std::to_string(g_threads));
}

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json;
  std::vector<char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json = argv[++i];
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      g_threads = std::max(1, std::atoi(argv[++i]));
    } else {
      args.push_back(argv[i]);
    }
  }
  std::string out_flag, fmt_flag, min_time_flag;
  if (!json.empty()) {
    out_flag = "--benchmark_out=" + json;
    fmt_flag = "--benchmark_out_format=json";
    args.push_back(out_flag.data());
    args.push_back(fmt_flag.data());
  }
  if (quick) {
    min_time_flag = "--benchmark_min_time=0.05";
    args.push_back(min_time_flag.data());
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());

  // The roofline: reading 256 MiB (4x the largest cache here) with the same threads.
  g_roofline_gbs = measure_read_gbs(std::size_t{256} << 20, g_threads, quick ? 3 : 7);
  benchmark::AddCustomContext("cpu_read_roofline_GBps", std::to_string(g_roofline_gbs));
  benchmark::AddCustomContext("cpu_threads", std::to_string(g_threads));
#ifdef GPUEVAL_BENCH_CUDA
  gpueval::bench::register_gpu_rows(quick);
#else
  benchmark::AddCustomContext("cuda_rows", "absent: built without CUDA (GPUEVAL_CUDA=OFF)");
#endif
  std::fprintf(stderr, "cpu read roofline: %.2f GB/s with %d threads\n", g_roofline_gbs, g_threads);

  const std::vector<Shape> shapes = {
      {"[16,500,20]", {16, 500, 20}, std::nullopt},
      {"[256,500,20]", {256, 500, 20}, std::nullopt},
      {"flat_256MiB", {(std::int64_t{256} << 20) / 8}, std::nullopt},
      {"[16,500,20]_by_time_K10000", {16, 500, 20}, 1},
  };
  for (const Shape& s : shapes) {
    for (bool bf16 : {false, true}) {
      for (bool masked : {false, true}) {
        for (bool all : {false, true}) {
          if (quick && (masked && all)) {
            continue;
          }
          const std::string name = std::string("cpu_update/") + s.name + "/" +
                                   (bf16 ? "bf16" : "f32") + (masked ? "/mask" : "") +
                                   (all ? "/all" : "/default");
          benchmark::RegisterBenchmark(name.c_str(), cpu_update, s, bf16, masked, all)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  for (std::int64_t batches :
       quick ? std::vector<std::int64_t>{64} : std::vector<std::int64_t>{64, 256, 1024}) {
    benchmark::RegisterBenchmark("epoch/concat_then_compute", concat_then_compute)
        ->Arg(batches)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("epoch/gpueval", gpueval_epoch)
        ->Arg(batches)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
