// The regression statistics: one record per key, and the four operations every backend uses.
//
// The contract (the one place it is written down; PyTorch's WelfordOps and RAFT's meanvar follow
// the same shape):
//
//   Record{}                         the identity of combine: an empty record.
//   reduce(Record&, p, t)            folds one (prediction, target) pair.
//   Run / run_begin / run_add /      folds a short run of pairs without a division per pair:
//   run_to_record                    sums of values shifted by the run's first pair, turned into
//                                    centred form once per run (see below).
//   combine(a, b) -> Record          merges two partials. Associative up to rounding; an empty
//                                    side returns the other side exactly.
//   finalize(Record) -> MetricValues every metric the record's groups support, in double.
//
// Records are templates over the statistic groups (Group bits) so that a kernel that only needs
// the core group neither computes nor moves the others. The core group is always present.
//
// Numerics (docs/design.md, "Regression record"):
// - A record keeps each mean as a reference value (one of the data) plus the mean's offset from
//   it. The offsets are of the size of the data's spread, not of its magnitude, so merging two
//   records rounds at the spread's scale: a target of 1.7e9 +- 1 (a timestamp) keeps every digit
//   of its variance however many merges it goes through. Rebasing b onto a's reference,
//   ref_b - ref_a, is exact when the references are within a factor of two (Sterbenz), which is
//   exactly the case where the magnitude would otherwise swamp the spread.
// - Means and centred second moments (m2 = sum of squared deviations, c_pt = co-moment) are
//   merged with Chan, Golub and LeVeque's pairwise update, with counts as doubles so that na*nb
//   cannot overflow.
// - The error e = p - t has its own mean and m2. Deriving var(e) from m2_p + m2_t - 2 c_pt
//   cancels catastrophically for a good model.
// - A run folds up to kMaxRunLength pairs as sums of (x - x0), x0 being the run's first value;
//   only here is S2 - S1^2/k used, on shifted values of a short run, where its error is ~k*eps
//   (~3e-14 at 128; the record tests hold every metric to 1e-12 with runs of 128).
//   The naive sum(x^2) - sum(x)^2/n over unshifted data is what loses every digit for targets
//   far from zero; it is never used.
// - Nothing here is warp or block code: kernels and CPU loops call these functions.
#pragma once

#include <cstdint>
#include <math.h> // the global fabs/sqrt/log1p, which nvcc also provides on the device
#include <type_traits>

#include "gpueval/macros.hpp"
#include "gpueval/ops/inclusion.hpp"
#include "gpueval/ops/regression_ids.hpp"

namespace gpueval::ops {

// Largest number of pairs a Run may hold before it is turned into a record. Longer runs make the
// per-run merge (two divisions and ~50 flops) rarer: 128 instead of 64 made the CPU fold 11%
// faster at no measurable cost in accuracy.
inline constexpr int kMaxRunLength = 128;

// numpy.finfo(float64).eps: the floor of mape's and smape's denominators, as scikit-learn.
inline constexpr double kEps64 = 2.220446049250313e-16;

GPUEVAL_HD inline double quiet_nan() {
  return __builtin_nan("");
}
GPUEVAL_HD inline double infinity() {
  return __builtin_huge_val();
}

// max and min that propagate NaN (std::fmax drops it; nan_policy = propagate must not).
GPUEVAL_HD inline double nan_max(double a, double b) {
  return (a > b || a != a) ? a : b;
}
GPUEVAL_HD inline double nan_min(double a, double b) {
  return (a < b || a != a) ? a : b;
}

GPUEVAL_HD inline bool is_finite(double x) {
  return x - x == 0.0;
}

// The few operations of the hot loop that are not plain arithmetic, for a value type V. A CPU
// backend specialises it for its SIMD vector type so that run_fold_started folds a whole vector
// of lanes with the same code (and so the same IEEE operations) as one double.
// Mask is what selects lanes (bool for a double).
template <class V> struct Math;
template <> struct Math<double> {
  using Mask = bool;
  GPUEVAL_HD static double abs(double x) { return fabs(x); }
  GPUEVAL_HD static double max(double a, double b) { return a > b ? a : b; } // no NaN here
  GPUEVAL_HD static double min(double a, double b) { return a < b ? a : b; }
  GPUEVAL_HD static double splat(double x) { return x; }
  GPUEVAL_HD static double select(bool m, double a, double b) { return m ? a : b; }
  GPUEVAL_HD static bool is_zero(double x) { return x == 0.0; }
  GPUEVAL_HD static bool both(bool a, bool b) { return a && b; }
  GPUEVAL_HD static bool either(bool a, bool b) { return a || b; }
  GPUEVAL_HD static bool negate(bool a) { return !a; }
  GPUEVAL_HD static bool less(double a, double b) { return a < b; }
  GPUEVAL_HD static double log1p(double x) { return ::log1p(x); }
  GPUEVAL_HD static double log(double x) { return ::log(x); }
  // a * b + c. On a GPU one fused multiply-add, rounded once (IEEE fma: the same bits on every
  // GPU model and architecture); on the CPU a product and a sum, as the vector lanes compute it
  // (CPU and GPU then differ by rounding only, within the accuracy rule).
  GPUEVAL_HD static double mul_add(double a, double b, double c) {
#ifdef __CUDA_ARCH__
    return fma(a, b, c);
#else
    return a * b + c;
#endif
  }
};

struct CoreStats {
  std::uint64_t n = 0;                          // pairs folded (with a weight > 0)
  double w = 0;                                 // their weights' sum; n when unweighted
  std::uint64_t skipped_nonfinite = 0;          // pairs dropped by nan_policy = skip (not in n)
  double ref_p = 0, ref_t = 0, ref_e = 0;       // reference values: a pair of the data
  double dmean_p = 0, dmean_t = 0, dmean_e = 0; // mean - ref
  double m2_p = 0, m2_t = 0, m2_e = 0;          // sums of squared deviations from the mean
  double c_pt = 0;                              // sum of (p - mean_p)(t - mean_t)
  double sum_abs_e = 0;
  double max_abs_e = 0; // |e| >= 0, so 0 is the identity of max

