// An error-quantile sketch (median_absolute_error, abs_error_q90, abs_error_q99): per channel,
// integer counts of |prediction - target| in logarithmic buckets, a
// DDSketch (Masson, Rim, Lee, VLDB 2019) whose index is read from the double's bits rather than
// computed with a logarithm, so that every backend puts a value in the same bucket, bit for bit.
//
//   bucket(|e|, m)        which bucket a value falls in: 0 for |e| < 2^-64 (zero included), then
//                         for 2^-64 <= |e| < 2^64 one bucket per binary exponent and top m bits
//                         of the mantissa, then one for |e| >= 2^64 (infinity included) and one
//                         for NaN. A bucket [lo, hi) has hi / lo <= 1 + 2^-m.
//   bucket_value(b, m)    the value reported for a bucket: 2 lo hi / (lo + hi), within
//                         alpha(m) = 2^-m / (2 + 2^-m) of every value in it, relatively.
//   quantile(counts, q)   the q-quantile by linear interpolation between the order statistics
//                         at q (n - 1) (numpy's default, hence scikit-learn's median), each read
//                         as its bucket's value: within alpha(m) of the exact quantile,
//                         relatively, for values in [2^-64, 2^64).
//
// Counts are integers: merging is exact, and the sketch is the same for any batch split, thread
// count or device. mantissa_bits_for(alpha) picks the fewest bits whose accuracy is alpha or
// better (alpha 0.5%: 7 bits, accuracy 0.39%, 16,387 buckets, 128 KiB per channel).
#pragma once

#include <cstdint>
#include <math.h>
#include <string.h>

#include "gpueval/macros.hpp"

namespace gpueval::ops::sketch {

inline constexpr int kMinExponent = -64; // buckets cover [2^-64, 2^64)
inline constexpr int kExponents = 128;
inline constexpr int kMinBits = 1;
inline constexpr int kMaxBits = 10;

GPUEVAL_HD inline std::int64_t buckets(int bits) {
  return (std::int64_t{kExponents} << bits) + 3;
}
GPUEVAL_HD inline std::uint32_t overflow_bucket(int bits) {
  return (std::uint32_t{kExponents} << bits) + 1;
}
GPUEVAL_HD inline std::uint32_t nan_bucket(int bits) {
  return (std::uint32_t{kExponents} << bits) + 2;
}

// The bucket of a = |prediction - target| (any sign is dropped).
GPUEVAL_HD inline std::uint32_t bucket(double a, int bits) {
  std::uint64_t u;
  memcpy(&u, &a, sizeof u);
  u &= ~(std::uint64_t{1} << 63);
  const auto biased = static_cast<int>(u >> 52);
  if (biased == 0x7ff) {
    return (u << 12) != 0 ? nan_bucket(bits) : overflow_bucket(bits);
  }
  const int exponent = biased - 1023; // subnormals and zero: far below kMinExponent
  if (exponent < kMinExponent) {
    return 0;
  }
  if (exponent >= kMinExponent + kExponents) {
    return overflow_bucket(bits);
  }
  const auto top = static_cast<std::uint32_t>((u >> (52 - bits)) & ((1u << bits) - 1));
  return 1 + (static_cast<std::uint32_t>(exponent - kMinExponent) << bits) + top;
}

// The relative accuracy of `bits` mantissa bits, and the fewest bits that give `alpha`.
inline double alpha(int bits) {
  const double w = ldexp(1.0, -bits);
  return w / (2.0 + w);
}
inline int mantissa_bits_for(double wanted) {
  int bits = kMinBits;
  while (bits < kMaxBits && alpha(bits) > wanted) {
    ++bits;
  }
  return bits;
}

inline double bucket_value(std::uint32_t b, int bits) {
  if (b == 0) {
    return 0.0;
  }
  if (b >= nan_bucket(bits)) {
    return NAN;
  }
  if (b >= overflow_bucket(bits)) {
    return INFINITY;
  }
  const std::uint32_t i = b - 1;
  const int exponent = static_cast<int>(i >> bits) + kMinExponent;
  const double step = ldexp(1.0, exponent - bits);
  const double lo = ldexp(1.0, exponent) + static_cast<double>(i & ((1u << bits) - 1)) * step;
  const double hi = lo + step;
  return 2.0 * lo * hi / (lo + hi);
}

// The value at 0-based rank r of the counts (r < their total).
inline double value_at_rank(const std::uint64_t* counts, int bits, std::uint64_t r) {
  std::uint64_t seen = 0;
  const auto n = static_cast<std::uint32_t>(buckets(bits));
  for (std::uint32_t b = 0; b < n; ++b) {
    seen += counts[b];
    if (seen > r) {
      return bucket_value(b, bits);
    }
  }
  return NAN;
}

// The q-quantile (0 <= q <= 1) of the counted values; NaN when there are none or any is NaN.
inline double quantile(const std::uint64_t* counts, int bits, double q) {
  std::uint64_t n = 0;
  const auto size = static_cast<std::uint32_t>(buckets(bits));
  for (std::uint32_t b = 0; b < size; ++b) {
    n += counts[b];
  }
  if (n == 0 || counts[nan_bucket(bits)] != 0) {
    return NAN;
  }
  const double pos = q * static_cast<double>(n - 1);
  const auto r0 = static_cast<std::uint64_t>(floor(pos));
  const std::uint64_t r1 = r0 + 1 < n ? r0 + 1 : r0;
  const double f = pos - static_cast<double>(r0);
  const double v0 = value_at_rank(counts, bits, r0);
  if (f == 0.0 || r1 == r0) {
    return v0;
  }
  const double v1 = value_at_rank(counts, bits, r1);
  return v0 == v1 ? v0 : v0 + f * (v1 - v0);
}

} // namespace gpueval::ops::sketch
