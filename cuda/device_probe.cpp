// Whether CUDA is usable here. Any failure of the runtime's device query means no: 35
// (insufficient driver) where no NVIDIA driver is installed or it is older than the runtime, 100
// (no device) where none is visible. The reason names the likely cause and the runtime's words.
#include <cuda_runtime_api.h>

#include <string>

#include "core/registry.hpp"
#include "cuda/backends.hpp"
#include "cuda/cuda_check.hpp"

namespace gpueval::cuda {

namespace {

// "13.0" from a CUDA version number (13000).
std::string version_text(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// Any failure of the runtime's device query means no device; the reason in words.
int device_count(std::string* why_none) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError(); // clears the error this query just set
    if (why_none != nullptr) {
      std::string cause;
      if (status == cudaErrorInsufficientDriver) {
        int runtime = 0;
        (void)cudaRuntimeGetVersion(&runtime);
        cause = "no NVIDIA driver is loaded, or it is older than this build's CUDA runtime " +
                version_text(runtime) + " needs (CUDA 13 needs driver 580 or later)";
      } else if (status == cudaErrorNoDevice) {
        cause = "no CUDA device is visible (see nvidia-smi and CUDA_VISIBLE_DEVICES)";
      } else {
        cause = "the CUDA runtime could not query the devices";
      }
      *why_none = "no usable CUDA device: " + cause +
                  " [cudaGetDeviceCount: " + cuda::describe(status) + "]";
    }
    return 0;
  }
  if (count == 0 && why_none != nullptr) {
    *why_none = "no usable CUDA device: cudaGetDeviceCount found none";
  }
  return count;
}

std::string versions() {
  int runtime = 0, driver = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  const bool has_driver = cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0;
  (void)cudaGetLastError();
  return "CUDA runtime " + version_text(runtime) +
         (has_driver ? ", driver " + version_text(driver) : ", no driver");
}

} // namespace

void register_layer() {
  detail::register_cuda_layer({device_count, versions, make_staging});
}

} // namespace gpueval::cuda
