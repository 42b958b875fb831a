// CUDA status -> exception. Host C++ (g++ or nvcc); needs the CUDA runtime headers, so it lives
// under cuda/ and never in a public header.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

namespace gpueval::cuda {

// Throws CudaError("<call> failed: <name> (<code>): <description> at <file>:<line>"). Clears the
// runtime's last error first, so that a recoverable failure does not poison the next call.
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                   int line);
// For destructors: reports on stderr instead of throwing.
void report_cuda_error(cudaError_t status, const char* call, const char* file, int line) noexcept;
// After a kernel launch (cuda/launch.cuh): `status` is the launch's own result (bad
// configuration, no kernel image for this device), never the runtime's last error, which may
// belong to another library. Debug builds also synchronise `stream` (unless it is being
// captured into a graph) so that a fault is reported at its launch.
void check_launch(cudaError_t status, cudaStream_t stream, const char* what, const char* file,
                  int line);

// "no CUDA-capable device is detected (cudaErrorNoDevice, 100)"
std::string describe(cudaError_t status);

} // namespace gpueval::cuda

#define GPUEVAL_CUDA_TRY(call)                                                                     \
  do {                                                                                             \
    const cudaError_t gpueval_status_ = (call);                                                    \
    if (gpueval_status_ != cudaSuccess) {                                                          \
      ::gpueval::cuda::throw_cuda_error(gpueval_status_, #call, __FILE__, __LINE__);               \
    }                                                                                              \
  } while (0)

#define GPUEVAL_CUDA_TRY_NOTHROW(call)                                                             \
  do {                                                                                             \
    const cudaError_t gpueval_status_ = (call);                                                    \
    if (gpueval_status_ != cudaSuccess) {                                                          \
      ::gpueval::cuda::report_cuda_error(gpueval_status_, #call, __FILE__, __LINE__);              \
    }                                                                                              \
  } while (0)
