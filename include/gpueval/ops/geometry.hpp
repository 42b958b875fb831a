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
// Every real statistic is an exact sum (ExactSum below): each term (always >= 0: an error, its
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

inline constexpr int kExactWords = 3; // 192 bits, unit 2^-96: terms up to 2^95

// Adds x (>= 0 and finite; anything else is the caller's to exclude) into the exact sum at s.
GPUEVAL_HD inline void exact_add(std::uint64_t* s, double x) {
  if (!(x > 0)) {
    return;
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
      return; // below 2^-150: under the rounding of every other term
    }
    m = (m + (std::uint64_t{1} << (-shift - 1))) >> -shift; // to nearest, ties up
    shift = 0;
  }
  if (shift > 192 - 54) { // 2^95 or more: saturate (every metric of the key becomes huge)
    s[0] = s[1] = ~std::uint64_t{0};
    s[2] = ~std::uint64_t{0} >> 1;
    return;
  }
  const int q = shift >> 6, r = shift & 63;
  const std::uint64_t lo = m << r;
  const std::uint64_t hi = r == 0 ? 0 : m >> (64 - r);
  std::uint64_t carry = 0;
  for (int i = q; i < kExactWords; ++i) {
    const std::uint64_t add = i == q ? lo : (i == q + 1 ? hi : 0);
    const std::uint64_t v = s[i] + add;
    const std::uint64_t c1 = v < add ? 1u : 0u;
    s[i] = v + carry;
    carry = c1 | (s[i] < v ? 1u : 0u);
    if (carry == 0 && i > q) {
      break;
    }
  }
}

// into += from, for exact sums of kExactWords words.
GPUEVAL_HD inline void exact_merge(std::uint64_t* into, const std::uint64_t* from) {
  std::uint64_t carry = 0;
  for (int i = 0; i < kExactWords; ++i) {
    const std::uint64_t v = into[i] + from[i];
    const std::uint64_t c1 = v < from[i] ? 1u : 0u;
    into[i] = v + carry;
    carry = c1 | (into[i] < v ? 1u : 0u);
  }
}

// The value of an exact sum (the host's finalize; rounding once per word).
inline double exact_value(const std::uint64_t* s) {
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

// The similarity transform (scale, rotation with determinant +1, translation) that best aligns
// the n predicted vectors p to the targets t in least squares (Umeyama 1991), as VideoPose3D's
// p_mpjpe computes it: centred, h = t0^T p0 over the unit-norm clouds, r = v u^T with the
// column of the smallest singular value flipped when det(r) < 0, scale = trace(s) |t0| / |p0|.
// p and t hold n vectors of d (<= 3) components, row-major. A cloud that is one point (|p0| = 0
// or |t0| = 0) aligns with scale 0: every prediction maps to the targets' centroid, the least-
// squares optimum.
GPUEVAL_HD inline Alignment align_procrustes(const double* p, const double* t, int n, int d) {
  Alignment al;
  al.d = d;
  double mp[kMaxAlignDim] = {}, mt[kMaxAlignDim] = {};
  for (int k = 0; k < n; ++k) {
    for (int i = 0; i < d; ++i) {
      mp[i] = mp[i] + p[k * d + i];
      mt[i] = mt[i] + t[k * d + i];
    }
  }
  for (int i = 0; i < d; ++i) {
    mp[i] = mp[i] / n;
    mt[i] = mt[i] / n;
  }
  double np2 = 0, nt2 = 0;
  double h[kMaxAlignDim][kMaxAlignDim] = {};
  for (int k = 0; k < n; ++k) {
    double x[kMaxAlignDim], y[kMaxAlignDim];
    for (int i = 0; i < d; ++i) {
      x[i] = t[k * d + i] - mt[i];
      y[i] = p[k * d + i] - mp[i];
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
  for (int a = 0; a < d; ++a) {
    for (int b = 0; b < d; ++b) {
      al.r[a][b] = a == b ? 1.0 : 0.0;
    }
  }
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
  for (int a = 0; a < d; ++a) {
    for (int b = 0; b < d; ++b) {
      double x = 0;
      for (int k = 0; k < d; ++k) {
        x = x + v[a][k] * u[b][k];
      }
      al.r[a][b] = x;
    }
  }
  double trace = 0;
  if (determinant(al.r, d) < 0) {
    int smallest = 0;
    for (int k = 1; k < d; ++k) {
      smallest = s[k] < s[smallest] ? k : smallest;
    }
    for (int a = 0; a < d; ++a) {
      v[a][smallest] = -v[a][smallest];
    }
    s[smallest] = -s[smallest];
    for (int a = 0; a < d; ++a) {
      for (int b = 0; b < d; ++b) {
        double x = 0;
        for (int k = 0; k < d; ++k) {
          x = x + v[a][k] * u[b][k];
        }
        al.r[a][b] = x;
      }
    }
  }
  for (int k = 0; k < d; ++k) {
    trace = trace + s[k];
  }
  al.scale = trace * norm_t / norm_p;
  for (int j = 0; j < d; ++j) {
    double x = 0;
    for (int i = 0; i < d; ++i) {
      x = x + mp[i] * al.r[i][j];
    }
    al.shift[j] = mt[j] - al.scale * x;
  }
  return al;
}

// The scale-only alignment of n_mpjpe (Rhodin et al. 2018; VideoPose3D's n_mpjpe): scale =
// sum(p . t) / sum(p . p) over the sample's vectors, not centred. All-zero predictions: 0.
GPUEVAL_HD inline double align_scale(const double* p, const double* t, int n, int d) {
  double pt = 0, pp = 0;
  for (int k = 0; k < n * d; ++k) {
    pt = pt + p[k] * t[k];
    pp = pp + p[k] * p[k];
  }
  return pp > 0 ? pt / pp : 0.0;
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
  enum Sum : int { weight, error, squared, procrustes, scaled, px1, px3, px5, outlier, kFixedSums };

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
};

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

// Folds one finite vector into its key's record.
GPUEVAL_HD inline void add_vector(std::uint64_t* w, const GeoLayout& l, const GeoParams& p,
                                  const VectorTerms& v) {
  const double wt = v.weight;
  w[GeoLayout::kCount] += 1;
  exact_add(w + l.sum(GeoLayout::weight), wt);
  exact_add(w + l.sum(GeoLayout::error), wt * v.error);
  exact_add(w + l.sum(GeoLayout::squared), wt * v.squared);
  exact_add(w + l.sum(GeoLayout::procrustes), wt * v.procrustes);
  exact_add(w + l.sum(GeoLayout::scaled), wt * v.scaled);
  if (v.error < 1.0) {
    exact_add(w + l.sum(GeoLayout::px1), wt);
  }
  if (v.error < 3.0) {
    exact_add(w + l.sum(GeoLayout::px3), wt);
  }
  if (v.error < 5.0) {
    exact_add(w + l.sum(GeoLayout::px5), wt);
  }
  if (v.error > p.outlier_abs && v.error > p.outlier_rel * v.target_norm) {
    exact_add(w + l.sum(GeoLayout::outlier), wt);
  }
  for (int i = 0; i < l.pck; ++i) {
    if (v.error < p.pck[i]) {
      exact_add(w + l.pck_sum(i), wt);
    }
  }
  if (l.auc_steps > 0) {
    exact_add(w + l.auc_sum(auc_bin(v.error, p.auc_step, l.auc_steps)), wt);
  }
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
