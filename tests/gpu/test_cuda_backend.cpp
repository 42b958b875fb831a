// The CUDA backend against the CPU backend, on a real device. Label `gpu`; skipped without one
// (a failure under GPUEVAL_REQUIRE_GPU=1). Tests named *Small* run under compute-sanitizer in
// scripts/gpu-check.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "batch_data.hpp"
#include "cuda/cuda_check.hpp"
#include "gpu_test.hpp"
#include "gpueval/error.hpp"
#include "gpueval/evaluator.hpp"
#include "reference.hpp"

namespace gpueval {
namespace {

// Device memory holding a copy of host bytes, at an optional byte offset (misaligned views).
class DeviceBytes {
public:
  DeviceBytes(const void* host, std::size_t n, std::size_t offset = 0) : offset_(offset) {
    GPUEVAL_CUDA_TRY(cudaMalloc(&ptr_, n + offset + 16));
    GPUEVAL_CUDA_TRY(
        cudaMemcpy(static_cast<unsigned char*>(ptr_) + offset, host, n, cudaMemcpyHostToDevice));
  }
  ~DeviceBytes() { GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(ptr_)); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  const void* get() const { return static_cast<const unsigned char*>(ptr_) + offset_; }

private:
  void* ptr_ = nullptr;
  std::size_t offset_;
};

TensorView on_device(const DeviceBytes& d, DType dtype, const std::vector<std::int64_t>& shape) {
  return TensorView::contiguous(d.get(), dtype, shape.data(), static_cast<int>(shape.size()),
                                DeviceKind::cuda, 0);
}
TensorView on_host(const test::TypedBuffer& b, const std::vector<std::int64_t>& shape) {
  return b.view(shape);
}

struct Data {
  test::TypedBuffer p, t, m;
  std::vector<std::int64_t> shape, mask_shape;
};

Data make(DType pd, DType td, std::vector<std::int64_t> shape, bool prefix_mask, double nan_rate,
          std::uint64_t seed) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    n *= d;
  }
  std::vector<std::int64_t> ms(shape.begin(),
                               shape.begin() + (prefix_mask && shape.size() > 1
                                                    ? 2
                                                    : static_cast<std::ptrdiff_t>(shape.size())));
  std::int64_t mn = 1;
  for (std::int64_t d : ms) {
    mn *= d;
  }
  Data d{test::TypedBuffer(pd, static_cast<std::size_t>(n)),
         test::TypedBuffer(td, static_cast<std::size_t>(n)),
         test::TypedBuffer(DType::boolean, static_cast<std::size_t>(mn)), shape, ms};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u;
  for (std::int64_t i = 0; i < n; ++i) {
    const double tv = test::sample_value(td, 50.0 + static_cast<double>(i % 7), 2.0, rng);
    d.t.set(static_cast<std::size_t>(i), tv);
    d.p.set(static_cast<std::size_t>(i), test::sample_value(pd, tv, 0.5, rng));
    if (nan_rate > 0 && dtype_is_float(pd) && u(rng) < nan_rate) {
      d.p.set(static_cast<std::size_t>(i), std::nan(""));
    }
  }
  for (std::int64_t i = 0; i < mn; ++i) {
    d.m.set(static_cast<std::size_t>(i), u(rng) < 0.85 ? 1 : 0);
  }
  return d;
}

// CPU and CUDA reports of the same batches agree within DESIGN.md's accuracy rule.
void expect_parity(const Report& cpu, const Report& gpu, const std::string& what) {
  ASSERT_EQ(cpu.count, gpu.count) << what;
  ASSERT_EQ(cpu.skipped_nonfinite, gpu.skipped_nonfinite) << what;
  for (std::size_t i = 0; i < cpu.spec.metrics.size(); ++i) {
    const Metric m = cpu.spec.metrics[i];
    const bool bounded = m == Metric::r2 || m == Metric::explained_variance ||
                         m == Metric::pearson || m == Metric::ccc || m == Metric::cosine;
    const double scale = m == Metric::bias ? std::fabs(cpu.flat[1]) : bounded ? 1.0 : 0.0;
    // The quantile sketch's integer counts: the same values, bit for bit.
    const double tol = test::is_quantile_metric(m) ? 0.0 : 1e-9;
    EXPECT_TRUE(test::within_accuracy(gpu.flat[i], cpu.flat[i], scale, tol))
        << what << " flat " << i;
    for (std::size_t c = 0; c < cpu.per_channel[i].size(); ++c) {
      EXPECT_TRUE(test::within_accuracy(gpu.per_channel[i][c], cpu.per_channel[i][c], scale, tol))
          << what << " metric " << metric_name(cpu.spec.metrics[i]) << " channel " << c << ": "
          << gpu.per_channel[i][c] << " vs " << cpu.per_channel[i][c];
    }
  }
}

