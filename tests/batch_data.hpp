// Typed test batches: values generated in double, stored in any dtype, read back exactly as the
// library will read them.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpueval/dtype.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::test {

// A buffer of `count` elements of `dtype`, with room for a byte offset (misaligned views).
class TypedBuffer {
public:
  TypedBuffer(DType dtype, std::size_t count, std::size_t byte_offset = 0)
      : dtype_(dtype), count_(count), offset_(byte_offset),
        bytes_(count * dtype_size(dtype) + byte_offset + 16) {}

  void set(std::size_t i, double v) {
    unsigned char* dst = data() + i * dtype_size(dtype_);
    switch (dtype_) {
    case DType::f16: {
      const std::uint16_t b = float_to_half_bits(static_cast<float>(v));
      std::memcpy(dst, &b, 2);
      break;
    }
    case DType::bf16: {
      const std::uint16_t b = float_to_bf16_bits(static_cast<float>(v));
      std::memcpy(dst, &b, 2);
      break;
    }
    case DType::f32: {
      const float f = static_cast<float>(v);
      std::memcpy(dst, &f, 4);
      break;
    }
    case DType::f64:
      std::memcpy(dst, &v, 8);
      break;
    case DType::i8: {
      const auto x = static_cast<std::int8_t>(std::lround(v));
      std::memcpy(dst, &x, 1);
      break;
    }
    case DType::i16: {
      const auto x = static_cast<std::int16_t>(std::lround(v));
      std::memcpy(dst, &x, 2);
      break;
    }
    case DType::i32: {
      const auto x = static_cast<std::int32_t>(std::lround(v));
      std::memcpy(dst, &x, 4);
      break;
    }
    case DType::i64: {
      const auto x = static_cast<std::int64_t>(std::llround(v));
      std::memcpy(dst, &x, 8);
      break;
    }
    case DType::u8:
    case DType::boolean:
      *dst = static_cast<unsigned char>(std::lround(v));
      break;
    }
  }

  // The value as stored, converted exactly to double.
  double get(std::size_t i) const {
    const unsigned char* src = data() + i * dtype_size(dtype_);
    switch (dtype_) {
    case DType::f16: {
      std::uint16_t b;
      std::memcpy(&b, src, 2);
      return half_bits_to_float(b);
    }
    case DType::bf16: {
      std::uint16_t b;
      std::memcpy(&b, src, 2);
      return bf16_bits_to_float(b);
    }
    case DType::f32: {
      float f;
      std::memcpy(&f, src, 4);
      return f;
    }
    case DType::f64: {
      double d;
      std::memcpy(&d, src, 8);
      return d;
    }
    case DType::i8: {
      std::int8_t x;
      std::memcpy(&x, src, 1);
      return x;
    }
    case DType::i16: {
      std::int16_t x;
      std::memcpy(&x, src, 2);
      return x;
    }
    case DType::i32: {
      std::int32_t x;
      std::memcpy(&x, src, 4);
      return x;
    }
    case DType::i64: {
      std::int64_t x;
      std::memcpy(&x, src, 8);
      return static_cast<double>(x);
    }
    case DType::u8:
    case DType::boolean:
      return *src;
    }
    return 0;
  }

  unsigned char* data() { return bytes_.data() + offset_; }
  const unsigned char* data() const { return bytes_.data() + offset_; }
  DType dtype() const { return dtype_; }
  std::size_t size() const { return count_; }

  TensorView view(std::initializer_list<std::int64_t> shape) const {
    return TensorView::contiguous(data(), dtype_, shape);
  }
  TensorView view(const std::vector<std::int64_t>& shape) const {
    return TensorView::contiguous(data(), dtype_, shape.data(), static_cast<int>(shape.size()));
  }

private:
  DType dtype_;
  std::size_t count_;
  std::size_t offset_;
  std::vector<unsigned char> bytes_;
};

// Values that fit the dtype's range: integers get small integer values.
inline double sample_value(DType d, double mean, double spread, std::mt19937_64& rng) {
  std::normal_distribution<double> z;
  double v = mean + spread * z(rng);
  if (!dtype_is_float(d)) {
    v = std::round(std::fabs(v));
    v = std::fmin(v, 100.0);
  }
  return v;
}

// n float32 values, normal around `offset` with unit spread.
inline std::vector<float> noise(std::size_t n, double offset, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  std::vector<float> v(n);
  for (float& x : v) {
    x = static_cast<float>(offset + z(rng));
  }
  return v;
}

} // namespace gpueval::test
