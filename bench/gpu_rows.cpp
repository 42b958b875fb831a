// gpu-eval-bench's CUDA rows: update() throughput timed with CUDA events against a device-to-
// device copy of 1 GiB (bytes read plus written) measured in the same process, inputs rotated
// across buffers several times the L2 cache so that no row is served from it, the per-update
// latency of the [16, 500, 20] batch, direct and replayed from a CUDA graph, and classification
// batches (binary, multiclass C = 10 and 1000) against the same roofline.
#include "gpu_rows.hpp"

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/registry.hpp"
#include "cuda/cuda_check.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/regression.hpp"

namespace gpueval::bench {

namespace {

double g_copy_gbs = 0;
int g_l2_bytes = 0;

struct DeviceMem {
  void* p = nullptr;
  explicit DeviceMem(std::size_t n) { GPUEVAL_CUDA_TRY(cudaMalloc(&p, n)); }
  ~DeviceMem() { GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(p)); }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
};

class Events {
public:
  Events() {
    GPUEVAL_CUDA_TRY(cudaEventCreate(&start_));
    GPUEVAL_CUDA_TRY(cudaEventCreate(&stop_));
  }
  ~Events() {
    GPUEVAL_CUDA_TRY_NOTHROW(cudaEventDestroy(start_));
    GPUEVAL_CUDA_TRY_NOTHROW(cudaEventDestroy(stop_));
  }
  void start(cudaStream_t s) { GPUEVAL_CUDA_TRY(cudaEventRecord(start_, s)); }
  double stop(cudaStream_t s) { // seconds
    GPUEVAL_CUDA_TRY(cudaEventRecord(stop_, s));
    GPUEVAL_CUDA_TRY(cudaEventSynchronize(stop_));
    float ms = 0;
    GPUEVAL_CUDA_TRY(cudaEventElapsedTime(&ms, start_, stop_));
    return ms / 1e3;
  }

private:
  cudaEvent_t start_{}, stop_{};
};

double measure_copy_gbs() {
  const std::size_t bytes = std::size_t{1} << 30;
  DeviceMem a(bytes), b(bytes);
  GPUEVAL_CUDA_TRY(cudaMemset(a.p, 1, bytes));
  Events ev;
  double best = 1e30;
  for (int r = 0; r < 10; ++r) {
    ev.start(nullptr);
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, nullptr));
    best = std::min(best, ev.stop(nullptr));
  }
  return 2.0 * static_cast<double>(bytes) / best / 1e9; // read plus written
}

struct GpuShape {
  std::string name;
  std::vector<std::int64_t> dims;
  std::optional<int> by_axis;
};

std::int64_t numel(const std::vector<std::int64_t>& d) {
  std::int64_t n = 1;
  for (std::int64_t x : d) {
    n *= x;
  }
  return n;
}

// Inputs for a row: enough copies of the batch that their total is 4x the L2 cache.
struct Inputs {
  std::vector<std::unique_ptr<DeviceMem>> pred, target, mask;
  int copies = 1;
};

Inputs make_inputs(std::int64_t n, std::size_t item, std::int64_t mask_n) {
  Inputs in;
  const std::size_t batch_bytes = static_cast<std::size_t>(n) * item * 2;
  in.copies = static_cast<int>(std::max<std::size_t>(
      1, (4 * static_cast<std::size_t>(g_l2_bytes) + batch_bytes - 1) / batch_bytes));
  in.copies = std::min(in.copies, 64);
  std::vector<std::uint8_t> host(static_cast<std::size_t>(n) * item);
  std::mt19937 rng(1);
  for (auto& b : host) {
    b = static_cast<std::uint8_t>(rng() & 0x3f); // small finite values in any float format
  }
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(mask_n), 1);
  for (int c = 0; c < in.copies; ++c) {
    for (auto* list : {&in.pred, &in.target}) {
      list->push_back(std::make_unique<DeviceMem>(host.size()));
      GPUEVAL_CUDA_TRY(
          cudaMemcpy(list->back()->p, host.data(), host.size(), cudaMemcpyHostToDevice));
    }
    in.mask.push_back(std::make_unique<DeviceMem>(mask.size()));
    GPUEVAL_CUDA_TRY(
        cudaMemcpy(in.mask.back()->p, mask.data(), mask.size(), cudaMemcpyHostToDevice));
  }
  return in;
}

