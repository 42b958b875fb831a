// Device memory owned by an object that knows its device: allocated once (when an evaluator is
// configured, before any graph capture), freed in the destructor under a device guard. No
// backend writes cudaMalloc/cudaFree pairs by hand.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "cuda/cuda_check.hpp"
#include "cuda/device_guard.hpp"

namespace gpueval::cuda {

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  // `bytes` (at least one byte is allocated, so that get() is never null) on device `device`.
  DeviceBuffer(int device, std::size_t bytes) : device_(device), bytes_(bytes) {
    DeviceGuard guard(device_);
    GPUEVAL_CUDA_TRY(cudaMalloc(&ptr_, bytes > 0 ? bytes : 1));
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : device_(o.device_), bytes_(std::exchange(o.bytes_, 0)),
        ptr_(std::exchange(o.ptr_, nullptr)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      device_ = o.device_;
      bytes_ = std::exchange(o.bytes_, 0);
      ptr_ = std::exchange(o.ptr_, nullptr);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T> T* as() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  explicit operator bool() const { return ptr_ != nullptr; }

private:
  void reset() noexcept {
    if (ptr_ == nullptr) {
      return;
    }
    int previous = 0;
    const bool restore = cudaGetDevice(&previous) == cudaSuccess && previous != device_;
    if (restore) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(device_));
    }
    GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(ptr_));
    if (restore) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(previous));
    }
    ptr_ = nullptr;
    bytes_ = 0;
  }

  int device_ = 0;
  std::size_t bytes_ = 0;
  void* ptr_ = nullptr;
};

} // namespace gpueval::cuda
