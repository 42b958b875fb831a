// The hot loop of the CPU backend. This file is compiled once per instruction set (baseline
// x86-64, AVX2, AVX-512F), each time into its own namespace GPUEVAL_ISA_NS, and
// regression_dispatch.cpp picks one at run time by the CPU's features: no global -march, binaries
// travel.
//
// Why not target_clones: GCC lowers generic vector code for the baseline target before it clones
// a function, so the lane-mask selects of the masked fold came out lane by lane in every clone
// (184 M pairs/s against 601 M compiled for AVX-512). Why this is safe: every entry point is
// `flatten`, so everything it calls is inlined into it and no ISA-specific out-of-line copy of a
// shared inline function is emitted for the linker to pick for baseline callers; a test
// (scripts/check-isa-objects) checks that these objects define no symbol but their entry points.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "cpu/load.hpp"
#include "cpu/regression_lanes.hpp"
#include "gpueval/ops/quantile_sketch.hpp"

#ifndef GPUEVAL_ISA_NS
#error "compile regression_kernels.cpp with -DGPUEVAL_ISA_NS=<namespace> (see CMakeLists.txt)"
#endif

namespace gpueval::cpu {
// Eight lanes as one GCC vector: 1 zmm with AVX-512, 2 ymm with AVX2, 4 xmm otherwise.
typedef double v8d __attribute__((vector_size(64)));
typedef long long v8i __attribute__((vector_size(64)));
typedef unsigned long long v8u64 __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i32 __attribute__((vector_size(32)));
typedef unsigned int v8u32 __attribute__((vector_size(32)));
typedef unsigned short v8u16 __attribute__((vector_size(16)));
} // namespace gpueval::cpu

namespace gpueval::ops {
// Selects as bit operations on all-ones/all-zeros lane masks: GCC lowers a vector ?: with a
// computed condition lane by lane, this to one blend per vector.
template <> struct Math<cpu::v8d> {
  using V = cpu::v8d;
  using Mask = cpu::v8i;
  static V abs(V x) { // clears the sign bit, as fabs does
    return reinterpret_cast<V>(reinterpret_cast<Mask>(x) & 0x7fffffffffffffffLL);
  }
  static V select(Mask m, V a, V b) {
    return reinterpret_cast<V>((m & reinterpret_cast<Mask>(a)) | (~m & reinterpret_cast<Mask>(b)));
  }
  // a > b ? a : b and a < b ? a : b, lane by lane: what maxpd and minpd compute (NaN and signed
  // zeros included: the second operand unless the first compares greater, or less), one
  // instruction per register where the selects took a compare and a blend.
  static V max(V a, V b) {
#if defined(__AVX512F__)
    return reinterpret_cast<V>(
        _mm512_max_pd(reinterpret_cast<__m512d>(a), reinterpret_cast<__m512d>(b)));
#else
    return select(reinterpret_cast<Mask>(a > b), a, b);
#endif
  }
  static V min(V a, V b) {
#if defined(__AVX512F__)
    return reinterpret_cast<V>(
        _mm512_min_pd(reinterpret_cast<__m512d>(a), reinterpret_cast<__m512d>(b)));
#else
    return select(reinterpret_cast<Mask>(a < b), a, b);
#endif
  }
  static V splat(double x) {
    return V{} + x;
  }
  static V mul_add(V a, V b, V c) {
    return a * b + c;
  } // not contracted: -ffp-contract=off
  static Mask is_zero(V x) {
    return reinterpret_cast<Mask>(x == 0.0);
  }
  static Mask both(Mask a, Mask b) {
    return a & b;
  }
  static Mask either(Mask a, Mask b) {
    return a | b;
  }
  static Mask negate(Mask a) {
    return ~a;
  }
  static Mask less(V a, V b) {
    return reinterpret_cast<Mask>(a < b);
  }

  // Whether every lane of m is set.
  static bool all(Mask m) {
#if defined(__AVX512F__)
    return _mm512_cmpeq_epi64_mask(reinterpret_cast<__m512i>(m), _mm512_set1_epi64(-1)) == 0xff;
#else
    const Mask r = m & __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3);
    return (r[0] & r[1] & r[2] & r[3]) == -1;
#endif
  }

