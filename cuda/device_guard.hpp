// Makes a CUDA device current for a scope and restores the caller's on exit.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/cuda_check.hpp"

namespace gpueval::cuda {

class DeviceGuard {
public:
  explicit DeviceGuard(int device) {
    GPUEVAL_CUDA_TRY(cudaGetDevice(&previous_));
    if (previous_ != device) {
      GPUEVAL_CUDA_TRY(cudaSetDevice(device));
    }
  }
  ~DeviceGuard() {
    int now = previous_;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(previous_));
    }
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
  int previous_ = 0;
};

} // namespace gpueval::cuda
