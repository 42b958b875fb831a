#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "gpueval/dtype.hpp"

namespace gpueval {
namespace {

std::uint16_t bits_of(_Float16 h) {
  std::uint16_t b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}

_Float16 half_of(std::uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, sizeof h);
  return h;
}

// Every one of the 65536 half values converts exactly (the compiler's _Float16 is the oracle).
TEST(DType, HalfToFloatIsExactForEveryValue) {
  for (std::uint32_t b = 0; b <= 0xffffu; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float want = static_cast<float>(half_of(bits));
    const float got = half_bits_to_float(bits);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << b;
    } else {
      ASSERT_EQ(std::memcmp(&want, &got, sizeof want), 0) << std::hex << b;
    }
  }
}

// float -> half rounds to nearest even like the compiler, on every half and on the midpoints
// between neighbours (the hard cases).
TEST(DType, FloatToHalfRoundsToNearestEven) {
  for (std::uint32_t b = 0; b <= 0xffffu; ++b) {
    const float f = static_cast<float>(half_of(static_cast<std::uint16_t>(b)));
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(f))));
      continue;
    }
    ASSERT_EQ(float_to_half_bits(f), b) << std::hex << b;
    const float next = std::nextafter(f, INFINITY);
    for (float x : {next, (f + static_cast<float>(half_of(static_cast<std::uint16_t>(b + 1)))) / 2,
                    std::nextafter(f, -INFINITY)}) {
      if (std::isfinite(x)) {
        ASSERT_EQ(float_to_half_bits(x), bits_of(static_cast<_Float16>(x))) << x;
      }
    }
  }
  EXPECT_EQ(float_to_half_bits(1e6f), 0x7c00u);
  EXPECT_EQ(float_to_half_bits(-1e6f), 0xfc00u);
  EXPECT_EQ(float_to_half_bits(65519.0f), 0x7bffu);
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7c00u);
}

TEST(DType, Bfloat16RoundTrip) {
  EXPECT_EQ(bf16_bits_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bf16_bits_to_float(0xc000), -2.0f);
  EXPECT_TRUE(std::isinf(bf16_bits_to_float(0x7f80)));
  EXPECT_TRUE(std::isnan(bf16_bits_to_float(0x7fc0)));
  for (std::uint32_t b = 0; b <= 0xffffu; ++b) {
    const float f = bf16_bits_to_float(static_cast<std::uint16_t>(b));
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_bf16_bits(f), b);
    }
  }
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1.0).
  EXPECT_EQ(float_to_bf16_bits(1.0f + 0x1p-8f), 0x3f80u);
  EXPECT_EQ(float_to_bf16_bits(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81u);
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::f64), 8u);
  EXPECT_EQ(dtype_size(DType::boolean), 1u);
  DType t;
  ASSERT_TRUE(parse_dtype("bfloat16", t));
  EXPECT_EQ(t, DType::bf16);
  ASSERT_TRUE(parse_dtype("f32", t));
  EXPECT_EQ(t, DType::f32);
  EXPECT_FALSE(parse_dtype("complex64", t));
  for (int i = 0; i < kNumDTypes; ++i) {
    ASSERT_TRUE(parse_dtype(dtype_name(static_cast<DType>(i)), t));
    EXPECT_EQ(static_cast<int>(t), i);
  }
}

} // namespace
} // namespace gpueval
