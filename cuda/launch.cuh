// Kernel launches: every kernel of the CUDA backend starts through GPUEVAL_LAUNCH, which uses
// cudaLaunchKernelEx so that the launch's own status is checked (the runtime's last error may be
// another library's, and clearing or reporting it would blame gpueval for it).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda/cuda_check.hpp"

namespace gpueval::cuda {

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, const char* what, const char* file, int line, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  check_launch(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), stream, what, file,
               line);
}

} // namespace gpueval::cuda

// GPUEVAL_LAUNCH(kernel, grid, block, shared_bytes, stream, args...)
#define GPUEVAL_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)                             \
  ::gpueval::cuda::launch((kernel), (grid), (block), (shared_bytes), (stream), #kernel, __FILE__,  \
                          __LINE__, __VA_ARGS__)
