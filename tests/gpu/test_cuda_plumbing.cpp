// The CUDA plumbing on a real device: the shared ops compile for and agree on both sides, and
// CUDA failures become exceptions that name the call. Label `gpu`.
#include <cuda_runtime_api.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/regression_combine.hpp"
#include "gpu_test.hpp"
#include "gpueval/error.hpp"
#include "regression/aggregate.hpp"

namespace gpueval {
namespace {

std::vector<cuda::FullRecord> random_records(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  std::vector<cuda::FullRecord> out(n);
  for (auto& r : out) {
    const int pairs = static_cast<int>(rng() % 50);
    for (int i = 0; i < pairs; ++i) {
      const double t = 1e4 + z(rng);
      detail::FullOps::reduce(r, t + 0.3 * z(rng), t);
    }
  }
  return out;
}

TEST(CudaPlumbing, DeviceCombineAgreesWithHost) {
  GPUEVAL_REQUIRE_DEVICE();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{127},
                        std::size_t{128}, std::size_t{1000}, std::size_t{100000}}) {
    const auto records = random_records(n, n + 1);
    const cuda::FullRecord device = cuda::combine_on_device(records, nullptr);
    const cuda::FullRecord host =
        detail::tree_combine(records.data(), static_cast<std::int64_t>(n));
    EXPECT_EQ(device.n, host.n) << n;
    const ops::MetricValues dv = detail::FullOps::finalize(device);
    const ops::MetricValues hv = detail::FullOps::finalize(host);
    for (int m = 0; m < kNumMetrics; ++m) {
      if (std::isnan(hv.v[m])) {
        EXPECT_TRUE(std::isnan(dv.v[m])) << n << " metric " << m;
      } else {
        EXPECT_NEAR(dv.v[m], hv.v[m], 1e-12 * std::max(1.0, std::fabs(hv.v[m])))
            << n << " metric " << m;
      }
    }
    // Fixed tree: the same records give the same bits every time.
    const cuda::FullRecord again = cuda::combine_on_device(records, nullptr);
    EXPECT_EQ(std::memcmp(&again, &device, sizeof device), 0) << n;
  }
}

TEST(CudaPlumbing, FailuresNameTheCall) {
  GPUEVAL_REQUIRE_DEVICE();
  void* p = nullptr;
  try {
    GPUEVAL_CUDA_TRY(cudaMalloc(&p, std::size_t{1} << 60)); // more than any device has
    FAIL() << "no error";
  } catch (const CudaError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cudaMalloc(&p, std::size_t{1} << 60) failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorMemoryAllocation"), std::string::npos) << msg;
    EXPECT_NE(msg.find("test_cuda_plumbing.cpp"), std::string::npos) << msg;
  }
  // The error was cleared: the next call succeeds.
  GPUEVAL_CUDA_TRY(cudaMalloc(&p, 256));
  GPUEVAL_CUDA_TRY(cudaFree(p));
}

} // namespace
} // namespace gpueval