Report run(const RegressionSpec& spec, Device device, const std::vector<Data>& batches,
           bool masked) {
  Evaluator ev(spec, device);
  for (const Data& d : batches) {
    if (device.kind == DeviceKind::cpu) {
      ev.update(on_host(d.p, d.shape), on_host(d.t, d.shape),
                masked ? on_host(d.m, d.mask_shape) : TensorView{});
    } else {
      DeviceBytes p(d.p.data(), d.p.size() * dtype_size(d.p.dtype()));
      DeviceBytes t(d.t.data(), d.t.size() * dtype_size(d.t.dtype()));
      DeviceBytes m(d.m.data(), d.m.size());
      ev.update(on_device(p, d.p.dtype(), d.shape), on_device(t, d.t.dtype(), d.shape),
                masked ? on_device(m, DType::boolean, d.mask_shape) : TensorView{});
      GPUEVAL_CUDA_TRY(cudaDeviceSynchronize()); // the buffers are freed at scope end
    }
  }
  return ev.compute();
}

TEST(CudaBackend, SmallParityWithCpuForEveryKeyCount) {
  GPUEVAL_REQUIRE_DEVICE();
  for (std::int64_t k : {1, 3, 17, 20, 32, 33, 1000, 10000}) {
    RegressionSpec spec;
    spec.metrics = all_metrics();
    std::vector<Data> batches;
    batches.push_back(make(DType::f32, DType::f32, {9, k}, false, 0, 1));
    batches.push_back(make(DType::f32, DType::f32, {1, k}, false, 0, 2));
    batches.push_back(make(DType::f32, DType::f32, {130, k}, false, 0, 3));
    expect_parity(run(spec, Device::cpu(2), batches, false),
                  run(spec, Device::cuda(0), batches, false), "K=" + std::to_string(k));
  }
}

TEST(CudaBackend, SmallParityForDtypesMasksAndPolicies) {
  GPUEVAL_REQUIRE_DEVICE();
  const DType pairs[][2] = {{DType::bf16, DType::f32},
                            {DType::f16, DType::f16},
                            {DType::f64, DType::f64},
                            {DType::i32, DType::f32},
                            {DType::u8, DType::i64}};
  for (const auto& dt : pairs) {
    for (bool prefix : {false, true}) {
      for (NanPolicy policy : {NanPolicy::skip, NanPolicy::propagate}) {
        RegressionSpec spec;
        spec.nan_policy = policy;
        std::vector<Data> b = {make(dt[0], dt[1], {12, 25, 3}, prefix, 0.02, 7)};
        expect_parity(run(spec, Device::cpu(2), b, true), run(spec, Device::cuda(0), b, true),
                      std::string(dtype_name(dt[0])) + "/" + std::string(dtype_name(dt[1])));
      }
    }
  }
  RegressionSpec by; // breakdown by time: K = 25 * 3
  by.by_axis = 1;
  std::vector<Data> b = {make(DType::f32, DType::f32, {12, 25, 3}, true, 0, 8)};
  expect_parity(run(by, Device::cpu(2), b, true), run(by, Device::cuda(0), b, true), "by axis");
}

TEST(CudaBackend, SmallBitwiseRepeatableAndGraphCapturable) {
  GPUEVAL_REQUIRE_DEVICE();
  RegressionSpec spec;
  spec.sample_shape = {500, 20}; // workspace allocated at construction: capture-safe from the start
  const Data d = make(DType::f32, DType::f32, {16, 500, 20}, false, 0, 9);
  DeviceBytes p(d.p.data(), d.p.size() * 4), t(d.t.data(), d.t.size() * 4);
  const TensorView pv = on_device(p, DType::f32, d.shape), tv = on_device(t, DType::f32, d.shape);
  cudaStream_t stream;
  GPUEVAL_CUDA_TRY(cudaStreamCreate(&stream));
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
    graphed.update(pv, tv, {}, stream); // would fail capture if it synced or allocated
  }
  GPUEVAL_CUDA_TRY(cudaStreamEndCapture(stream, &graph));
  GPUEVAL_CUDA_TRY(cudaGraphInstantiate(&exec, graph, 0));
  GPUEVAL_CUDA_TRY(cudaGraphLaunch(exec, stream));
  EXPECT_EQ(graphed.compute(stream).to_json(), want);
  GPUEVAL_CUDA_TRY(cudaGraphExecDestroy(exec));
  GPUEVAL_CUDA_TRY(cudaGraphDestroy(graph));
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(stream));
}

