// What only a GPU shows: streams, graphs, the inputs' lifetime, 64-bit indexing and gpu-eval's
// staging ring on a real device. The parity cases shared with the CPU are tests/device_cases.cpp.
// Label `gpu`; skipped without a device (a failure under GPUEVAL_REQUIRE_GPU=1). Tests named
// *Small* run under compute-sanitizer in scripts/gpu-check.
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "batch_data.hpp"
#include "cli/cli.hpp"
#include "cuda/cuda_check.hpp"
#include "gpu_test.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"
#include "io/shard_writer.hpp"

namespace gpueval {
namespace {

// Device memory holding a copy of host bytes.
class DeviceBytes {
public:
  DeviceBytes(const void* host, std::size_t n) {
    GPUEVAL_CUDA_TRY(cudaMalloc(&ptr_, n + 16));
    GPUEVAL_CUDA_TRY(cudaMemcpy(ptr_, host, n, cudaMemcpyHostToDevice));
  }
  ~DeviceBytes() {
    GPUEVAL_CUDA_TRY_NOTHROW(cudaDeviceSynchronize());
    GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(ptr_));
  }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  const void* get() const { return ptr_; }

private:
  void* ptr_ = nullptr;
};

TensorView on_device(const DeviceBytes& d, DType dtype, const std::vector<std::int64_t>& shape) {
  return TensorView::contiguous(d.get(), dtype, shape.data(), static_cast<int>(shape.size()),
                                DeviceKind::cuda, 0);
}

test::TypedBuffer values(std::size_t n, double mean, std::uint64_t seed) {
  test::TypedBuffer b(DType::f32, n);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  for (std::size_t i = 0; i < n; ++i) {
    b.set(i, mean + z(rng));
  }
  return b;
}

// Holds `stream` for `ms` milliseconds on the host: work enqueued after it waits.
void stall(cudaStream_t stream, int ms) {
  static int delay;
  delay = ms;
  GPUEVAL_CUDA_TRY(cudaLaunchHostFunc(
      stream,
      [](void* p) {
        std::this_thread::sleep_for(std::chrono::milliseconds(*static_cast<int*>(p)));
      },
      &delay));
}

TEST(CudaBackend, SmallBitwiseRepeatableAndGraphCapturable) {
  GPUEVAL_REQUIRE_DEVICE();
  RegressionSpec spec;
  spec.sample_shape = {500, 20}; // allocated at construction: capture-safe from the start
  const test::TypedBuffer t = values(16 * 500 * 20, 30.0, 1), p = values(16 * 500 * 20, 30.0, 2);
  DeviceBytes dp(p.data(), p.size() * 4), dt(t.data(), t.size() * 4);
  const TensorView pv = on_device(dp, DType::f32, {16, 500, 20});
  const TensorView tv = on_device(dt, DType::f32, {16, 500, 20});
  cudaStream_t stream;
  GPUEVAL_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Evaluator direct(spec, Device::cuda(0)), again(spec, Device::cuda(0));
  for (int i = 0; i < 5; ++i) {
    direct.update(pv, tv, {}, stream);
    again.update(pv, tv, {}, stream);
  }
  const std::string want = direct.compute(stream).to_json();
  EXPECT_EQ(again.compute(stream).to_json(), want);

  Evaluator graphed(spec, Device::cuda(0));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  GPUEVAL_CUDA_TRY(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < 5; ++i) {
    graphed.update(pv, tv, {}, stream); // would fail the capture if it synced or allocated
  }
  GPUEVAL_CUDA_TRY(cudaStreamEndCapture(stream, &graph));
  GPUEVAL_CUDA_TRY(cudaGraphInstantiate(&exec, graph, 0));
  GPUEVAL_CUDA_TRY(cudaGraphLaunch(exec, stream));
  EXPECT_EQ(graphed.compute(stream).to_json(), want);
  // Replays after a reset on the graph's stream: the same epoch again.
  graphed.reset(stream);
  GPUEVAL_CUDA_TRY(cudaGraphLaunch(exec, stream));
  EXPECT_EQ(graphed.compute(stream).to_json(), want);
  GPUEVAL_CUDA_TRY(cudaGraphExecDestroy(exec));
  GPUEVAL_CUDA_TRY(cudaGraphDestroy(graph));
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(stream));
}