  // 2 atanh(f) = log((1 + f) / (1 - f)) for |f| <= 0.1716, on eight lanes (libm's are scalar
  // calls): 2f + 2f s Q(s), s = f^2 <= 0.0295, Q the Taylor series 1/3 + s/5 + ... + s^9/21 (the
  // next term, s^11/23 relative to the result, is below 1e-18). 2f is exact and the correction
  // is at most 1% of it, so the sum is within an ulp of the series' value. Q by Estrin's scheme:
  // after s, the longest chain is three products, a multiply-add and a sum where Horner's was
  // twenty-four operations, which lets the out-of-order core overlap the groups of a tile (perf:
  // Horner's chain held most of the samples of the fold with every statistic group).
  static V two_atanh(V f) {
    const V s = f * f, s2 = s * s, s4 = s2 * s2, s8 = s4 * s4;
    const V a0 = (1.0 / 3) + s * (1.0 / 5), a1 = (1.0 / 7) + s * (1.0 / 9);
    const V a2 = (1.0 / 11) + s * (1.0 / 13), a3 = (1.0 / 15) + s * (1.0 / 17);
    const V a4 = (1.0 / 19) + s * (1.0 / 21);
    const V q = (a0 + s2 * a1) + s4 * (a2 + s2 * a3) + s8 * a4;
    const V two_f = 2.0 * f;
    return two_f + (two_f * s) * q;
  }
  // msle's d = log((1 + p) / (1 + t)) on eight lanes, as k ln 2 + 2 atanh(f), for lanes with
  // p, t >= 0 (the others' results are unspecified: callers select them away):
  //   `small` lanes (|e| < (1 + t) / 4, e = p - t: the ratio within 1/4 of 1):
  //     f = e / (2 + p + t) = (r - 1) / (r + 1), k = 0, formed halved (e/2 over
  //     (p/2 + t/2) + 1: the same bits, and no overflow for p + t past the largest double); no
  //     ratio is formed, so no digit of a ratio near 1 is rounded away (what log1p would keep).
  //   the others: r = 2^k m, m in [sqrt(1/2), sqrt(2)), f = (m - 1) / (m + 1); a subnormal r
  //     (t past 4.5e307, p small) is scaled by 2^54 first so that its exponent bits are k's.
  // A vector whose lanes are all `easy` (small, or selected away by the caller) takes one
  // division; others two. A lane's bits do not depend on which its vector took: small lanes get
  // the same operands either way. ln 2 is split so that k * ln2_hi is exact (fdlibm's
  // constants); with k = 0 both products are 0.
  static V log_ratio(Mask small, Mask easy, V e, V p, V t) {
    const V one = splat(1.0);
    V num = 0.5 * e, den = (0.5 * p + 0.5 * t) + 1.0, k = splat(0.0);
    if (!all(easy)) {
      V r = (one + p) / (one + t);
      const Mask subnormal = reinterpret_cast<Mask>(r < 2.2250738585072014e-308);
      r = select(subnormal, r * 18014398509481984.0, r); // 2^54
      const Mask bits = reinterpret_cast<Mask>(r);
      const Mask exponent = (bits >> 52) & 0x7ff;
      V m = reinterpret_cast<V>((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL); // [1, 2)
      // The biased exponent as a double without an int64 conversion instruction: 2^52 + e - 2^52.
      V kr = reinterpret_cast<V>(exponent | 0x4330000000000000LL) - 4503599627370496.0 - 1023.0;
      kr = select(subnormal, kr - 54.0, kr);
      const Mask high = reinterpret_cast<Mask>(m > 1.4142135623730951);
      m = select(high, m * 0.5, m);
      kr = select(high, kr + 1.0, kr);
      num = select(small, num, m - 1.0);
      den = select(small, den, m + 1.0);
      k = select(small, k, kr);
    }
    const V f = num / den;
    return k * 6.93147180369123816490e-01 + (k * 1.90821492927058770002e-10 + two_atanh(f));
  }
};
} // namespace gpueval::ops