TEST(CudaBackend, SmallMisalignedSlicedAndSeveralStreams) {
  GPUEVAL_REQUIRE_DEVICE();
  RegressionSpec spec;
  const Data d = make(DType::f32, DType::f32, {33, 7, 5}, false, 0, 10);
  const Report cpu = run(spec, Device::cpu(2), {d}, false);
  // Misaligned by one and three bytes.
  DeviceBytes p(d.p.data(), d.p.size() * 4, 1), t(d.t.data(), d.t.size() * 4, 3);
  cudaStream_t s1, s2;
  GPUEVAL_CUDA_TRY(cudaStreamCreate(&s1));
  GPUEVAL_CUDA_TRY(cudaStreamCreate(&s2));
  Evaluator a(spec, Device::cuda(0)), b(spec, Device::cuda(0));
  a.update(on_device(p, DType::f32, d.shape), on_device(t, DType::f32, d.shape), {}, s1);
  b.update(on_device(p, DType::f32, d.shape), on_device(t, DType::f32, d.shape), {}, s2);
  expect_parity(cpu, a.compute(s1), "misaligned, stream 1");
  expect_parity(cpu, b.compute(s2), "misaligned, stream 2");
  // Every other row of a [66, 7, 5] tensor.
  test::TypedBuffer big_p(DType::f32, 66 * 35), big_t(DType::f32, 66 * 35);
  for (std::size_t r = 0; r < 33; ++r) {
    std::memcpy(big_p.data() + (2 * r) * 140, d.p.data() + r * 140, 140);
    std::memcpy(big_t.data() + (2 * r) * 140, d.t.data() + r * 140, 140);
  }
  DeviceBytes bp(big_p.data(), 66 * 140), bt(big_t.data(), 66 * 140);
  TensorView sp = on_device(bp, DType::f32, d.shape), st = on_device(bt, DType::f32, d.shape);
  sp.strides[0] = st.strides[0] = 70;
  Evaluator c(spec, Device::cuda(0));
  c.update(sp, st);
  expect_parity(cpu, c.compute(), "sliced rows");
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(s1));
  GPUEVAL_CUDA_TRY(cudaStreamDestroy(s2));
}

TEST(CudaBackend, SmallNanPolicyErrorAndStatesAcrossBackends) {
  GPUEVAL_REQUIRE_DEVICE();
  RegressionSpec err;
  err.nan_policy = NanPolicy::error;
  Data d = make(DType::f64, DType::f64, {10, 4}, false, 0, 11);
  d.t.set(22, INFINITY);
  Evaluator ev(err, Device::cuda(0));
  DeviceBytes ok(make(DType::f64, DType::f64, {10, 4}, false, 0, 12).p.data(), 320);
  DeviceBytes p(d.p.data(), 320), t(d.t.data(), 320);
  ev.update(on_device(ok, DType::f64, d.shape), on_device(ok, DType::f64, d.shape));
  ev.update(on_device(p, DType::f64, d.shape), on_device(t, DType::f64, d.shape));
  try {
    (void)ev.compute();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.batch, 1u);
    EXPECT_EQ(e.element, 22u);
  }
  // A CUDA state merges into a CPU evaluator and back.
  RegressionSpec spec;
  const Data a = make(DType::f32, DType::f32, {50, 6}, false, 0, 13);
  const Data b = make(DType::f32, DType::f32, {70, 6}, false, 0, 14);
  Evaluator gpu(spec, Device::cuda(0)), cpu(spec, Device::cpu(2)), both(spec, Device::cpu(2));
  DeviceBytes ap(a.p.data(), a.p.size() * 4), at(a.t.data(), a.t.size() * 4);
  gpu.update(on_device(ap, DType::f32, a.shape), on_device(at, DType::f32, a.shape));
  cpu.update(on_host(b.p, b.shape), on_host(b.t, b.shape));
  both.update(on_host(a.p, a.shape), on_host(a.t, a.shape));
  both.update(on_host(b.p, b.shape), on_host(b.t, b.shape));
  cpu.merge(gpu.state());
  expect_parity(both.compute(), cpu.compute(), "cuda state into cpu");
  gpu.merge(Evaluator(spec, Device::cpu(1)).state()); // an empty CPU state changes nothing
  Evaluator back(spec, Device::cuda(0));
  back.merge(cpu.state());
  expect_parity(both.compute(), back.compute(), "cpu state into cuda");
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