void cuda_update(benchmark::State& state, GpuShape shape, bool bf16, bool masked, bool all) {
  const std::int64_t n = numel(shape.dims);
  const DType dt = bf16 ? DType::bf16 : DType::f32;
  const int mask_rank = shape.dims.size() > 1 ? 2 : 1;
  const std::int64_t mask_n = numel({shape.dims.begin(), shape.dims.begin() + mask_rank});
  Inputs in = make_inputs(n, dtype_size(dt), mask_n);
  RegressionSpec spec;
  spec.by_axis = shape.by_axis;
  spec.sample_shape.assign(shape.dims.begin() + 1, shape.dims.end());
  if (all) {
    spec.metrics = all_metrics();
  }
  Evaluator ev(spec, Device::cuda(0));
  auto view = [&](const DeviceMem& m, DType d, int rank) {
    return TensorView::contiguous(m.p, d, shape.dims.data(), rank, DeviceKind::cuda, 0);
  };
  const int rank = static_cast<int>(shape.dims.size());
  int i = 0;
  auto update = [&](cudaStream_t s) {
    const int c = i++ % in.copies;
    ev.update(view(*in.pred[c], dt, rank), view(*in.target[c], dt, rank),
              masked ? view(*in.mask[c], DType::boolean, mask_rank) : TensorView{}, s);
  };
  cudaStream_t s;
  GPUEVAL_CUDA_TRY(cudaStreamCreate(&s));
  update(s);
  Events events;
  const int per_iteration = 20;
  double total = 0;
  for (auto _ : state) {
    events.start(s);
    for (int k = 0; k < per_iteration; ++k) {
      update(s);
    }
    const double seconds = events.stop(s) / per_iteration;
    total += seconds;
    state.SetIterationTime(seconds);
  }
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(s));
  const std::int64_t bytes =
      n * 2 * static_cast<std::int64_t>(dtype_size(dt)) + (masked ? mask_n : 0);
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["copy_roofline_GBps"] = g_copy_gbs;
  state.counters["roofline_frac"] = total > 0 ? static_cast<double>(bytes) *
                                                    static_cast<double>(state.iterations()) /
                                                    total / (g_copy_gbs * 1e9)
                                              : 0.0;
  state.SetLabel(std::string(dtype_name(dt)) + (masked ? " masked" : "") +
                 (all ? " all-groups" : " default") + ", inputs rotated over " +
                 std::to_string(in.copies) + " copies");
}

// Per-update latency of a [16, 500, 20] batch: direct launches, and the same updates replayed
// from a CUDA graph.
void cuda_latency(benchmark::State& state, bool graph) {
  const std::vector<std::int64_t> dims = {16, 500, 20};
  Inputs in = make_inputs(numel(dims), 4, 16 * 500);
  RegressionSpec spec;
  spec.sample_shape = {500, 20};
  Evaluator ev(spec, Device::cuda(0));
  cudaStream_t s;
  GPUEVAL_CUDA_TRY(cudaStreamCreate(&s));
  const int per_iteration = 64;
  auto batch = [&](int k, cudaStream_t st) {
    const int c = k % in.copies;
    ev.update(
        TensorView::contiguous(in.pred[c]->p, DType::f32, dims.data(), 3, DeviceKind::cuda, 0),
        TensorView::contiguous(in.target[c]->p, DType::f32, dims.data(), 3, DeviceKind::cuda, 0),
        {}, st);
  };
  cudaGraphExec_t exec = nullptr;
  if (graph) {
    cudaGraph_t g;
    GPUEVAL_CUDA_TRY(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int k = 0; k < per_iteration; ++k) {
      batch(k, s);
    }
    GPUEVAL_CUDA_TRY(cudaStreamEndCapture(s, &g));
    GPUEVAL_CUDA_TRY(cudaGraphInstantiate(&exec, g, 0));
    GPUEVAL_CUDA_TRY(cudaGraphDestroy(g));
  }
  Events events;
  for (auto _ : state) {
    events.start(s);
    if (graph) {
      GPUEVAL_CUDA_TRY(cudaGraphLaunch(exec, s));
    } else {
      for (int k = 0; k < per_iteration; ++k) {
        batch(k, s);
      }
    }
    state.SetIterationTime(events.stop(s) / per_iteration);
  }
  if (exec != nullptr) {
    GPUEVAL_CUDA_TRY(cudaGraphExecDestroy(exec));
  }
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(s));
  state.SetLabel(graph ? "per update, replayed from a CUDA graph" : "per update, direct launches");
}

// Classification: one batch of float32 scores (probabilities in [0, 1) or logits) and int64
// targets, at least 4x the L2 cache, the default metric set (binary: with the auroc and
// average precision histograms), against the copy roofline.
struct ClassRow {
  std::string name;
  ClassTask task;
  std::int64_t classes, samples;
  bool logits;
};