// Updates, resets and computes on different non-blocking streams, each stream stalled so that
// without the device-side ordering the later operations would overtake the earlier ones.
TEST(CudaBackend, SmallOperationsOnManyStreamsKeepTheirOrder) {
  GPUEVAL_REQUIRE_DEVICE();
  const test::TypedBuffer t = values(64 * 20, 10.0, 3), p = values(64 * 20, 10.0, 4);
  const test::TypedBuffer t2 = values(64 * 20, -5.0, 5), p2 = values(64 * 20, -5.0, 6);
  DeviceBytes dp(p.data(), p.size() * 4), dt(t.data(), t.size() * 4);
  DeviceBytes dp2(p2.data(), p2.size() * 4), dt2(t2.data(), t2.size() * 4);
  const std::vector<std::int64_t> shape = {64, 20};
  cudaStream_t s[3];
  for (cudaStream_t& x : s) {
    GPUEVAL_CUDA_TRY(cudaStreamCreateWithFlags(&x, cudaStreamNonBlocking));
  }
  Evaluator cpu_first(RegressionSpec{}, Device::cpu(2)),
      cpu_second(RegressionSpec{}, Device::cpu(2));
  cpu_first.update(p.view(shape), t.view(shape));
  cpu_second.update(p2.view(shape), t2.view(shape));

  RegressionSpec spec;
  spec.sample_shape = {20}; // configured (and synchronised) now, not inside the first update
  Evaluator ev(spec, Device::cuda(0));
  stall(s[0], 100);
  ev.update(on_device(dp, DType::f32, shape), on_device(dt, DType::f32, shape), {}, s[0]);
  const Report first = ev.compute(s[1]); // waits for the stalled update
  EXPECT_EQ(first.count, cpu_first.compute().count);
  stall(s[1], 100);
  ev.reset(s[1]); // stalled
  ev.update(on_device(dp2, DType::f32, shape), on_device(dt2, DType::f32, shape), {},
            s[2]); // after it
  const Report second = ev.compute(s[0]);
  const Report want = cpu_second.compute();
  EXPECT_EQ(second.count, want.count);
  EXPECT_NEAR(second.value("mse"), want.value("mse"), 1e-9 * want.value("mse"));
  // The legacy default stream too.
  ev.reset();
  ev.update(on_device(dp, DType::f32, shape), on_device(dt, DType::f32, shape), {}, s[2]);
  EXPECT_EQ(ev.compute().count, first.count);
  for (cudaStream_t& x : s) {
    GPUEVAL_CUDA_TRY(cudaStreamDestroy(x));
  }
}

// keep_until_done keeps the owner until the update has run, and drops it then.
TEST(CudaBackend, SmallInputsLiveUntilTheirUpdateHasRun) {
  GPUEVAL_REQUIRE_DEVICE();
  const test::TypedBuffer t = values(32 * 4, 1.0, 7), p = values(32 * 4, 1.0, 8);
  auto dp = std::make_shared<DeviceBytes>(p.data(), p.size() * 4);
  auto dt = std::make_shared<DeviceBytes>(t.data(), t.size() * 4);
  std::weak_ptr<DeviceBytes> wp = dp, wt = dt;
  cudaStream_t s;
  GPUEVAL_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  RegressionSpec spec;
  spec.sample_shape = {4}; // configured now: the first update must not synchronise
  Evaluator ev(spec, Device::cuda(0));
  stall(s, 200);
  ev.update(on_device(*dp, DType::f32, {32, 4}), on_device(*dt, DType::f32, {32, 4}), {}, s);
  ev.keep_until_done(
      std::make_shared<std::pair<std::shared_ptr<DeviceBytes>, std::shared_ptr<DeviceBytes>>>(dp,
                                                                                              dt));
  dp.reset();
  dt.reset();
  EXPECT_FALSE(wp.expired()); // the update has not run: the stream is stalled
  EXPECT_EQ(ev.compute(s).count, 128u);
  EXPECT_TRUE(wp.expired()); // compute() synchronised: dropped
  EXPECT_TRUE(wt.expired());
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(s));
}

