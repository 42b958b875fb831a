// Creates the backend for a device. Each backend's library defines its own factory function;
// the CUDA one exists only in CUDA builds.
#pragma once

#include <memory>
#include <string>

#include "core/backend.hpp"

namespace gpueval::detail {

std::unique_ptr<Backend> make_backend(Device device);
std::unique_ptr<Backend> make_cpu_backend(int threads);
// Present when built with GPUEVAL_CUDA; otherwise make_backend reports that CUDA is absent.
std::unique_ptr<Backend> make_cuda_backend(int index);
// The number of usable CUDA devices, 0 on any CUDA runtime error or in a CPU-only build.
int cuda_device_count(std::string* why_none);
// Whether this build has the CUDA evaluation kernels (auto selection uses CUDA only then).
bool cuda_backend_available();

} // namespace gpueval::detail
