// The geometric statistics: errors of vectors (a joint's position, a pixel's flow, an agent's
// location) and the operations every backend uses. The family contract of ops/regression.hpp,
// for a record of exact sums:
//
//   GeoLayout::make(...)           where each statistic of a key's record lives, in 64-bit words;
//                                  a zeroed record is the identity of combine.
//   vector_error / align_*         one vector's error e = |p - t|_2; a sample's alignments
//                                  (Procrustes, scale) before its errors are taken.
//   add_vector(words, layout, ...) folds one vector's errors into its key's record.
//   combine(into, from, layout)    merges two records: integer additions, so associative and
//                                  commutative exactly: any batch split, thread count or device
//                                  gives bitwise the same record.
//   finalize (host/geometry)       metrics from a record, in double.
//
// Every real statistic is an exact sum (exact_add below): each term (always >= 0: an error, its
// square, a weight) enters a 192-bit fixed-point integer with unit 2^-96 exactly when it is at
// least 2^-43, rounded to 2^-96 below that, so the sum is independent of the order of its terms
// and the mean of any number of terms is as exact as its terms (docs/design.md, "Geometry").
// The terms come from +, -, *, / and sqrt only (correctly rounded in IEEE 754 on every backend),
// in a fixed order, with no FMA contraction (-ffp-contract=off on the host, --fmad=false for
// CUDA): a vector gives the same terms, bit for bit, everywhere.
#pragma once

#include <cstdint>
#include <math.h>
#include <string.h> // memcpy, which nvcc also provides on the device

#include "gpueval/macros.hpp"

namespace gpueval::ops {

// ---- exact sums --------------------------------------------------------------------------------

// An exact sum is four words: a 192-bit integer in units of 2^-96 (words 0-2, low first) and the
// count of the integer's overflows (word 3): carries out of word 2 (a sum past 2^96) and terms
// of 2^95 or more, each counted once. Both are integer additions in any order, so the four
// words do not depend on the order of the terms; a sum with word 3 set reads as infinity.
inline constexpr int kExactWords = 4;
inline constexpr int kExactValueWords = 3;

// A term of an exact sum as the integer it adds: `lo` at word `word`, `hi` at the word above
// (`zero`: nothing to add; `saturate`: 2^95 or more, counted as an overflow).
struct ExactTerm {
  int word = 0;
  std::uint64_t lo = 0, hi = 0;
  bool zero = true, saturate = false;
};

// x (>= 0 and finite; anything else is the caller's to exclude) as the integer it adds.
GPUEVAL_HD inline ExactTerm exact_term(double x) {
  ExactTerm t;
  if (!(x > 0)) {
    return t;
  }
  std::uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int exponent = static_cast<int>((bits >> 52) & 0x7ff);
  std::uint64_t m = bits & ((std::uint64_t{1} << 52) - 1);
  if (exponent == 0) {
    exponent = 1; // subnormal
  } else {
    m |= std::uint64_t{1} << 52;
  }
  int shift = exponent - 1075 + 96; // the position of m's lowest bit, in units of 2^-96
  if (shift < 0) {
    if (shift < -60) {
      return t; // below 2^-150: under the rounding of every other term
    }
    m = (m + (std::uint64_t{1} << (-shift - 1))) >> -shift; // to nearest, ties up
    shift = 0;
  }
  t.zero = m == 0;
  if (shift > 192 - 54) { // 2^95 or more
    t.saturate = true;
    t.zero = false;
    return t;
  }
  t.word = shift >> 6;
  const int r = shift & 63;
  t.lo = m << r;
  t.hi = r == 0 ? 0 : m >> (64 - r); // m < 2^54: zero when word is 2
  return t;
}

// Adds x (>= 0 and finite) into the exact sum at s.
GPUEVAL_HD inline void exact_add(std::uint64_t* s, double x) {
  const ExactTerm t = exact_term(x);
  if (t.zero) {
    return;
  }
  if (t.saturate) {
    s[kExactValueWords] += 1;
    return;
  }
  std::uint64_t carry = 0;
  int i = t.word;
  for (; i < kExactValueWords; ++i) {
    const std::uint64_t add = i == t.word ? t.lo : (i == t.word + 1 ? t.hi : 0);
    const std::uint64_t v = s[i] + add;
    const std::uint64_t c1 = v < add ? 1u : 0u;
    s[i] = v + carry;
    carry = c1 | (s[i] < v ? 1u : 0u);
    if (carry == 0 && i > t.word) {
      return;
    }
  }
  s[kExactValueWords] += carry;
}

// into += from, for exact sums.
GPUEVAL_HD inline void exact_merge(std::uint64_t* into, const std::uint64_t* from) {
  std::uint64_t carry = 0;
  for (int i = 0; i < kExactValueWords; ++i) {
    const std::uint64_t v = into[i] + from[i];
    const std::uint64_t c1 = v < from[i] ? 1u : 0u;
    into[i] = v + carry;
    carry = c1 | (into[i] < v ? 1u : 0u);
  }
  into[kExactValueWords] += from[kExactValueWords] + carry;
}

// The value of an exact sum (the host's finalize; rounding once per word); infinity after an
// overflow.
inline double exact_value(const std::uint64_t* s) {
  if (s[kExactValueWords] != 0) {
    return static_cast<double>(INFINITY);
  }
  const long double v = static_cast<long double>(s[2]) * 4294967296.0L +
                        static_cast<long double>(s[1]) * (1.0L / 4294967296.0L) +
                        static_cast<long double>(s[0]) * 1.2621774483536188887e-29L; // 2^-96
  return static_cast<double>(v);
}

// ---- one vector
// ----------------------------------------------------------------------------------

// |a - b|^2 over d components, in index order.
GPUEVAL_HD inline double squared_distance(const double* a, const double* b, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) {
    const double x = a[i] - b[i];
    s = s + x * x;
  }
  return s;
}

