// The CUDA entry points of a build without the CUDA backend.
#include <string>

#include "core/backend_factory.hpp"
#include "core/class_backend.hpp"
#include "core/staging.hpp"
#include "gpueval/error.hpp"

namespace gpueval::detail {

int cuda_device_count(std::string* why_none) {
  if (why_none != nullptr) {
    *why_none = "this gpueval was built without CUDA (GPUEVAL_CUDA=OFF)";
  }
  return 0;
}

bool cuda_backend_available() {
  return false;
}

std::unique_ptr<Backend> make_cuda_backend(int index) {
  throw CudaError("device cuda:" + std::to_string(index) +
                  " is not usable: this gpueval was built without CUDA (GPUEVAL_CUDA=OFF)");
}

std::unique_ptr<ClassBackend> make_cuda_class_backend(int index) {
  throw CudaError("device cuda:" + std::to_string(index) +
                  " is not usable: this gpueval was built without CUDA (GPUEVAL_CUDA=OFF)");
}

std::unique_ptr<DeviceStaging> make_device_staging(int index, int, int, const std::uint64_t*) {
  throw CudaError("device cuda:" + std::to_string(index) +
                  " is not usable: this gpueval was built without CUDA (GPUEVAL_CUDA=OFF)");
}

} // namespace gpueval::detail

namespace gpueval {

std::string cuda_versions() {
  return "built without CUDA";
}

} // namespace gpueval
