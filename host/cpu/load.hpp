// Reading one element of any dtype as a double, exactly, from an address of any alignment.
// Shared by every family's CPU code.
#pragma once

#include <cstdint>
#include <cstring>

#include "gpueval/dtype.hpp"
#include "gpueval/macros.hpp"

namespace gpueval::cpu {

template <class T> GPUEVAL_FORCEINLINE double to_double(const unsigned char* src) {
  T v;
  std::memcpy(&v, src, sizeof v); // unaligned-safe
  return static_cast<double>(v);
}

template <DType D> GPUEVAL_FORCEINLINE double load_as_double(const unsigned char* src) {
  if constexpr (D == DType::f16 || D == DType::bf16) {
    std::uint16_t bits;
    std::memcpy(&bits, src, sizeof bits);
    return static_cast<double>(D == DType::f16 ? half_bits_to_float(bits)
                                               : bf16_bits_to_float(bits));
  } else if constexpr (D == DType::f32) {
    return to_double<float>(src);
  } else if constexpr (D == DType::f64) {
    return to_double<double>(src);
  } else if constexpr (D == DType::i8) {
    return to_double<std::int8_t>(src);
  } else if constexpr (D == DType::i16) {
    return to_double<std::int16_t>(src);
  } else if constexpr (D == DType::i32) {
    return to_double<std::int32_t>(src);
  } else if constexpr (D == DType::i64) {
    return to_double<std::int64_t>(src);
  } else { // u8, bool
    return static_cast<double>(*src);
  }
}

} // namespace gpueval::cpu
