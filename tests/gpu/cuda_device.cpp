// The device under test of gpueval_gpu_tests: CUDA device 0, device memory.
#include <cuda_runtime_api.h>

#include "core/registry.hpp"
#include "cuda/cuda_check.hpp"
#include "device_cases.hpp"

namespace gpueval::test {

namespace {

class CudaDevice final : public DeviceUnderTest {
public:
  Device device() const override { return Device::cuda(0); }
  bool available(std::string* why) const override { return detail::cuda_device_count(why) > 0; }
  std::shared_ptr<const unsigned char> copy(const void* host, std::size_t bytes,
                                            std::size_t offset) override {
    void* base = nullptr;
    GPUEVAL_CUDA_TRY(cudaMalloc(&base, bytes + offset + 16)); // 256-byte aligned
    unsigned char* p = static_cast<unsigned char*>(base) + offset;
    if (bytes > 0) {
      GPUEVAL_CUDA_TRY(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    }
    return std::shared_ptr<const unsigned char>(p, [base](const unsigned char*) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaDeviceSynchronize()); // no kernel may still read it
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(base));
    });
  }
  void synchronize() override { GPUEVAL_CUDA_TRY(cudaDeviceSynchronize()); }
};

} // namespace

DeviceUnderTest& device_under_test() {
  static CudaDevice device;
  return device;
}

} // namespace gpueval::test