GPUEVAL_HD inline double squared_norm(const double* a, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) {
    s = s + a[i] * a[i];
  }
  return s;
}

// ---- a sample's alignments -------------------------------------------------------------------

inline constexpr int kMaxAlignDim = 3; // pa_mpjpe and n_mpjpe align vectors of 2 or 3 components

// A similarity transform x -> scale * R^T-applied x + shift, as VideoPose3D's p_mpjpe applies it
// to row vectors: aligned = scale * (p @ r) + shift.
struct Alignment {
  double scale = 0;
  double r[kMaxAlignDim][kMaxAlignDim] = {};
  double shift[kMaxAlignDim] = {};
  int d = 0;

  GPUEVAL_HD void apply(const double* p, double* out) const {
    for (int j = 0; j < d; ++j) {
      double s = 0;
      for (int i = 0; i < d; ++i) {
        s = s + p[i] * r[i][j];
      }
      out[j] = scale * s + shift[j];
    }
  }
};

// The singular value decomposition h = u diag(s) v^T of a d x d matrix (d <= 3) by one-sided
// Jacobi rotations on the columns of h (a fixed sweep order, a fixed stopping rule: the same
// bits on every backend). u's columns for a zero singular value are completed to an orthonormal
// basis.
GPUEVAL_HD inline void jacobi_svd(const double h[kMaxAlignDim][kMaxAlignDim], int d,
                                  double u[kMaxAlignDim][kMaxAlignDim], double s[kMaxAlignDim],
                                  double v[kMaxAlignDim][kMaxAlignDim]) {
  double a[kMaxAlignDim][kMaxAlignDim];
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < d; ++j) {
      a[i][j] = h[i][j];
      v[i][j] = i == j ? 1.0 : 0.0;
    }
  }
  for (int sweep = 0; sweep < 40; ++sweep) {
    bool rotated = false;
    for (int p = 0; p < d - 1; ++p) {
      for (int q = p + 1; q < d; ++q) {
        double alpha = 0, beta = 0, gamma = 0; // |a_p|^2, |a_q|^2, a_p . a_q
        for (int i = 0; i < d; ++i) {
          alpha = alpha + a[i][p] * a[i][p];
          beta = beta + a[i][q] * a[i][q];
          gamma = gamma + a[i][p] * a[i][q];
        }
        if (gamma == 0 || fabs(gamma) <= 1e-15 * sqrt(alpha * beta)) {
          continue;
        }
        rotated = true;
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / sqrt(1.0 + t * t);
        const double sn = c * t;
        for (int i = 0; i < d; ++i) {
          const double x = a[i][p], y = a[i][q];
          a[i][p] = c * x - sn * y;
          a[i][q] = sn * x + c * y;
          const double vx = v[i][p], vy = v[i][q];
          v[i][p] = c * vx - sn * vy;
          v[i][q] = sn * vx + c * vy;
        }
      }
    }
    if (!rotated) {
      break;
    }
  }
  double largest = 0;
  for (int j = 0; j < d; ++j) {
    double n2 = 0;
    for (int i = 0; i < d; ++i) {
      n2 = n2 + a[i][j] * a[i][j];
    }
    s[j] = sqrt(n2);
    largest = s[j] > largest ? s[j] : largest;
  }
  // u's columns: a's normalised; those of (relatively) zero singular values completed by Gram-
  // Schmidt against the unit vectors, in order.
  bool done[kMaxAlignDim] = {};
  for (int j = 0; j < d; ++j) {
    if (s[j] > 1e-300 && s[j] > largest * 1e-15) {
      for (int i = 0; i < d; ++i) {
        u[i][j] = a[i][j] / s[j];
      }
      done[j] = true;
    } else {
      s[j] = s[j] > 0 ? s[j] : 0.0;
    }
  }
  for (int j = 0; j < d; ++j) {
    if (done[j]) {
      continue;
    }
    for (int e = 0; e < d && !done[j]; ++e) {
      double c[kMaxAlignDim];
      for (int i = 0; i < d; ++i) {
        c[i] = i == e ? 1.0 : 0.0;
      }
      for (int k = 0; k < d; ++k) {
        if (!done[k]) {
          continue;
        }
        double dot = 0;
        for (int i = 0; i < d; ++i) {
          dot = dot + u[i][k] * c[i];
        }
        for (int i = 0; i < d; ++i) {
          c[i] = c[i] - dot * u[i][k];
        }
      }
      const double n = sqrt(squared_norm(c, d));
      if (n > 0.5) { // a unit vector far enough from the span so far
        for (int i = 0; i < d; ++i) {
          u[i][j] = c[i] / n;
        }
        done[j] = true;
      }
    }
  }
}

