// What every CUDA backend's host side shares: its device (made current around each call), the
// order of its work across the callers' streams (cuda/stream_order.hpp), the inputs it holds
// until the device has run their update, and the copies of its state to and from the host.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

#include "core/common.hpp"
#include "cuda/cuda_events.hpp"
#include "cuda/device_guard.hpp"
#include "gpueval/device.hpp"

namespace gpueval::cuda {

class BackendDevice {
public:
  explicit BackendDevice(int index);

  int index() const { return index_; }
  Device device() const { return Device::cuda(index_); }
  std::string describe() const; // "cuda:0 (NVIDIA H200)"

  // Around an operation that writes the state on `stream` (update, reset): before() orders it
  // after the last write on any stream, wrote() lets later operations wait for it. After an
  // update, updated() remembers its stream for hold().
  void before(cudaStream_t stream) { order_.before(stream); }
  void wrote(cudaStream_t stream) { order_.wrote(stream); }
  void updated(cudaStream_t stream);
  // Keeps `owner` until the last update has run (dropped at once when no update was enqueued
  // since the last hold: an empty batch).
  void hold(std::shared_ptr<void> owner);
  // Device to host after every earlier write on any stream; synchronises.
  void copy_out(void* host, const void* device, std::size_t bytes, StreamHandle stream) {
    copy(host, device, bytes, cudaMemcpyDeviceToHost, stream);
  }
  // Host to device after every earlier operation on any stream; synchronises (the host memory
  // must outlive the copy).
  void copy_in(void* device, const void* host, std::size_t bytes, StreamHandle stream) {
    copy(device, host, bytes, cudaMemcpyHostToDevice, stream);
  }
  // After a device-wide synchronisation (configure): nothing is pending.
  void settled() { order_.settled(); }
  // The position (encode_position) a kernel recorded with atomicMin in the device word `slot`,
  // after every earlier write; all ones: none. Synchronises.
  detail::NonFiniteLocation read_position(const unsigned long long* slot, StreamHandle stream);

private:
  void copy(void* to, const void* from, std::size_t bytes, cudaMemcpyKind kind,
            StreamHandle stream);

  int index_;
  std::string name_;
  cudaStream_t last_stream_ = nullptr;
  bool unheld_update_ = false;
  CudaStreamOrder order_;
};

} // namespace gpueval::cuda
