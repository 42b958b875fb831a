// Whether CUDA is usable here. Any failure of the runtime's device query means no: 35
// (insufficient driver) where no driver is installed, 100 (no device) where none is visible.
#include <string>

#include "core/backend_factory.hpp"
#include "cuda/cuda_check.hpp"

namespace gpueval::detail {

int cuda_device_count(std::string* why_none) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    if (why_none != nullptr) {
      *why_none = "cudaGetDeviceCount: " + cuda::describe(status);
    }
    return 0;
  }
  if (count == 0 && why_none != nullptr) {
    *why_none = "cudaGetDeviceCount found no device";
  }
  return count;
}

} // namespace gpueval::detail