  GPUEVAL_HD double mean_p() const { return ref_p + dmean_p; }
  GPUEVAL_HD double mean_t() const { return ref_t + dmean_t; }
  GPUEVAL_HD double mean_e() const { return ref_e + dmean_e; }
};

struct RangeStats {
  double min_t = infinity();
  double max_t = -infinity();
};

struct PctStats {
  double sum_ape = 0;  // sum of |e| / max(|t|, eps)
  double sum_sape = 0; // sum of 2|e| / max(|p| + |t|, eps)
};

struct LogStats {
  double sum_sle = 0;                    // sum of (log1p(p) - log1p(t))^2 over pairs in domain
  std::uint64_t n_sle_out_of_domain = 0; // pairs with p < 0 or t < 0 (msle is then NaN)
};

template <int I> struct Absent {};

template <unsigned G>
struct RegressionRecord : CoreStats,
                          std::conditional_t<(G & kGroupRange) != 0, RangeStats, Absent<0>>,
                          std::conditional_t<(G & kGroupPct) != 0, PctStats, Absent<1>>,
                          std::conditional_t<(G & kGroupLog) != 0, LogStats, Absent<2>> {
  static constexpr unsigned groups = G;
};

// The values finalize produces, indexed by Metric. Metrics whose group the record lacks are NaN.
struct MetricValues {
  double v[kNumMetrics];
  GPUEVAL_HD double operator[](Metric m) const { return v[static_cast<int>(m)]; }
  GPUEVAL_HD double& operator[](Metric m) { return v[static_cast<int>(m)]; }
};

// Shifted sums of a short run of pairs (at most kMaxRunLength). Values are relative to the run's
// first included pair, so the sums stay small however far the data sit from zero. Every field is
// a double (counts up to 64 are exact) so that a backend can keep runs as structure-of-arrays
// lanes and hand run_fold a proxy of references: the template only needs these member names.
template <unsigned G> struct Run {
  double k = 0;                  // pairs folded
  double w = 0;                  // their weights' sum (k when every weight is 1)
  double skipped = 0;            // pairs a backend dropped as non-finite; carried into the record
  double p0 = 0, t0 = 0, e0 = 0; // the shift: the run's first included pair
  double s1p = 0, s1t = 0, s1e = 0;
  double s2p = 0, s2t = 0, s2e = 0, spt = 0;
  double sum_abs_e = 0, max_abs_e = 0;
  // group sums; the compiler drops them when the group is absent
  double min_t = infinity(), max_t = -infinity();
  double sum_ape = 0, sum_sape = 0;
  double sum_sle = 0, n_sle_out_of_domain = 0;
};

template <unsigned G> struct RegressionOps {
  using Record = RegressionRecord<G>;
  using RunSums = Run<G>;
  static constexpr unsigned groups = G;

  // Folds one pair of weight `weight` (> 0, finite) into a run. The first included pair of a
  // run (k == 0) becomes its shift. With kMayExclude, `include` = false leaves every sum
  // unchanged (selects, not branches, so a SIMD loop or a warp stays converged); without it
  // every pair is included with weight 1.
  //
  // Weights (docs/design.md, "Weights"): every sum of a run is a weighted sum and w the weights'
  // sum. A weight of 1 multiplies exactly, so a 0/1 weight and the mask it equals give the same
  // bits, and an unweighted fold the same bits as before weights existed.
  template <bool kMayExclude, class R>
  GPUEVAL_HD GPUEVAL_FORCEINLINE static void run_fold(R& run, double p, double t, bool include,
                                                      double weight = 1.0) {
    if constexpr (!kMayExclude) {
      include = true;
    }
    take_shift(run, p, t, include);
    accumulate<kMayExclude, false>(run, p, t, include, weight);
  }

  // run_fold for a vector of lanes with an include mask (V a SIMD vector, I its integer mask
  // type, as a comparison yields) and per-lane weights, when every included value is finite:
  // excluded lanes may hold anything, NaN included, since they are selected away before any sum.
  template <class R, class V, class I>
  GPUEVAL_HD GPUEVAL_FORCEINLINE static void run_fold_masked(R& run, V p, V t, I include,
                                                             V weight) {
    take_shift(run, p, t, include);
    accumulate<true, true>(run, p, t, include, weight);
  }

  // The hot-loop form: the pair is included, p and t are finite, and the run already has its
  // shift (k > 0). The same sums as run_fold, without the selects that need none of that. V may
  // be a SIMD vector of lanes (see Math); the log group needs V = double. Without kCount the
  // caller adds the pairs to run.k itself (once for several pairs).
  template <bool kCount = true, class R, class V>
  GPUEVAL_HD GPUEVAL_FORCEINLINE static void run_fold_started(R& run, V p, V t) {
    accumulate<false, true, kCount>(run, p, t, true, Math<V>::splat(1.0));
  }

  // The first included pair of a run becomes its shift.
  template <class R, class V, class I>
  GPUEVAL_HD GPUEVAL_FORCEINLINE static void take_shift(R& run, V p, V t, I include) {
    using M = Math<V>;
    const I take = M::both(include, M::is_zero(run.k));
    run.p0 = M::select(take, p, run.p0);
    run.t0 = M::select(take, t, run.t0);
    run.e0 = M::select(take, p - t, run.e0);
  }

  // The sums of run_fold, relative to the run's shift. kFinite: no included value is NaN, so max
  // and min need not propagate one. I is bool for V = double, or V's comparison mask type.
  // Without kMayExclude every weight is 1 (`weight` is not read); with it, `weight` is finite on
  // every lane, excluded ones included.
  template <bool kMayExclude, bool kFinite, bool kCount = true, class R, class V, class I>
  GPUEVAL_HD GPUEVAL_FORCEINLINE static void accumulate(R& run, V p, V t, I include, V weight) {
    using M = Math<V>;
    const V zero = M::splat(0.0);
    const V e = p - t;
    V dp = p - run.p0;
    V dt = t - run.t0;
    V de = e - run.e0;
    V abs_e = M::abs(e);
    // The weighted deviations: w * d when pairs may be excluded (and so weighted), d otherwise.
    V wdp = dp, wdt = dt, wde = de, w_abs_e = abs_e;
    if constexpr (kMayExclude) {
      dp = M::select(include, dp, zero);
      dt = M::select(include, dt, zero);
      de = M::select(include, de, zero);
      abs_e = M::select(include, abs_e, zero);
      // The deviations are already 0 on excluded lanes, so the products take the weight as it
      // is: callers pass a finite weight on every lane (0 on excluded ones, or the constant 1,
      // whose products the compiler drops: a mask's fold multiplies by nothing).
      wdp = dp * weight;
      wdt = dt * weight;
      wde = de * weight;
      w_abs_e = abs_e * weight;
      run.k += M::select(include, M::splat(1.0), zero);
      run.w += M::select(include, weight, zero);
    } else if constexpr (kCount) {
      run.k += 1.0;
      run.w += 1.0;
    }
    run.s1p += wdp;
    run.s1t += wdt;
    run.s1e += wde;
    run.s2p = M::mul_add(wdp, dp, run.s2p);
    run.s2t = M::mul_add(wdt, dt, run.s2t);
    run.s2e = M::mul_add(wde, de, run.s2e);
    run.spt = M::mul_add(wdp, dt, run.spt);
    run.sum_abs_e += w_abs_e;
    if constexpr (kFinite) {
      run.max_abs_e = M::max(run.max_abs_e, abs_e);
    } else {
      run.max_abs_e = nan_max(run.max_abs_e, abs_e);
    }
    if constexpr ((G & kGroupRange) != 0) {
      if constexpr (kFinite) {
        const V lo = M::min(run.min_t, t), hi = M::max(run.max_t, t);
        if constexpr (kMayExclude) {
          run.min_t = M::select(include, lo, run.min_t);
          run.max_t = M::select(include, hi, run.max_t);
        } else {
          run.min_t = lo;
          run.max_t = hi;
        }
      } else {
        run.min_t = include ? nan_min(run.min_t, t) : run.min_t;
        run.max_t = include ? nan_max(run.max_t, t) : run.max_t;
      }
    }
    if constexpr ((G & kGroupPct) != 0) {
      const V eps = M::splat(kEps64);
      V ape, sape;
      if constexpr (kFinite) {
        ape = abs_e / M::max(M::abs(t), eps);
        sape = 2.0 * abs_e / M::max(M::abs(p) + M::abs(t), eps);
      } else {
        ape = abs_e / nan_max(fabs(t), kEps64);
        sape = 2.0 * abs_e / nan_max(fabs(p) + fabs(t), kEps64);
      }
      if constexpr (kMayExclude) {
        ape = M::select(include, ape * weight, zero);
        sape = M::select(include, sape * weight, zero);
      }
      run.sum_ape += ape;
      run.sum_sape += sape;
    }
    if constexpr ((G & kGroupLog) != 0) {
      const V one = M::splat(1.0);
      const auto out = M::either(M::less(p, zero), M::less(t, zero)); // msle's domain: p, t >= 0
      // log1p(p) - log1p(t) = log1p(x) = log(r), x = e / (1 + t), r = (1 + p) / (1 + t).
      // log1p(x) is accurate near r = 1, where the difference of logs cancels; log(r) is
      // accurate for r far from 1, where forming 1 + x inside log1p would round away r's digits.
      // The switch at |x| = 1/4, tested as |e| < (1 + t) / 4 (no division), keeps both well
      // inside their ranges (and a vector series short: |f| <= 1/7, see Math<v8d>::log_ratio).
      const auto small = M::less(M::abs(e), (one + t) * 0.25);
      V d;
      if constexpr (std::is_same_v<V, double>) {
        d = small ? M::log1p(e / (1.0 + t)) : M::log((1.0 + p) / (1.0 + t));
      } else { // lanes pick their branch's operands, then share one division and one series
        auto easy = M::either(small, out); // lanes whose d is unused unless small
        if constexpr (kMayExclude) {
          easy = M::either(easy, M::negate(include));
        }
        d = M::log_ratio(small, easy, e, p, t);
      }
      if constexpr (kMayExclude) {
        run.n_sle_out_of_domain += M::select(M::both(include, out), one, zero);
        run.sum_sle += M::select(M::both(include, M::negate(out)), d * d * weight, zero);
      } else {
        run.n_sle_out_of_domain += M::select(out, one, zero);
        run.sum_sle += M::select(M::negate(out), d * d, zero);
      }
    }
  }

  GPUEVAL_HD static void run_begin(RunSums& run, double p, double t) {
    run = RunSums{};
    run_fold<false>(run, p, t, true);
  }

  GPUEVAL_HD static void run_add(RunSums& run, double p, double t) {
    run_fold<false>(run, p, t, true);
  }

  // Centred form of a run. S2 - S1^2/k is exact enough here: the values are shifted by a member
  // of the run and k <= kMaxRunLength. Rounding can leave a tiny negative m2; it is clamped.
  // A run with k = 0 gives an empty record that still carries its skipped count.
  template <class R> GPUEVAL_HD static Record run_to_record(const R& run) {
    Record r{};
    r.skipped_nonfinite = static_cast<std::uint64_t>(run.skipped);
    if (run.k == 0.0) {
      return r;
    }
    const double inv_k = 1.0 / run.w; // the weights' sum: k when unweighted
    r.n = static_cast<std::uint64_t>(run.k);
    r.w = run.w;
    r.ref_p = run.p0;
    r.ref_t = run.t0;
    r.ref_e = run.e0;
    r.dmean_p = run.s1p * inv_k;
    r.dmean_t = run.s1t * inv_k;
    r.dmean_e = run.s1e * inv_k;
    r.m2_p = nan_max(run.s2p - run.s1p * run.s1p * inv_k, 0.0);
    r.m2_t = nan_max(run.s2t - run.s1t * run.s1t * inv_k, 0.0);
    r.m2_e = nan_max(run.s2e - run.s1e * run.s1e * inv_k, 0.0);
    r.c_pt = run.spt - run.s1p * run.s1t * inv_k;
    r.sum_abs_e = run.sum_abs_e;
    r.max_abs_e = run.max_abs_e;
    if constexpr ((G & kGroupRange) != 0) {
      r.min_t = run.min_t;
      r.max_t = run.max_t;
    }
    if constexpr ((G & kGroupPct) != 0) {
      r.sum_ape = run.sum_ape;
      r.sum_sape = run.sum_sape;
    }
    if constexpr ((G & kGroupLog) != 0) {
      r.sum_sle = run.sum_sle;
      r.n_sle_out_of_domain = static_cast<std::uint64_t>(run.n_sle_out_of_domain);
    }
    return r;
  }

  // Chan, Golub and LeVeque's pairwise merge, on a's references, with the weights' sums as the
  // counts (West's weighted form; exactly the pair counts when unweighted, as doubles: na*nb is
  // never formed in integers, and f = nb/n is in [0, 1]).
  GPUEVAL_HD static Record combine(const Record& a, const Record& b) {
    if (a.n == 0) {
      Record r = b;
      r.skipped_nonfinite += a.skipped_nonfinite;
      return r;
    }
    if (b.n == 0) {
      Record r = a;
      r.skipped_nonfinite += b.skipped_nonfinite;
      return r;
    }
    Record r{};
    r.n = a.n + b.n;
    r.w = a.w + b.w;
    r.skipped_nonfinite = a.skipped_nonfinite + b.skipped_nonfinite;
    const double na = a.w;
    const double f = b.w / r.w;
    const double naf = na * f; // na * nb / n
    // mean_b - mean_a = (ref_b - ref_a) + (dmean_b - dmean_a): the first difference is exact for
    // nearby references, the second is of the spread's size.
    const double dp = (b.ref_p - a.ref_p) + (b.dmean_p - a.dmean_p);
    const double dt = (b.ref_t - a.ref_t) + (b.dmean_t - a.dmean_t);
    const double de = (b.ref_e - a.ref_e) + (b.dmean_e - a.dmean_e);
    r.ref_p = a.ref_p;
    r.ref_t = a.ref_t;
    r.ref_e = a.ref_e;
    r.dmean_p = a.dmean_p + dp * f;
    r.dmean_t = a.dmean_t + dt * f;
    r.dmean_e = a.dmean_e + de * f;
    r.m2_p = a.m2_p + b.m2_p + dp * dp * naf;
    r.m2_t = a.m2_t + b.m2_t + dt * dt * naf;
    r.m2_e = a.m2_e + b.m2_e + de * de * naf;
    r.c_pt = a.c_pt + b.c_pt + dp * dt * naf;
    r.sum_abs_e = a.sum_abs_e + b.sum_abs_e;
    r.max_abs_e = nan_max(a.max_abs_e, b.max_abs_e);
    if constexpr ((G & kGroupRange) != 0) {
      r.min_t = nan_min(a.min_t, b.min_t);
      r.max_t = nan_max(a.max_t, b.max_t);
    }
    if constexpr ((G & kGroupPct) != 0) {
      r.sum_ape = a.sum_ape + b.sum_ape;
      r.sum_sape = a.sum_sape + b.sum_sape;
    }
    if constexpr ((G & kGroupLog) != 0) {
      r.sum_sle = a.sum_sle + b.sum_sle;
      r.n_sle_out_of_domain = a.n_sle_out_of_domain + b.n_sle_out_of_domain;
    }
    return r;
  }

  // Folds one pair into a record (one division). For scattered pairs; loops over many pairs of
  // the same key use runs.
  GPUEVAL_HD static void reduce(Record& r, double p, double t) {
    RunSums run;
    run_begin(run, p, t);
    r = combine(r, run_to_record(run));
  }

  // Every metric of docs/design.md's "Metrics (regression)" that the record's groups support,
  // weighted by the pairs' weights (n is their sum). n = 0 gives NaN for every metric.
  GPUEVAL_HD static MetricValues finalize(const Record& r) {
    MetricValues out;
    const double nan = quiet_nan();
    for (int i = 0; i < kNumMetrics; ++i) {
      out.v[i] = nan;
    }
    if (r.n == 0) {
      return out;
    }
    const double n = r.w;
    const double mean_p = r.mean_p(), mean_t = r.mean_t(), mean_e = r.mean_e();
    const double sse = r.m2_e + n * mean_e * mean_e; // sum of squared errors
    const double mse = sse / n;
    const double rmse = sqrt(mse);
    out[Metric::mse] = mse;
    out[Metric::rmse] = rmse;
    out[Metric::mae] = r.sum_abs_e / n;
    out[Metric::bias] = mean_e;
    out[Metric::max_error] = r.max_abs_e;
    // scikit-learn's force_finite: a constant target scores 1 when predicted exactly, else 0.
    if (r.m2_t == 0.0) {
      out[Metric::r2] = sse == 0.0 ? 1.0 : (sse == sse ? 0.0 : nan);
      out[Metric::explained_variance] = r.m2_e == 0.0 ? 1.0 : (r.m2_e == r.m2_e ? 0.0 : nan);
      out[Metric::rse] = nan;
    } else {
      out[Metric::r2] = 1.0 - sse / r.m2_t;
      out[Metric::explained_variance] = 1.0 - r.m2_e / r.m2_t;
      out[Metric::rse] = sse / r.m2_t;
    }
    if (r.m2_p != 0.0 && r.m2_t != 0.0) {
      // sqrt of each factor, not of the product, so that extreme scales neither overflow nor
      // underflow. Clipped to [-1, 1] as scipy.stats.pearsonr does.
      const double rho = r.c_pt / (sqrt(r.m2_p) * sqrt(r.m2_t));
      out[Metric::pearson] = rho != rho ? rho : nan_min(1.0, nan_max(-1.0, rho));
    }
    // Lin's concordance, population form, times n. mean_p - mean_t is mean_e, kept exactly.
    const double ccc_den = r.m2_p + r.m2_t + n * mean_e * mean_e;
    if (ccc_den != 0.0) {
      out[Metric::ccc] = 2.0 * r.c_pt / ccc_den;
    }
    const double spp = r.m2_p + n * mean_p * mean_p;
    const double stt = r.m2_t + n * mean_t * mean_t;
    if (spp != 0.0 && stt != 0.0) {
      const double spt = r.c_pt + n * mean_p * mean_t;
      const double cos = spt / (sqrt(spp) * sqrt(stt));
      out[Metric::cosine] = cos != cos ? cos : nan_min(1.0, nan_max(-1.0, cos)); // rounding: clip
    }
    if (mean_t != 0.0) {
      out[Metric::nrmse] = rmse / fabs(mean_t);
    }
    if constexpr ((G & kGroupRange) != 0) {
      const double range = r.max_t - r.min_t;
      if (range != 0.0) {
        out[Metric::nrmse_range] = rmse / range;
      }
    }
    if constexpr ((G & kGroupPct) != 0) {
      out[Metric::mape] = r.sum_ape / n;
      out[Metric::smape] = r.sum_sape / n;
    }
    if constexpr ((G & kGroupLog) != 0) {
      if (r.n_sle_out_of_domain == 0) {
        out[Metric::msle] = r.sum_sle / n;
      }
    }
    return out;
  }
};

// Widens a record to a superset of its groups; the added groups hold their identity.
template <unsigned To, unsigned From>
GPUEVAL_HD RegressionRecord<To> widen(const RegressionRecord<From>& in) {
  static_assert((From & ~To) == 0, "widen: the target must hold every group of the source");
  RegressionRecord<To> out{};
  static_cast<CoreStats&>(out) = static_cast<const CoreStats&>(in);
  if constexpr ((From & kGroupRange) != 0) {
    static_cast<RangeStats&>(out) = static_cast<const RangeStats&>(in);
  }
  if constexpr ((From & kGroupPct) != 0) {
    static_cast<PctStats&>(out) = static_cast<const PctStats&>(in);
  }
  if constexpr ((From & kGroupLog) != 0) {
    static_cast<LogStats&>(out) = static_cast<const LogStats&>(in);
  }
  return out;
}

} // namespace gpueval::ops