namespace gpueval::cpu::GPUEVAL_ISA_NS {

namespace {

static_assert(kBlockLanes == 8, "v8d holds one block");

// Where a fold reads its values: element i as a double, eight from i on as a vector, and the
// source from element i on. Staged doubles, or values where they are, converted in registers
// (exactly, as load_as_double converts them: the fold sees the same doubles either way).
struct FromDoubles {
  const double* p;
  GPUEVAL_FORCEINLINE double at(int i) const { return p[i]; }
  GPUEVAL_FORCEINLINE v8d vec(int i) const {
    v8d v;
    std::memcpy(&v, p + i, sizeof v);
    return v;
  }
  GPUEVAL_FORCEINLINE FromDoubles from(int i) const { return {p + i}; }
};

template <DType D> struct FromRaw {
  const unsigned char* p;
  static constexpr int kItem = static_cast<int>(dtype_size(D));
  GPUEVAL_FORCEINLINE double at(int i) const {
    return load_as_double<D>(p + static_cast<std::ptrdiff_t>(i) * kItem);
  }
  GPUEVAL_FORCEINLINE v8d vec(int i) const {
    const unsigned char* src = p + static_cast<std::ptrdiff_t>(i) * kItem;
    if constexpr (D == DType::f64) {
      v8d v;
      std::memcpy(&v, src, sizeof v);
      return v;
    } else if constexpr (D == DType::f32) {
#if defined(__AVX512F__) // one vcvtps2pd (GCC splits the generic form into halves)
      return reinterpret_cast<v8d>(
          _mm512_cvtps_pd(_mm256_loadu_ps(reinterpret_cast<const float*>(src))));
#else
      v8f f;
      std::memcpy(&f, src, sizeof f);
      return __builtin_convertvector(f, v8d);
#endif
    } else if constexpr (D == DType::bf16) { // the top half of a float
#if defined(__AVX512F__)
      const __m256i w = _mm256_slli_epi32(
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src))), 16);
      return reinterpret_cast<v8d>(_mm512_cvtps_pd(_mm256_castsi256_ps(w)));
#else
      v8u16 h;
      std::memcpy(&h, src, sizeof h);
      return __builtin_convertvector(reinterpret_cast<v8f>(__builtin_convertvector(h, v8u32) << 16),
                                     v8d);
#endif
    } else { // f16, finite (the caller checked): built from the bits in double lanes
      static_assert(D == DType::f16, "a fold reads f64, f32, bf16 or f16 in place");
      v8u16 h;
      std::memcpy(&h, src, sizeof h);
      const v8u64 w = __builtin_convertvector(h, v8u64);
      const v8u64 sign = (w & 0x8000) << 48;
      const v8u64 exponent = (w >> 10) & 0x1f, mantissa = w & 0x3ff;
      // normal: rebias 15 -> 1023; zero and subnormals: mantissa * 2^-24 (exact; no subnormal
      // operand, so a flush-to-zero mode cannot change it)
      const v8u64 normal = sign | ((exponent + 1008) << 52) | (mantissa << 42);
      const v8d small = __builtin_convertvector(__builtin_convertvector(mantissa, v8i32), v8d) *
                        5.9604644775390625e-8;
      const v8u64 small_bits = reinterpret_cast<v8u64>(small) | sign;
      return reinterpret_cast<v8d>(exponent == 0 ? small_bits : normal);
    }
  }
  GPUEVAL_FORCEINLINE FromRaw from(int i) const {
    return {p + static_cast<std::ptrdiff_t>(i) * kItem};
  }
};