// gpu-eval's whole loop on the GPU: windows through the pinned staging ring, the same report
// as the CPU path (regression within the accuracy rule, classification bit for bit).
TEST(CudaBackend, SmallGpuEvalThroughTheStagingRing) {
  GPUEVAL_REQUIRE_DEVICE();
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "gpueval-gpu-staging";
  fs::remove_all(dir);
  fs::create_directories(dir);
  cli::EvalOptions o;
  std::mt19937_64 rng(9);
  for (int s = 0; s < 3; ++s) {
    const std::int64_t rows = 40 + 9 * s;
    const test::TypedBuffer t = values(static_cast<std::size_t>(rows * 50 * 4), 5.0, rng());
    test::TypedBuffer p = values(t.size(), 5.0, rng());
    test::TypedBuffer m(DType::boolean, static_cast<std::size_t>(rows * 50));
    for (std::size_t i = 0; i < m.size(); ++i) {
      m.set(i, rng() % 4 != 0);
    }
    const std::string k = std::to_string(s);
    io::write_npy((dir / ("p" + k + ".npy")).string(), {"", DType::f32, {rows, 50, 4}, p.data()});
    io::write_npy((dir / ("t" + k + ".npy")).string(), {"", DType::f32, {rows, 50, 4}, t.data()});
    io::write_npy((dir / ("m" + k + ".npy")).string(), {"", DType::boolean, {rows, 50}, m.data()});
    o.pred.push_back((dir / ("p" + k + ".npy")).string());
    o.target.push_back((dir / ("t" + k + ".npy")).string());
    o.mask.push_back((dir / ("m" + k + ".npy")).string());
  }
  o.progress = false;
  o.window_bytes = 4096;
  o.device = Device::cuda(0);
  const Report gpu = *cli::evaluate(o).report.as<RegressionReport>();
  o.device = Device::cpu(2);
  const Report cpu = *cli::evaluate(o).report.as<RegressionReport>();
  EXPECT_EQ(gpu.count, cpu.count);
  for (const char* m : {"mse", "mae", "r2", "pearson", "max_error"}) {
    EXPECT_NEAR(gpu.value(m), cpu.value(m), 1e-9 * std::max(1.0, std::fabs(cpu.value(m)))) << m;
  }
  fs::remove_all(dir);
}

// A batch of more than 2^31 elements (float16, 8.6 GB for both tensors): 64-bit indexing.
TEST(CudaBackend, LargeBatchPast2To31Elements) {
  GPUEVAL_REQUIRE_DEVICE();
  const std::int64_t rows = (std::int64_t{1} << 31) / 16 + 7, keys = 16;
  const std::size_t n = static_cast<std::size_t>(rows * keys);
  std::vector<std::uint16_t> host(n, float_to_half_bits(1.0f));
  DeviceBytes p(host.data(), n * 2);
  std::fill(host.begin(), host.end(), float_to_half_bits(0.5f));
  DeviceBytes t(host.data(), n * 2);
  Evaluator ev(RegressionSpec{}, Device::cuda(0));
  ev.update(on_device(p, DType::f16, {rows, keys}), on_device(t, DType::f16, {rows, keys}));
  const Report r = ev.compute();
  EXPECT_EQ(r.count, n);
  EXPECT_EQ(r.value("mae"), 0.5);
  EXPECT_EQ(r.value("max_error"), 0.5);
}

} // namespace
} // namespace gpueval
