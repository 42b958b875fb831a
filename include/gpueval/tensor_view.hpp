// A non-owning view of a tensor in host or device memory: pointer, dtype, shape and strides.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "gpueval/dtype.hpp"

namespace gpueval {

enum class DeviceKind : std::uint8_t { cpu, cuda };

// Rank is capped so that a view is a fixed-size value that can be passed to a kernel by value.
inline constexpr int kMaxRank = 8;

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::f32;
  int rank = 0;
  std::int64_t shape[kMaxRank] = {};
  // In elements, not bytes (the convention of torch, DLPack and numpy's strides / itemsize).
  // Any strides work: sliced, transposed, reversed and broadcast (zero-stride) views; a
  // contiguous last axis is read fastest.
  std::int64_t strides[kMaxRank] = {};
  DeviceKind device = DeviceKind::cpu;
  int device_index = 0;

  // A C-contiguous view of `shape`.
  static TensorView contiguous(const void* data, DType dtype,
                               std::initializer_list<std::int64_t> shape,
                               DeviceKind device = DeviceKind::cpu, int device_index = 0);
  static TensorView contiguous(const void* data, DType dtype, const std::int64_t* shape, int rank,
                               DeviceKind device = DeviceKind::cpu, int device_index = 0);

  std::int64_t numel() const;
  bool is_contiguous() const;
  // "[16, 500, 20] float32 on cpu", for error messages.
  std::string describe() const;
};

} // namespace gpueval
