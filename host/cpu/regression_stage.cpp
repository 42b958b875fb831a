#include "cpu/regression_stage.hpp"

#include <algorithm>
#include <cstring>

#include "cpu/isa.hpp"
#include "cpu/load.hpp"
#include "gpueval/dtype.hpp"
#include "gpueval/ops/regression.hpp"

namespace gpueval::cpu {

namespace {

// Walks logical elements i0.. of a strided view: the last axis by its stride, the outer axes by
// an odometer. Byte offsets, so that any stride (negative, zero, misaligned) works.
class Cursor {
public:
  Cursor(const TensorView& v, std::int64_t i0) : v_(v) {
    const std::int64_t item = static_cast<std::int64_t>(dtype_size(v.dtype));
    std::int64_t rest = i0;
    offset_ = 0;
    for (int d = v.rank - 1; d >= 0; --d) {
      idx_[d] = v.shape[d] > 0 ? rest % v.shape[d] : 0;
      rest = v.shape[d] > 0 ? rest / v.shape[d] : 0;
      offset_ += idx_[d] * v.strides[d] * item;
      bstride_[d] = v.strides[d] * item;
    }
  }
  // Elements left on the current innermost line, and its byte stride.
  std::int64_t line_left() const { return v_.shape[v_.rank - 1] - idx_[v_.rank - 1]; }
  std::int64_t inner_stride() const { return bstride_[v_.rank - 1]; }
  const unsigned char* ptr() const { return static_cast<const unsigned char*>(v_.data) + offset_; }
  void advance(std::int64_t n) { // n <= line_left()
    const int last = v_.rank - 1;
    idx_[last] += n;
    offset_ += n * bstride_[last];
    for (int d = last; d > 0 && idx_[d] == v_.shape[d]; --d) {
      offset_ -= idx_[d] * bstride_[d];
      idx_[d] = 0;
      ++idx_[d - 1];
      offset_ += bstride_[d - 1];
    }
  }

private:
  const TensorView& v_;
  std::int64_t idx_[kMaxRank] = {};
  std::int64_t bstride_[kMaxRank] = {};
  std::int64_t offset_ = 0;
};

// Converts n elements and reports whether all are finite (x - x is 0 exactly for finite x).
template <DType D>
GPUEVAL_FORCEINLINE bool convert_impl(const unsigned char* __restrict src, int n,
                                      double* __restrict out) {
  constexpr std::int64_t item = static_cast<std::int64_t>(dtype_size(D));
  if constexpr (!dtype_is_float(D)) {
    for (int i = 0; i < n; ++i) {
      out[i] = load_as_double<D>(src + i * item);
    }
    return true;
  } else {
    // An integer OR-reduction: associative, so it vectorises with no dependency chain through a
    // floating-point add.
    int bad = 0;
    for (int i = 0; i < n; ++i) {
      const double x = load_as_double<D>(src + i * item);
      out[i] = x;
      bad |= !(x - x == 0.0);
    }
    return bad == 0;
  }
}

// The contiguous conversions of the common value types, cloned per instruction set.
GPUEVAL_ISA_CLONES bool convert_f32(const unsigned char* src, int n, double* out) {
  return convert_impl<DType::f32>(src, n, out);
}
GPUEVAL_ISA_CLONES bool convert_f64(const unsigned char* src, int n, double* out) {
  return convert_impl<DType::f64>(src, n, out);
}
GPUEVAL_ISA_CLONES bool convert_f16(const unsigned char* src, int n, double* out) {
  return convert_impl<DType::f16>(src, n, out);
}
GPUEVAL_ISA_CLONES bool convert_bf16(const unsigned char* src, int n, double* out) {
  return convert_impl<DType::bf16>(src, n, out);
}

template <DType D>
bool stage_typed(const TensorView& v, bool contiguous, std::int64_t i0, int n, double* out) {
  constexpr std::int64_t item = static_cast<std::int64_t>(dtype_size(D));
  if (contiguous) {
    const unsigned char* src = static_cast<const unsigned char*>(v.data) + i0 * item;
    // The next tile is most likely the following n elements: ask for it now, so that its cache
    // lines arrive while this tile is folded. (A prefetch past the end is harmless.) Into every
    // cache level: a non-temporal prefetch (prefetchnta) stalled on the fill buffers here and
    // held a 256 MiB batch to 26% of the read rate (bench/NOTES.md, "CPU fold at memory speed").
    const unsigned char* next = src + n * item;
    for (std::int64_t off = 0; off < n * item; off += 64) {
      __builtin_prefetch(next + off, 0, 3);
    }
    if constexpr (D == DType::f32) {
      return convert_f32(src, n, out);
    } else if constexpr (D == DType::f64) {
      return convert_f64(src, n, out);
    } else if constexpr (D == DType::f16) {
      return convert_f16(src, n, out);
    } else if constexpr (D == DType::bf16) {
      return convert_bf16(src, n, out);
    } else {
      return convert_impl<D>(src, n, out);
    }
  }
  Cursor c(v, i0);
  int done = 0;
  double acc = 0;
  while (done < n) {
    const int len = static_cast<int>(std::min<std::int64_t>(n - done, c.line_left()));
    const unsigned char* src = c.ptr();
    const std::int64_t stride = c.inner_stride();
    for (int i = 0; i < len; ++i) {
      const double x = load_as_double<D>(src + i * stride);
      out[done + i] = x;
      acc += x - x;
    }
    done += len;
    if (done < n) {
      c.advance(len);
    }
  }
  return acc == 0.0;
}

} // namespace

bool stage_values(const TensorView& v, bool contiguous, std::int64_t i0, int n, double* out) {
  return visit_dtype(
      v.dtype, [&](auto d) { return stage_typed<decltype(d)::value>(v, contiguous, i0, n, out); });
}

void stage_mask(const TensorView& mask, bool contiguous, std::int64_t cover, std::int64_t i0, int n,
                std::uint8_t* out) {
  const std::size_t item = dtype_size(mask.dtype);
  std::int64_t m = i0 / cover;            // mask element of the first pair
  std::int64_t left = cover - i0 % cover; // pairs it still covers
  int done = 0;
  if (contiguous && cover == 1 && item == 1) { // a mask element per pair: one compare each
    const unsigned char* src = static_cast<const unsigned char*>(mask.data) + i0;
    for (int i = 0; i < n; ++i) {
      out[i] = src[i] != 0 ? 1 : 0;
    }
    return;
  }
  if (contiguous) {
    const unsigned char* base = static_cast<const unsigned char*>(mask.data);
    while (done < n) {
      const unsigned char* src = base + static_cast<std::size_t>(m) * item;
      std::uint8_t nonzero = 0;
      for (std::size_t b = 0; b < item; ++b) {
        nonzero |= src[b];
      }
      const int len = static_cast<int>(std::min<std::int64_t>(n - done, left));
      std::memset(out + done, nonzero ? 1 : 0, static_cast<std::size_t>(len));
      done += len;
      ++m;
      left = cover;
    }
    return;
  }
  Cursor c(mask, m);
  while (done < n) {
    const unsigned char* src = c.ptr();
    std::uint8_t nonzero = 0;
    for (std::size_t b = 0; b < item; ++b) {
      nonzero |= src[b];
    }
    const int len = static_cast<int>(std::min<std::int64_t>(n - done, left));
    std::memset(out + done, nonzero ? 1 : 0, static_cast<std::size_t>(len));
    done += len;
    left = cover;
    if (done < n) {
      c.advance(1);
    }
  }
}

void stage_weight(const TensorView& weight, std::int64_t cover, std::int64_t i0, int n,
                  double* out) {
  visit_dtype(weight.dtype, [&](auto d) {
    constexpr DType D = decltype(d)::value;
    std::int64_t m = i0 / cover;            // weight element of the first pair
    std::int64_t left = cover - i0 % cover; // pairs the first weight still covers
    Cursor c(weight, m);
    int done = 0;
    while (done < n) {
      const double w = load_as_double<D>(c.ptr());
      const int len = static_cast<int>(std::min<std::int64_t>(n - done, left));
      std::fill_n(out + done, len, w);
      done += len;
      left = cover;
      if (done < n) {
        c.advance(1);
      }
    }
  });
}

std::int64_t first_bad_weight(const TensorView& weight, double* value, bool (*ok)(double)) {
  const std::int64_t total = weight.numel();
  double tile[kTile];
  for (std::int64_t i0 = 0; i0 < total; i0 += kTile) {
    const int n = static_cast<int>(std::min<std::int64_t>(kTile, total - i0));
    stage_weight(weight, 1, i0, n, tile);
    for (int i = 0; i < n; ++i) {
      if (!ok(tile[i])) {
        *value = tile[i];
        return i0 + i;
      }
    }
  }
  return -1;
}

int classify(const double* p, const double* t, const std::uint8_t* mask, const double* weight,
             int n, NanPolicy policy, double* include, double* skipped) {
  int first_bad = -1;
  for (int i = 0; i < n; ++i) {
    // A weight of 0 leaves the pair out as a mask does.
    const bool in_mask = (mask == nullptr || mask[i] != 0) && (weight == nullptr || weight[i] != 0);
    const bool finite = ops::is_finite(p[i]) && ops::is_finite(t[i]);
    if (in_mask && !finite && first_bad < 0) {
      first_bad = i;
    }
    const bool propagate = policy == NanPolicy::propagate;
    include[i] = ops::included(in_mask, finite, propagate) ? (weight ? weight[i] : 1.0) : 0.0;
    skipped[i] = ops::skipped(in_mask, finite, propagate) ? 1.0 : 0.0;
  }
  return first_bad;
}

} // namespace gpueval::cpu