// r = v u^T (d x d), each entry summed over k in order.
GPUEVAL_HD inline void rotation_of(const double v[kMaxAlignDim][kMaxAlignDim],
                                   const double u[kMaxAlignDim][kMaxAlignDim], int d,
                                   double r[kMaxAlignDim][kMaxAlignDim]) {
  for (int a = 0; a < d; ++a) {
    for (int b = 0; b < d; ++b) {
      double z = 0;
      for (int k = 0; k < d; ++k) {
        z = z + v[a][k] * u[b][k];
      }
      r[a][b] = z;
    }
  }
}

GPUEVAL_HD inline double determinant(const double m[kMaxAlignDim][kMaxAlignDim], int d) {
  if (d == 1) {
    return m[0][0];
  }
  if (d == 2) {
    return m[0][0] * m[1][1] - m[0][1] * m[1][0];
  }
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
         m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

// The vectors of a sample as the alignments read them: `count()` candidates, `included(k)`
// whether the sample includes candidate k, `load(k, i, p, t)` component i of its prediction
// and target. Included vectors are read in index order (twice for Procrustes: the means, then
// the centred sums), so every backend sums in the same order. PackedVectors: the included
// vectors alone, row-major (the CPU's staged sample).
struct PackedVectors {
  const double* p;
  const double* t;
  int n, d;
  GPUEVAL_HD std::int64_t count() const { return n; }
  GPUEVAL_HD bool included(std::int64_t) const { return true; }
  GPUEVAL_HD void load(std::int64_t k, int i, double& pv, double& tv) const {
    pv = p[k * d + i];
    tv = t[k * d + i];
  }
};

// Vector k of `src` (d <= kMaxAlignDim components) into p and t; false when not included.
template <class Src>
GPUEVAL_HD bool load_vector(const Src& src, std::int64_t k, int d, double* p, double* t) {
  if (!src.included(k)) {
    return false;
  }
  for (int i = 0; i < d; ++i) {
    src.load(k, i, p[i], t[i]);
  }
  return true;
}

// The similarity transform (scale, rotation with determinant +1, translation) that best aligns
// the sample's predicted vectors to its targets in least squares (Umeyama 1991), as
// VideoPose3D's p_mpjpe computes it: centred, h = t0^T p0 over the unit-norm clouds, r = v u^T
// with the column of the smallest singular value flipped when det(r) < 0, scale = trace(s)
// |t0| / |p0|. Vectors of d (<= 3) components. A cloud that is one point (|p0| = 0 or
// |t0| = 0) aligns with scale 0: every prediction maps to the targets' centroid, the least-
// squares optimum. No included vector: scale 0 onto the origin (nothing is folded).
template <class Src> GPUEVAL_HD Alignment align_procrustes(const Src& src, int d) {
  Alignment al;
  al.d = d;
  double mp[kMaxAlignDim] = {}, mt[kMaxAlignDim] = {};
  double x[kMaxAlignDim], y[kMaxAlignDim];
  int n = 0;
  for (std::int64_t k = 0; k < src.count(); ++k) {
    if (!load_vector(src, k, d, y, x)) {
      continue;
    }
    ++n;
    for (int i = 0; i < d; ++i) {
      mp[i] = mp[i] + y[i];
      mt[i] = mt[i] + x[i];
    }
  }
  for (int a = 0; a < d; ++a) {
    for (int b = 0; b < d; ++b) {
      al.r[a][b] = a == b ? 1.0 : 0.0;
    }
  }
  if (n == 0) {
    return al;
  }
  for (int i = 0; i < d; ++i) {
    mp[i] = mp[i] / n;
    mt[i] = mt[i] / n;
  }
  double np2 = 0, nt2 = 0;
  double h[kMaxAlignDim][kMaxAlignDim] = {};
  for (std::int64_t k = 0; k < src.count(); ++k) {
    if (!load_vector(src, k, d, y, x)) {
      continue;
    }
    for (int i = 0; i < d; ++i) {
      x[i] = x[i] - mt[i];
      y[i] = y[i] - mp[i];
    }
    nt2 = nt2 + squared_norm(x, d);
    np2 = np2 + squared_norm(y, d);
    for (int a = 0; a < d; ++a) {
      for (int b = 0; b < d; ++b) {
        h[a][b] = h[a][b] + x[a] * y[b];
      }
    }
  }
  const double norm_p = sqrt(np2), norm_t = sqrt(nt2);
  if (norm_p == 0 || norm_t == 0) {
    al.scale = 0;
    for (int i = 0; i < d; ++i) {
      al.shift[i] = mt[i];
    }
    return al;
  }
  for (int a = 0; a < d; ++a) {
    for (int b = 0; b < d; ++b) {
      h[a][b] = h[a][b] / (norm_t * norm_p);
    }
  }
  double u[kMaxAlignDim][kMaxAlignDim], s[kMaxAlignDim], v[kMaxAlignDim][kMaxAlignDim];
  jacobi_svd(h, d, u, s, v);
  // h = u diag(s) v^T: numpy's svd(H) = U S Vt has U = u and Vt^T = v, so r = V U^T = v u^T.
  rotation_of(v, u, d, al.r);
  if (determinant(al.r, d) < 0) {
    int smallest = 0;
    for (int k = 1; k < d; ++k) {
      smallest = s[k] < s[smallest] ? k : smallest;
    }
    for (int a = 0; a < d; ++a) {
      v[a][smallest] = -v[a][smallest];
    }
    s[smallest] = -s[smallest];
    rotation_of(v, u, d, al.r);
  }
  double trace = 0;
  for (int k = 0; k < d; ++k) {
    trace = trace + s[k];
  }
  al.scale = trace * norm_t / norm_p;
  for (int j = 0; j < d; ++j) {
    double z = 0;
    for (int i = 0; i < d; ++i) {
      z = z + mp[i] * al.r[i][j];
    }
    al.shift[j] = mt[j] - al.scale * z;
  }
  return al;
}

// The scale-only alignment of n_mpjpe (Rhodin et al. 2018; VideoPose3D's n_mpjpe): scale =
// sum(p . t) / sum(p . p) over the sample's included vectors, not centred. All-zero
// predictions: 0. Vectors of any length (read one component at a time).
template <class Src> GPUEVAL_HD double align_scale(const Src& src, int d) {
  double pt = 0, pp = 0;
  for (std::int64_t k = 0; k < src.count(); ++k) {
    if (!src.included(k)) {
      continue;
    }
    for (int i = 0; i < d; ++i) {
      double p, t;
      src.load(k, i, p, t);
      pt = pt + p * t;
      pp = pp + p * p;
    }
  }
  return pp > 0 ? pt / pp : 0.0;
}

// The same for packed arrays of n vectors.
GPUEVAL_HD inline Alignment align_procrustes(const double* p, const double* t, int n, int d) {
  return align_procrustes(PackedVectors{p, t, n, d}, d);
}
GPUEVAL_HD inline double align_scale(const double* p, const double* t, int n, int d) {
  return align_scale(PackedVectors{p, t, n, d}, d);
}

// ---- the record --------------------------------------------------------------------------------

// Where each statistic of a key's record lives. Counts first (u64), then exact sums of
// kExactWords words each: the weights, the errors, their squares, the aligned errors, the
// fractions' weights (px1, px3, px5, outliers), one per PCK threshold, and the AUC grid's bins
// (bin b: the weight of vectors whose error first falls under grid threshold b; the last bin,
// under none).
struct GeoLayout {
  static constexpr int kCount = 0;     // vectors folded
  static constexpr int kSkipped = 1;   // vectors skipped as non-finite (nan_policy skip)
  static constexpr int kNonfinite = 2; // non-finite vectors folded (nan_policy propagate)
  static constexpr int kCounts = 3;
  enum Sum : int {
    weight,
    error,
    squared,
    procrustes,
    scaled,
    px1,
    px3,
    px5,
    outlier,
    final_weight, // vectors at the time axis' last index (fde)
    final_error,
    min_ade, // a sample record's (mode_axis): the samples' best modes
    min_fde,
    ade_by_fde,
    miss,
    kFixedSums
  };

  int pck = 0;       // PCK thresholds
  int auc_steps = 0; // AUC grid thresholds (0: no auc_pck)
  std::int64_t words = 0;

  static GeoLayout make(int pck_thresholds, int auc_steps) {
    GeoLayout l;
    l.pck = pck_thresholds;
    l.auc_steps = auc_steps;
    l.words = kCounts + static_cast<std::int64_t>(kExactWords) *
                            (kFixedSums + pck_thresholds + (auc_steps > 0 ? auc_steps + 1 : 0));
    return l;
  }
  GPUEVAL_HD std::int64_t sum(int s) const { return kCounts + std::int64_t{kExactWords} * s; }
  GPUEVAL_HD std::int64_t pck_sum(int i) const { return sum(kFixedSums + i); }
  GPUEVAL_HD std::int64_t auc_sum(int b) const { return sum(kFixedSums + pck + b); }
};

// What the fold needs beyond the layout: the thresholds.
struct GeoParams {
  const double* pck = nullptr; // layout.pck thresholds
  double auc_step = 0;         // grid threshold b is b * auc_step, b in [0, auc_steps)
  double outlier_abs = 3.0, outlier_rel = 0.05;
  double miss_threshold = 2.0;
};

// One vector's terms: its error (squared, and its root), the target's norm, its aligned errors
// (NaN where not computed), and its weight.
struct VectorTerms {
  double squared = 0;
  double error = 0;
  double target_norm = 0;
  double procrustes = 0;
  double scaled = 0;
  double weight = 1;
  // pck and auc_pck compare error / normalizer (PCKh's head size; 1: the error itself, exactly).
  double normalizer = 1;
  bool final = false; // at the time axis' last index
};

// Included vector k of `src` as the record's terms: e^2 summed over the d components in order,
// e, |t|, and with the sample's alignments (pa: Procrustes, d <= kMaxAlignDim; scale: n_mpjpe's)
// the aligned errors. Every backend computes a vector's terms here.
template <class Src>
GPUEVAL_HD VectorTerms vector_terms(const Src& src, std::int64_t k, int d, double weight,
                                    const Alignment* pa, const double* scale) {
  VectorTerms v;
  double tt = 0, scaled = 0;
  for (int i = 0; i < d; ++i) {
    double p, t;
    src.load(k, i, p, t);
    const double x = p - t;
    v.squared = v.squared + x * x;
    tt = tt + t * t;
    if (scale != nullptr) {
      const double y = *scale * p - t;
      scaled = scaled + y * y;
    }
  }
  v.error = sqrt(v.squared);
  v.target_norm = sqrt(tt);
  v.scaled = scale != nullptr ? sqrt(scaled) : 0.0;
  v.weight = weight;
  if (pa != nullptr) {
    double p[kMaxAlignDim], t[kMaxAlignDim], aligned[kMaxAlignDim];
    for (int i = 0; i < d; ++i) {
      src.load(k, i, p[i], t[i]);
    }
    pa->apply(p, aligned);
    v.procrustes = sqrt(squared_distance(aligned, t, d));
  }
  return v;
}

// The AUC grid bin of an error: the first b with e < b * step, or `steps` when none.
GPUEVAL_HD inline int auc_bin(double e, double step, int steps) {
  if (!(e < (steps - 1) * step)) {
    return steps;
  }
  int b = static_cast<int>(e / step) + 1;
  b = b < 1 ? 1 : (b > steps - 1 ? steps - 1 : b);
  while (b > 1 && e < (b - 1) * step) {
    --b;
  }
  while (!(e < b * step)) {
    ++b;
  }
  return b;
}

// A record's words as add_vector writes them: `count(i)` adds 1 to count word i, `add(at, x)`
// adds x to the exact sum at word `at`. PlainWords: one writer (a CPU worker's own records);
// the CUDA kernels pass atomic ones.
struct PlainWords {
  std::uint64_t* w;
  GPUEVAL_HD void count(int i) const { w[i] += 1; }
  GPUEVAL_HD void add(std::int64_t at, double x) const { exact_add(w + at, x); }
};

// Folds one finite vector into its key's record: which sums each term enters.
template <class Words>
GPUEVAL_HD void add_vector(const Words& w, const GeoLayout& l, const GeoParams& p,
                           const VectorTerms& v) {
  const double wt = v.weight;
  w.count(GeoLayout::kCount);
  w.add(l.sum(GeoLayout::weight), wt);
  w.add(l.sum(GeoLayout::error), wt * v.error);
  w.add(l.sum(GeoLayout::squared), wt * v.squared);
  w.add(l.sum(GeoLayout::procrustes), wt * v.procrustes);
  w.add(l.sum(GeoLayout::scaled), wt * v.scaled);
  if (v.error < 1.0) {
    w.add(l.sum(GeoLayout::px1), wt);
  }
  if (v.error < 3.0) {
    w.add(l.sum(GeoLayout::px3), wt);
  }
  if (v.error < 5.0) {
    w.add(l.sum(GeoLayout::px5), wt);
  }
  if (v.error > p.outlier_abs && v.error > p.outlier_rel * v.target_norm) {
    w.add(l.sum(GeoLayout::outlier), wt);
  }
  if (v.final) {
    w.add(l.sum(GeoLayout::final_weight), wt);
    w.add(l.sum(GeoLayout::final_error), wt * v.error);
  }
  const double relative = v.error / v.normalizer;
  for (int i = 0; i < l.pck; ++i) {
    if (relative < p.pck[i]) {
      w.add(l.pck_sum(i), wt);
    }
  }
  if (l.auc_steps > 0) {
    w.add(l.auc_sum(auc_bin(relative, p.auc_step, l.auc_steps)), wt);
  }
}

// A sample's multimodal terms (mode_axis): over its K predicted modes, each mode's ADE (the mean
// error of the sample's vectors) and FDE (the mean error of its vectors at the time axis' last
// index), weighted by the vectors' weights.
struct ModeTerms {
  double min_ade = 0;    // the least ADE over the modes
  double min_fde = 0;    // the least FDE over the modes
  double ade_by_fde = 0; // the ADE of the mode with the least FDE (the first on a tie)
};

// Mode k's running sums over a sample's vectors, in index order.
struct ModeSums {
  double weight = 0, error = 0, final_weight = 0, final_error = 0;
};

// A vector of error e and weight w into its mode's sums (the vectors in index order).
GPUEVAL_HD inline void add_mode_vector(ModeSums& m, double w, double e, bool final) {
  m.weight = m.weight + w;
  m.error = m.error + w * e;
  if (final) {
    m.final_weight = m.final_weight + w;
    m.final_error = m.final_error + w * e;
  }
}

// The sample's terms from its modes' sums, given one mode at a time in mode order (nothing kept
// per mode): a mode with no vector at the last index has no FDE and is never the best; with no
// mode having one, min_fde and ade_by_fde are NaN.
struct ModeBest {
  int modes = 0, best = -1;
  double best_fde = 0, best_fde_ade = 0, min_ade = 0;

  GPUEVAL_HD void add(const ModeSums& m) {
    const double ade = m.error / m.weight;
    min_ade = modes == 0 || ade < min_ade ? ade : min_ade;
    if (m.final_weight > 0) {
      const double fde = m.final_error / m.final_weight;
      if (best < 0 || fde < best_fde) {
        best = modes;
        best_fde = fde;
        best_fde_ade = ade;
      }
    }
    ++modes;
  }
  GPUEVAL_HD ModeTerms terms() const {
    ModeTerms t;
    t.min_ade = min_ade;
    t.min_fde = best < 0 ? static_cast<double>(NAN) : best_fde;
    t.ade_by_fde = best < 0 ? static_cast<double>(NAN) : best_fde_ade;
    return t;
  }
};

// Folds one sample's mode terms into the sample record. A NaN term (no vector at the last
// index) leaves its sums and the miss count alone; the sample still counts in `weight`, so the
// means come out NaN-free but over fewer samples: the report counts them apart.
template <class Words>
GPUEVAL_HD void add_sample(const Words& w, const GeoLayout& l, const GeoParams& p,
                           const ModeTerms& t) {
  w.count(GeoLayout::kCount);
  w.add(l.sum(GeoLayout::weight), 1.0);
  w.add(l.sum(GeoLayout::min_ade), t.min_ade);
  if (t.min_fde == t.min_fde) {
    w.add(l.sum(GeoLayout::final_weight), 1.0);
    w.add(l.sum(GeoLayout::min_fde), t.min_fde);
    w.add(l.sum(GeoLayout::ade_by_fde), t.ade_by_fde);
    if (t.min_fde > p.miss_threshold) {
      w.add(l.sum(GeoLayout::miss), 1.0);
    }
  }
}

GPUEVAL_HD inline void add_vector(std::uint64_t* w, const GeoLayout& l, const GeoParams& p,
                                  const VectorTerms& v) {
  add_vector(PlainWords{w}, l, p, v);
}

// into += from, a record of `l`.
GPUEVAL_HD inline void combine(std::uint64_t* into, const std::uint64_t* from, const GeoLayout& l) {
  for (int i = 0; i < GeoLayout::kCounts; ++i) {
    into[i] += from[i];
  }
  for (std::int64_t i = GeoLayout::kCounts; i < l.words; i += kExactWords) {
    exact_merge(into + i, from + i);
  }
}

} // namespace gpueval::ops
