// How kernels read batch tensors of any dtype and layout: a view with byte strides, element
// loads as double (misaligned data assembled from bytes, never a misaligned access), masks.
// Shared by every family's kernels.
#pragma once

#include <cstdint>

#include "gpueval/dtype.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::cuda {

// A batch tensor as the kernels see it: byte strides, so any layout (sliced, transposed,
// misaligned) works; contiguous views take the direct path.
struct DeviceView {
  const unsigned char* data = nullptr;
  DType dtype = DType::f32;
  int rank = 0;
  int itemsize = 4;
  bool contiguous = true;
  std::int64_t shape[kMaxRank] = {};
  std::int64_t strides[kMaxRank] = {}; // bytes
};

inline DeviceView device_view(const TensorView& v) {
  DeviceView d;
  d.data = static_cast<const unsigned char*>(v.data);
  d.dtype = v.dtype;
  d.rank = v.rank;
  d.itemsize = static_cast<int>(dtype_size(v.dtype));
  d.contiguous = v.is_contiguous();
  for (int i = 0; i < v.rank; ++i) {
    d.shape[i] = v.shape[i];
    d.strides[i] = v.strides[i] * d.itemsize;
  }
  return d;
}

// A batch's three tensors as kernels see them (has_mask false: no mask).
struct BatchViews {
  DeviceView pred, target, mask;
  bool has_mask = false;
};

inline BatchViews batch_views(const TensorView& pred, const TensorView& target,
                              const TensorView& mask) {
  BatchViews v;
  v.pred = device_view(pred);
  v.target = device_view(target);
  v.has_mask = mask.data != nullptr;
  if (v.has_mask) {
    v.mask = device_view(mask);
  }
  return v;
}

__device__ __forceinline__ std::int64_t byte_offset(const DeviceView& v, std::int64_t i) {
  if (v.contiguous) {
    return i * v.itemsize;
  }
  std::int64_t off = 0;
  for (int d = v.rank - 1; d >= 0; --d) {
    const std::int64_t n = v.shape[d];
    off += (i % n) * v.strides[d];
    i /= n;
  }
  return off;
}

// The element at p as a double. Naturally aligned addresses load the type directly; others
// are assembled from bytes, so misaligned data never makes a misaligned access.
__device__ __forceinline__ double load_at(const DeviceView& v, const unsigned char* p) {
  const bool aligned = (reinterpret_cast<std::uintptr_t>(p) & (v.itemsize - 1)) == 0;
  if (aligned) {
    switch (v.dtype) {
    case DType::f32:
      return *reinterpret_cast<const float*>(p);
    case DType::f64:
      return *reinterpret_cast<const double*>(p);
    case DType::f16:
      return half_bits_to_float(*reinterpret_cast<const std::uint16_t*>(p));
    case DType::bf16:
      return bf16_bits_to_float(*reinterpret_cast<const std::uint16_t*>(p));
    default:
      break;
    }
  }
  switch (v.dtype) {
  case DType::f16: {
    const std::uint16_t b = static_cast<std::uint16_t>(p[0] | (p[1] << 8));
    return half_bits_to_float(b);
  }
  case DType::bf16: {
    const std::uint16_t b = static_cast<std::uint16_t>(p[0] | (p[1] << 8));
    return bf16_bits_to_float(b);
  }
  case DType::f32: {
    std::uint32_t b = 0;
    for (int k = 3; k >= 0; --k) {
      b = (b << 8) | p[k];
    }
    return __uint_as_float(b);
  }
  case DType::f64: {
    unsigned long long b = 0;
    for (int k = 7; k >= 0; --k) {
      b = (b << 8) | p[k];
    }
    return __longlong_as_double(static_cast<long long>(b));
  }
  case DType::i8:
    return static_cast<double>(static_cast<signed char>(p[0]));
  case DType::i16:
    return static_cast<double>(static_cast<std::int16_t>(p[0] | (p[1] << 8)));
  case DType::i32: {
    std::uint32_t b = 0;
    for (int k = 3; k >= 0; --k) {
      b = (b << 8) | p[k];
    }
    return static_cast<double>(static_cast<std::int32_t>(b));
  }
  case DType::i64: {
    unsigned long long b = 0;
    for (int k = 7; k >= 0; --k) {
      b = (b << 8) | p[k];
    }
    return static_cast<double>(static_cast<long long>(b));
  }
  case DType::u8:
  case DType::boolean:
    return static_cast<double>(p[0]);
  }
  return 0.0;
}

__device__ __forceinline__ double load(const DeviceView& v, std::int64_t i) {
  return load_at(v, v.data + byte_offset(v, i));
}

__device__ __forceinline__ bool mask_at(const DeviceView& m, std::int64_t cover, std::int64_t i) {
  const unsigned char* p = m.data + byte_offset(m, i / cover);
  unsigned char any = 0;
  for (int k = 0; k < m.itemsize; ++k) {
    any |= p[k];
  }
  return any != 0;
}

} // namespace gpueval::cuda