void cuda_class(benchmark::State& state, ClassRow row) {
  const std::int64_t per = row.task == ClassTask::binary ? 1 : row.classes;
  std::vector<float> scores(static_cast<std::size_t>(row.samples * per));
  std::vector<std::int64_t> target(static_cast<std::size_t>(row.samples));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (float& x : scores) {
    x = row.logits ? 8.0f * u(rng) - 4.0f : u(rng);
  }
  for (std::int64_t& t : target) {
    t = static_cast<std::int64_t>(
        rng() % static_cast<unsigned>(row.task == ClassTask::binary ? 2 : row.classes));
  }
  DeviceMem ds(scores.size() * 4), dt(target.size() * 8);
  GPUEVAL_CUDA_TRY(cudaMemcpy(ds.p, scores.data(), scores.size() * 4, cudaMemcpyHostToDevice));
  GPUEVAL_CUDA_TRY(cudaMemcpy(dt.p, target.data(), target.size() * 8, cudaMemcpyHostToDevice));
  ClassificationSpec spec;
  spec.task = row.task;
  spec.num_classes = row.classes;
  spec.scores = row.logits ? ScoreKind::logits : ScoreKind::probabilities;
  ClassificationEvaluator ev(spec, Device::cuda(0));
  std::vector<std::int64_t> pshape = {row.samples};
  if (row.task != ClassTask::binary) {
    pshape.push_back(row.classes);
  }
  const std::vector<std::int64_t> tshape = {row.samples};
  cudaStream_t s;
  GPUEVAL_CUDA_TRY(cudaStreamCreate(&s));
  auto update = [&] {
    ev.update(TensorView::contiguous(ds.p, DType::f32, pshape.data(),
                                     static_cast<int>(pshape.size()), DeviceKind::cuda, 0),
              TensorView::contiguous(dt.p, DType::i64, tshape.data(), 1, DeviceKind::cuda, 0), {},
              s);
  };
  update();
  Events events;
  double total = 0;
  for (auto _ : state) {
    events.start(s);
    for (int k = 0; k < 5; ++k) {
      update();
    }
    const double seconds = events.stop(s) / 5;
    total += seconds;
    state.SetIterationTime(seconds);
  }
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(s));
  const auto bytes = static_cast<double>(scores.size() * 4 + target.size() * 8);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * row.samples);
  state.counters["copy_roofline_GBps"] = g_copy_gbs;
  state.counters["roofline_frac"] =
      total > 0 ? bytes * static_cast<double>(state.iterations()) / total / (g_copy_gbs * 1e9)
                : 0.0;
  state.SetLabel(std::string(class_task_name(row.task)) + ", default metrics, " +
                 (row.logits ? "logits" : "probabilities"));
}

} // namespace

void register_gpu_rows(bool quick) {
  std::string why;
  if (detail::cuda_device_count(&why) == 0) {
    benchmark::AddCustomContext("cuda_rows", "absent: " + why);
    return;
  }
  cudaDeviceProp prop{};
  GPUEVAL_CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
  g_l2_bytes = prop.l2CacheSize;
  g_copy_gbs = measure_copy_gbs();
  benchmark::AddCustomContext("cuda_device", prop.name);
  benchmark::AddCustomContext("cuda_copy_roofline_GBps", std::to_string(g_copy_gbs));
  benchmark::AddCustomContext("cuda_rows", "present");
  const std::vector<GpuShape> shapes = {
      {"[16,500,20]", {16, 500, 20}, std::nullopt},
      {"[256,500,20]", {256, 500, 20}, std::nullopt},
      {"flat_256MiB", {(std::int64_t{256} << 20) / 8}, std::nullopt},
      {"[16,500,20]_by_time_K10000", {16, 500, 20}, 1},
  };
  for (const GpuShape& s : shapes) {
    for (bool bf16 : {false, true}) {
      for (bool masked : {false, true}) {
        for (bool all : {false, true}) {
          if (quick && (bf16 || (masked && all))) {
            continue;
          }
          const std::string name = "cuda_update/" + s.name + "/" + (bf16 ? "bf16" : "f32") +
                                   (masked ? "/mask" : "") + (all ? "/all" : "/default");
          benchmark::RegisterBenchmark(name.c_str(), cuda_update, s, bf16, masked, all)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  const std::vector<ClassRow> class_rows = {
      {"binary_16M", ClassTask::binary, 2, std::int64_t{1} << 24, false},
      {"multiclass_C10_4M/probabilities", ClassTask::multiclass, 10, std::int64_t{1} << 22, false},
      {"multiclass_C10_4M/logits", ClassTask::multiclass, 10, std::int64_t{1} << 22, true},
      {"multiclass_C1000_64K/probabilities", ClassTask::multiclass, 1000, std::int64_t{1} << 16,
       false},
  };
  for (const ClassRow& r : class_rows) {
    if (quick && (r.logits || r.classes == 1000)) {
      continue;
    }
    benchmark::RegisterBenchmark(("cuda_class/" + r.name).c_str(), cuda_class, r)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("cuda_latency/[16,500,20]/direct", cuda_latency, false)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("cuda_latency/[16,500,20]/graph", cuda_latency, true)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

} // namespace gpueval::bench
