// Element types gpueval reads, and exact conversions of the 16-bit float formats.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "gpueval/macros.hpp"

namespace gpueval {

// Values: f16, bf16, f32, f64 and the integer types a target may have. Masks: bool or u8 (any
// integer type works; nonzero means "include").
enum class DType : std::uint8_t { f16, bf16, f32, f64, i8, i16, i32, i64, u8, boolean };

inline constexpr int kNumDTypes = 10;

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
  case DType::f16:
  case DType::bf16:
  case DType::i16:
    return 2;
  case DType::f32:
  case DType::i32:
    return 4;
  case DType::f64:
  case DType::i64:
    return 8;
  case DType::i8:
  case DType::u8:
  case DType::boolean:
    return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
  case DType::f16:
    return "float16";
  case DType::bf16:
    return "bfloat16";
  case DType::f32:
    return "float32";
  case DType::f64:
    return "float64";
  case DType::i8:
    return "int8";
  case DType::i16:
    return "int16";
  case DType::i32:
    return "int32";
  case DType::i64:
    return "int64";
  case DType::u8:
    return "uint8";
  case DType::boolean:
    return "bool";
  }
  return "?";
}

constexpr bool dtype_is_float(DType t) {
  return t == DType::f16 || t == DType::bf16 || t == DType::f32 || t == DType::f64;
}

// numpy.finfo(dtype).eps of a float type (the spacing of values near 1); 2^-52 for the others.
constexpr double dtype_epsilon(DType t) {
  switch (t) {
  case DType::f16:
    return 9.765625e-4; // 2^-10
  case DType::bf16:
    return 0.0078125; // 2^-7
  case DType::f32:
    return 1.1920928955078125e-7; // 2^-23
  default:
    return 2.220446049250313e-16; // 2^-52
  }
}

// The one place a dtype becomes a template argument: f(std::integral_constant<DType, D>{}) for
// t's D (uint8 and bool read alike, one byte, nonzero true: bool visits as uint8). Every switch
// over the dtypes that picks a template goes through here.
template <class F> decltype(auto) visit_dtype(DType t, F&& f) {
  using std::integral_constant;
  switch (t) {
  case DType::f16:
    return f(integral_constant<DType, DType::f16>{});
  case DType::bf16:
    return f(integral_constant<DType, DType::bf16>{});
  case DType::f32:
    return f(integral_constant<DType, DType::f32>{});
  case DType::f64:
    return f(integral_constant<DType, DType::f64>{});
  case DType::i8:
    return f(integral_constant<DType, DType::i8>{});
  case DType::i16:
    return f(integral_constant<DType, DType::i16>{});
  case DType::i32:
    return f(integral_constant<DType, DType::i32>{});
  case DType::i64:
    return f(integral_constant<DType, DType::i64>{});
  case DType::u8:
  case DType::boolean:
    break;
  }
  return f(integral_constant<DType, DType::u8>{});
}

// Parses the names dtype_name() prints, plus the short forms f16/bf16/f32/f64/u8.
// Returns false for an unknown name.
bool parse_dtype(std::string_view name, DType& out);

// IEEE binary16 bits -> float, exact (every half is a float). Branch-free, so that a CPU loop
// over many halves vectorises and the same code runs on the device (where the hardware
// conversion gives the same value).
GPUEVAL_HD inline float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  // normal numbers: rebias the exponent; inf and nan: all-ones exponent, payload kept
  const std::uint32_t normal = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  const std::uint32_t special = sign | 0x7f800000u | (mantissa << 13);
  std::uint32_t bits = exponent == 0x1fu ? special : normal;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  // zero and subnormals: mantissa * 2^-24, exact in float, with the sign
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  bits = sign;
  float signed_zero;
  std::memcpy(&signed_zero, &bits, sizeof signed_zero);
  const float sub = sign ? -magnitude : magnitude;
  return exponent == 0 ? (mantissa == 0 ? signed_zero : sub) : f;
}

// bfloat16 bits -> float, exact: bfloat16 is the top half of a float.
GPUEVAL_HD inline float bf16_bits_to_float(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// float -> bfloat16 bits, round to nearest even (NaN stays NaN). For tests and synthetic data.
GPUEVAL_HD inline std::uint16_t float_to_bf16_bits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

// float -> IEEE binary16 bits, round to nearest even, overflow to inf. For tests and synthetic
// data.
GPUEVAL_HD inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) {
    return static_cast<std::uint16_t>(sign | 0x7e00u);
  }
  if (abs >= 0x477ff000u) { // rounds to >= 65520: inf
    return static_cast<std::uint16_t>(sign | 0x7c00u);
  }
  if (abs < 0x38800000u) { // below the smallest normal half: subnormal or zero
    // value * 2^24 rounded to nearest even is the subnormal mantissa.
    float a;
    std::memcpy(&a, &abs, sizeof a);
    const float scaled = a * 16777216.0f; // exact: a power of two
    std::uint32_t m = static_cast<std::uint32_t>(scaled);
    const float rest = scaled - static_cast<float>(m);
    if (rest > 0.5f || (rest == 0.5f && (m & 1u))) {
      ++m;
    }
    return static_cast<std::uint16_t>(sign | m);
  }
  // normal: rebias exponent, round the 13 dropped bits to nearest even
  std::uint32_t h = ((abs >> 13) - (112u << 10));
  const std::uint32_t dropped = abs & 0x1fffu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (h & 1u))) {
    ++h;
  }
  return static_cast<std::uint16_t>(sign | h);
}

} // namespace gpueval