// A block's runs as vectors: the compiler keeps these in registers across a whole tile, which it
// will not do for the block's arrays in memory.
struct VecRun {
  v8d k, w, skipped, p0, t0, e0, s1p, s1t, s1e, s2p, s2t, s2e, spt, sum_abs_e, max_abs_e;
  v8d min_t, max_t, sum_ape, sum_sape, sum_sle, n_sle_out_of_domain;
};

// clang-format off
#define GPUEVAL_VEC_FIELDS(X)                                                                    \
  X(k) X(w) X(skipped) X(p0) X(t0) X(e0) X(s1p) X(s1t) X(s1e) X(s2p) X(s2t) X(s2e) X(spt)           \
  X(sum_abs_e) X(max_abs_e) X(min_t) X(max_t) X(sum_ape) X(sum_sape) X(sum_sle)                 \
  X(n_sle_out_of_domain)
// clang-format on

GPUEVAL_FORCEINLINE VecRun load_block(const LaneBlock& b) {
  VecRun v;
#define GPUEVAL_LOAD(f) std::memcpy(&v.f, b.f, sizeof v.f);
  GPUEVAL_VEC_FIELDS(GPUEVAL_LOAD)
#undef GPUEVAL_LOAD
  return v;
}

GPUEVAL_FORCEINLINE void store_block(const VecRun& v, LaneBlock& b) {
#define GPUEVAL_STORE(f) std::memcpy(b.f, &v.f, sizeof v.f);
  GPUEVAL_VEC_FIELDS(GPUEVAL_STORE)
#undef GPUEVAL_STORE
}

// One block of lanes over `groups` groups: pair g*stride + j goes to lane j. kFast: every pair is
// included and finite, and the runs have their shifts except, when `fresh`, in the first group.
// Otherwise include/skipped select pairs (pair g*stride + j's at g*istride + j); `finite_included`
// says every included value is finite (nan_policy skip or error, or a tile whose included values
// are all finite), which lets whole vectors fold with run_fold_masked.
template <unsigned G, bool kFast, int kWidth, bool kWeighted = false, class P = FromDoubles,
          class T = FromDoubles>
GPUEVAL_FORCEINLINE void fold_block(LaneBlock& block, int width, int groups, int stride,
                                    int istride, bool fresh, bool finite_included, P p, T t,
                                    const double* __restrict include,
                                    const double* __restrict skipped) {
  using Ops = ops::RegressionOps<G>;
  const int w = kWidth > 0 ? kWidth : width;
  int g = 0;
  if (kFast && fresh) {
    for (int j = 0; j < w; ++j) {
      LaneRef r = lane_ref(block, j);
      Ops::template run_fold<false>(r, p.at(j), t.at(j), true);
    }
    g = 1;
  }
  if constexpr (kFast && kWidth == kBlockLanes) {
    // Whole vectors: the same run_fold_started on eight lanes at once.
    VecRun v = load_block(block);
    // Counts once for the groups (integers: the same doubles as adding 1 a group).
    const double folded = groups - g;
    for (; g < groups; ++g) {
      Ops::template run_fold_started<false>(v, p.vec(g * stride), t.vec(g * stride));
    }
    v.k += folded;
    v.w += folded;
    store_block(v, block);
    return;
  }
  if constexpr (!kFast && kWidth == kBlockLanes) {
    if (finite_included) {
      VecRun v = load_block(block);
      for (; g < groups; ++g) {
        // Everything here is double arithmetic or compares: 64-bit integer compares would be
        // lowered lane by lane for the baseline target before this is inlined into a clone.
        const v8d pv = p.vec(g * stride), tv = t.vec(g * stride);
        v8d skip, inc;
        std::memcpy(&inc, include + g * istride, sizeof inc);
        std::memcpy(&skip, skipped + g * istride, sizeof skip);
        // Unweighted (a mask), every weight is the constant 1: no products by it in the loop.
        Ops::run_fold_masked(v, pv, tv, reinterpret_cast<v8i>(inc != 0.0),
                             kWeighted ? inc : ops::Math<v8d>::splat(1.0));
        v.skipped += skip;
      }
      store_block(v, block);
      return;
    }
  }
  for (; g < groups; ++g) {
    const int base = g * stride, ibase = g * istride;
    for (int j = 0; j < w; ++j) {
      LaneRef r = lane_ref(block, j);
      if constexpr (kFast) {
        Ops::run_fold_started(r, p.at(base + j), t.at(base + j));
      } else {
        Ops::template run_fold<true>(r, p.at(base + j), t.at(base + j), include[ibase + j] != 0.0,
                                     kWeighted ? include[ibase + j] : 1.0);
        r.skipped += skipped[ibase + j];
      }
    }
  }
}

