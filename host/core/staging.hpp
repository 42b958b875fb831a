// Host-to-device staging for readers that stream files to a GPU (gpu-eval's CUDA path): a ring
// of slots, each with pinned host buffers the reader fills and device buffers the fold reads.
// Uploads run on a copy stream of their own, so a slot's copy overlaps the previous slot's fold;
// the fold's stream waits for its slot's upload on the device, never on the host.
//
//   host(s, b)     the pinned buffer b of slot s, for the reader
//   upload(s, n)   enqueues the copy of each buffer's first n[b] bytes, then makes stream() wait
//   stream()       where the fold of an uploaded slot is enqueued (device(s, b) holds its bytes)
//   enqueued(s)    marks slot s's fold enqueued on stream()
//   wait_free(s)   blocks until slot s's upload and fold have run: its buffers may be reused
//
// Built with CUDA only (core/registry.hpp: make_device_staging throws CudaError elsewhere).
#pragma once

#include <cstdint>
#include <memory>

#include "gpueval/device.hpp"

namespace gpueval::detail {

class DeviceStaging {
public:
  virtual ~DeviceStaging() = default;
  virtual int slots() const = 0;
  virtual int buffers() const = 0;
  virtual std::uint64_t capacity(int buffer) const = 0;
  virtual unsigned char* host(int slot, int buffer) = 0;
  virtual const unsigned char* device(int slot, int buffer) const = 0;
  virtual void upload(int slot, const std::uint64_t* bytes) = 0;
  virtual StreamHandle stream() const = 0;
  virtual void enqueued(int slot) = 0;
  virtual void wait_free(int slot) = 0;
};

} // namespace gpueval::detail
