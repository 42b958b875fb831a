// The CUDA backend's entry point. The fused update kernels are the next step (they are not in
// this build); until they land an explicit CUDA device is an error that says so, and
// auto_select_device() keeps to the CPU.
#include <string>

#include "core/backend_factory.hpp"
#include "gpueval/error.hpp"

namespace gpueval::detail {

bool cuda_backend_available() {
  return false;
}

std::unique_ptr<Backend> make_cuda_backend(int index) {
  throw CudaError("device cuda:" + std::to_string(index) +
                  " is usable, but this gpueval build has no CUDA evaluation kernels yet; "
                  "use Device::cpu() (the CUDA device check and device-side merge are built)");
}

} // namespace gpueval::detail