template <unsigned G, bool kFast, bool kWeighted = false, class P, class T>
GPUEVAL_FORCEINLINE void fold_impl(LaneBlock* blocks, int lane0, int count, int groups, int stride,
                                   int istride, bool fresh, bool finite_included, P p, T t,
                                   const double* include, const double* skipped) {
  LaneBlock* b = blocks + lane0 / kBlockLanes;
  int i = 0;
  for (; i + kBlockLanes <= count; i += kBlockLanes, ++b) {
    fold_block<G, kFast, kBlockLanes, kWeighted>(
        *b, kBlockLanes, groups, stride, istride, fresh, finite_included, p.from(i), t.from(i),
        include + (kFast ? 0 : i), skipped + (kFast ? 0 : i));
  }
  if (i < count) { // a partial block: the same math, fewer lanes
    fold_block<G, kFast, 0, kWeighted>(*b, count - i, groups, stride, istride, fresh,
                                       finite_included, p.from(i), t.from(i),
                                       include + (kFast ? 0 : i), skipped + (kFast ? 0 : i));
  }
}

#define GPUEVAL_FOLD(G)                                                                            \
  __attribute__((flatten)) void fold_fast_##G(LaneBlock* blocks, int lane0, int count, int groups, \
                                              int stride, bool fresh, const double* p,             \
                                              const double* t) {                                   \
    fold_impl<G, true>(blocks, lane0, count, groups, stride, stride, fresh, true, FromDoubles{p},  \
                       FromDoubles{t}, nullptr, nullptr);                                          \
  }                                                                                                \
  __attribute__((flatten)) void fold_general_##G(LaneBlock* blocks, int lane0, int count,          \
                                                 int groups, int stride, bool finite_included,     \
                                                 bool weighted, const double* p, const double* t,  \
                                                 const double* include, const double* skipped) {   \
    if (weighted) {                                                                                \
      fold_impl<G, false, true>(blocks, lane0, count, groups, stride, stride, false,               \
                                finite_included, FromDoubles{p}, FromDoubles{t}, include,          \
                                skipped);                                                          \
    } else {                                                                                       \
      fold_impl<G, false, false>(blocks, lane0, count, groups, stride, stride, false,              \
                                 finite_included, FromDoubles{p}, FromDoubles{t}, include,         \
                                 skipped);                                                         \
    }                                                                                              \
  }

GPUEVAL_FOLD(0)
GPUEVAL_FOLD(1)
GPUEVAL_FOLD(2)
GPUEVAL_FOLD(3)
GPUEVAL_FOLD(4)
GPUEVAL_FOLD(5)
GPUEVAL_FOLD(6)
GPUEVAL_FOLD(7)

#undef GPUEVAL_FOLD

// FoldFast reading the values where they are.
template <unsigned G, DType P, DType T>
__attribute__((flatten)) void fold_fast_from(LaneBlock* blocks, int lane0, int count, int groups,
                                             int stride, bool fresh, const unsigned char* p,
                                             const unsigned char* t) {
  fold_impl<G, true>(blocks, lane0, count, groups, stride, stride, fresh, true, FromRaw<P>{p},
                     FromRaw<T>{t}, nullptr, nullptr);
}

