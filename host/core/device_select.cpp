// Device selection: explicit devices, and auto_select_device().
#include <atomic>
#include <cstdio>
#include <string>

#include "core/common.hpp"
#include "core/registry.hpp"
#include "gpueval/error.hpp"

namespace gpueval {

Device auto_select_device() {
  std::string why;
  if (detail::cuda_device_count(&why) > 0) {
    return Device::cuda(0);
  }
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) {
    std::fprintf(stderr, "gpueval: no usable CUDA device (%s); using the CPU\n", why.c_str());
  }
  return Device::cpu();
}

bool cuda_backend_built() {
  return detail::cuda_backend_available();
}

namespace detail {

void require_usable(Device device) {
  if (device.kind == DeviceKind::cpu) {
    GPUEVAL_EXPECTS(device.threads >= 0,
                    "cpu thread count " + std::to_string(device.threads) + " is negative");
    return;
  }
  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) {
    throw CudaError("device cuda:" + std::to_string(device.index) + " is not usable: " + why +
                    "; evaluate on the CPU with device \"cpu\" (or \"auto\", which picks a GPU "
                    "only where one is usable)");
  }
  if (device.index < 0 || device.index >= count) {
    throw CudaError("device cuda:" + std::to_string(device.index) + " does not exist; " +
                    std::to_string(count) + " CUDA device(s) are visible");
  }
}

} // namespace detail
} // namespace gpueval