// FoldMaskedFrom: the general fold of finite values where they are, unweighted.
template <unsigned G, DType P, DType T>
__attribute__((flatten)) void fold_masked_from(LaneBlock* blocks, int lane0, int count, int groups,
                                               int stride, int istride, const unsigned char* p,
                                               const unsigned char* t, const double* include,
                                               const double* skipped) {
  fold_impl<G, false, false>(blocks, lane0, count, groups, stride, istride, false, true,
                             FromRaw<P>{p}, FromRaw<T>{t}, include, skipped);
}

// No element is an infinity or a NaN: its exponent bits are not all ones. An integer
// OR-reduction, so the loop runs on vector lanes with no floating-point dependency chain.
template <class U, U kExponent>
__attribute__((flatten)) bool all_finite(const unsigned char* src, std::int64_t n) {
  int bad = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, src + i * static_cast<std::int64_t>(sizeof u), sizeof u);
    bad |= (u & kExponent) == kExponent ? 1 : 0;
  }
  return bad == 0;
}

// ops::sketch::bucket without branches, so that the loop runs on vector lanes: every case is
// computed and the right one selected. U is std::uint64_t or v8u64 (eight lanes at once).
template <class U> GPUEVAL_FORCEINLINE U bucket_bits(U u, int bits) {
  namespace sk = ops::sketch;
  const std::uint64_t nan = sk::nan_bucket(bits), overflow = sk::overflow_bucket(bits);
  const std::uint64_t top_mask = (std::uint64_t{1} << bits) - 1;
  u &= ~(std::uint64_t{1} << 63);
  const U biased = u >> 52; // exponent + 1023
  const U normal =
      1 + ((biased - (1023 + sk::kMinExponent)) << bits) + ((u >> (52 - bits)) & top_mask);
  const U zero = u & 0, all_nan = zero + nan, all_overflow = zero + overflow;
  U b = biased < 1023 + sk::kMinExponent ? zero : normal;
  b = biased >= 1023 + sk::kMinExponent + sk::kExponents ? all_overflow : b;
  return biased == 0x7ff && (u << 12) != 0 ? all_nan : b;
}

// The buckets of n pairs read through sources P and T (staged doubles, or values where they
// are): eight a vector, then one at a time.
template <class P, class T>
GPUEVAL_FORCEINLINE void buckets_of(P p, T t, int n, int bits, std::uint32_t* out) {
  int i = 0;
  for (; i + kBlockLanes <= n; i += kBlockLanes) {
    const v8d a = p.vec(i) - t.vec(i);
    const v8u32 b = __builtin_convertvector(bucket_bits(reinterpret_cast<v8u64>(a), bits), v8u32);
    std::memcpy(out + i, &b, sizeof b);
  }
  for (; i < n; ++i) {
    const double a = p.at(i) - t.at(i);
    std::uint64_t u;
    std::memcpy(&u, &a, sizeof u);
    out[i] = static_cast<std::uint32_t>(bucket_bits(u, bits));
  }
}

__attribute__((flatten)) void sketch_buckets(const double* p, const double* t, int n, int bits,
                                             std::uint32_t* out) {
  buckets_of(FromDoubles{p}, FromDoubles{t}, n, bits, out);
}

template <DType P, DType T>
__attribute__((flatten)) void sketch_buckets_from(const unsigned char* p, const unsigned char* t,
                                                  int n, int bits, std::uint32_t* out) {
  buckets_of(FromRaw<P>{p}, FromRaw<T>{t}, n, bits, out);
}

// The in-place kernels of one dtype pair, by statistic groups.
template <DType P, DType T> struct FromKernels {
  static FoldFastFrom fast(unsigned groups) {
    static constexpr FoldFastFrom table[8] = {fold_fast_from<0, P, T>, fold_fast_from<1, P, T>,
                                              fold_fast_from<2, P, T>, fold_fast_from<3, P, T>,
                                              fold_fast_from<4, P, T>, fold_fast_from<5, P, T>,
                                              fold_fast_from<6, P, T>, fold_fast_from<7, P, T>};
    return table[groups & kAllGroups];
  }
  static FoldMaskedFrom masked(unsigned groups) {
    static constexpr FoldMaskedFrom table[8] = {
        fold_masked_from<0, P, T>, fold_masked_from<1, P, T>, fold_masked_from<2, P, T>,
        fold_masked_from<3, P, T>, fold_masked_from<4, P, T>, fold_masked_from<5, P, T>,
        fold_masked_from<6, P, T>, fold_masked_from<7, P, T>};
    return table[groups & kAllGroups];
  }
  static SketchBucketsFrom buckets(unsigned) { return sketch_buckets_from<P, T>; }
};

// Kernels<P, T>::kind(groups) for the dtype pairs read in place: predictions of any float type
// with targets of the same type or float32; nullptr for the others.
template <class Pick> auto from_kernels(DType pred, DType target, Pick pick) {
  using D = DType;
  const bool f32_target = target == D::f32;
  switch (pred) {
  case D::f32:
    return f32_target ? pick(FromKernels<D::f32, D::f32>{}) : nullptr;
  case D::f64:
    return target == D::f64 ? pick(FromKernels<D::f64, D::f64>{})
           : f32_target     ? pick(FromKernels<D::f64, D::f32>{})
                            : nullptr;
  case D::bf16:
    return target == D::bf16 ? pick(FromKernels<D::bf16, D::bf16>{})
           : f32_target      ? pick(FromKernels<D::bf16, D::f32>{})
                             : nullptr;
  case D::f16:
    return target == D::f16 ? pick(FromKernels<D::f16, D::f16>{})
           : f32_target     ? pick(FromKernels<D::f16, D::f32>{})
                            : nullptr;
  default:
    return decltype(pick(FromKernels<D::f32, D::f32>{})){nullptr};
  }
}

} // namespace

SketchBuckets sketch_buckets_function() {
  return sketch_buckets;
}

SketchBucketsFrom sketch_buckets_from_function(DType pred, DType target) {
  return from_kernels(pred, target, [](auto k) { return k.buckets(0); });
}

FoldFastFrom fold_fast_from_function(unsigned groups, DType pred, DType target) {
  return from_kernels(pred, target, [groups](auto k) { return k.fast(groups); });
}

FoldMaskedFrom fold_masked_from_function(unsigned groups, DType pred, DType target) {
  return from_kernels(pred, target, [groups](auto k) { return k.masked(groups); });
}

AllFinite all_finite_function(DType d) {
  switch (d) {
  case DType::f64:
    return all_finite<std::uint64_t, 0x7ff0000000000000ull>;
  case DType::f32:
    return all_finite<std::uint32_t, 0x7f800000u>;
  case DType::bf16:
    return all_finite<std::uint16_t, 0x7f80>;
  case DType::f16:
    return all_finite<std::uint16_t, 0x7c00>;
  default:
    return nullptr;
  }
}

FoldFast fold_fast_function(unsigned groups) {
  static constexpr FoldFast table[8] = {fold_fast_0, fold_fast_1, fold_fast_2, fold_fast_3,
                                        fold_fast_4, fold_fast_5, fold_fast_6, fold_fast_7};
  return table[groups & kAllGroups];
}

FoldGeneral fold_general_function(unsigned groups) {
  static constexpr FoldGeneral table[8] = {fold_general_0, fold_general_1, fold_general_2,
                                           fold_general_3, fold_general_4, fold_general_5,
                                           fold_general_6, fold_general_7};
  return table[groups & kAllGroups];
}

} // namespace gpueval::cpu::GPUEVAL_ISA_NS
