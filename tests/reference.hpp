// The exact reference the tests hold every backend to: long double (64-bit mantissa on x86-64),
// two passes, compensated sums. Independent of ops/regression.hpp on purpose: it shares none of
// its formulas' structure (no shifts, no Chan merge).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/ops/regression_ids.hpp"

namespace gpueval::test {

using Pair = std::pair<double, double>; // (prediction, target)

// Kahan-Babuska (Neumaier) summation in long double.
class ExactSum {
public:
  void add(long double x) {
    const long double t = sum_ + x;
    if (std::fabs(sum_) >= std::fabs(x)) {
      comp_ += (sum_ - t) + x;
    } else {
      comp_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  long double value() const { return sum_ + comp_; }

private:
  long double sum_ = 0;
  long double comp_ = 0;
};

struct ReferenceValues {
  double v[kNumMetrics];
  double operator[](Metric m) const { return v[static_cast<int>(m)]; }
  double& operator[](Metric m) { return v[static_cast<int>(m)]; }
  // The moments, for aggregation tests.
  long double n = 0, mean_t = 0, m2_t = 0, m2_e = 0, sse = 0;
};

// Every regression metric (docs/design.md, "Metrics (regression)"), from the pairs directly.
// Degenerate cases follow the table. With `weights` (one per pair, >= 0), every sum is weighted
// and n is the weights' sum, as scikit-learn's sample_weight (pairs of weight 0 are left out;
// the quantiles, which gpueval does not weigh, are then NaN).
inline ReferenceValues reference_metrics(const std::vector<Pair>& all_pairs,
                                         const std::vector<double>& weights = {}) {
  using LD = long double;
  ReferenceValues r;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double& x : r.v) {
    x = nan;
  }
  std::vector<Pair> pairs;
  std::vector<LD> w;
  for (std::size_t i = 0; i < all_pairs.size(); ++i) {
    const double wi = weights.empty() ? 1.0 : weights[i];
    if (wi != 0) {
      pairs.push_back(all_pairs[i]);
      w.push_back(wi);
    }
  }
  const std::size_t count = pairs.size();
  if (count == 0) {
    return r;
  }
  ExactSum sw, sp, st, se;
  for (std::size_t i = 0; i < count; ++i) {
    const auto [p, t] = pairs[i];
    sw.add(w[i]);
    sp.add(w[i] * p);
    st.add(w[i] * t);
    se.add(w[i] * (static_cast<LD>(p) - static_cast<LD>(t)));
  }
  const LD n = sw.value();
  const LD mp = sp.value() / n, mt = st.value() / n, me = se.value() / n;
  ExactSum m2p, m2t, m2e, cpt, sse, sabs, spp, stt, sptn, ape, sape, sle;
  LD max_abs = 0, min_t = INFINITY, max_t = -INFINITY;
  bool log_domain = true;
  for (std::size_t i = 0; i < count; ++i) {
    const auto [p, t] = pairs[i];
    const LD wi = w[i];
    const LD lp = p, lt = t;
    const LD e = lp - lt;
    m2p.add(wi * (lp - mp) * (lp - mp));
    m2t.add(wi * (lt - mt) * (lt - mt));
    m2e.add(wi * (e - me) * (e - me));
    cpt.add(wi * (lp - mp) * (lt - mt));
    sse.add(wi * e * e);
    sabs.add(wi * std::fabs(e));
    spp.add(wi * lp * lp);
    stt.add(wi * lt * lt);
    sptn.add(wi * lp * lt);
    max_abs = std::max(max_abs, std::fabs(e));
    min_t = std::min(min_t, lt);
    max_t = std::max(max_t, lt);
    const LD eps = std::numeric_limits<double>::epsilon();
    ape.add(wi * std::fabs(e) / std::max(std::fabs(lt), eps));
    sape.add(wi * 2 * std::fabs(e) / std::max(std::fabs(lp) + std::fabs(lt), eps));
    if (p < 0 || t < 0) {
      log_domain = false;
    } else {
      // The difference of logs cancels for p close to t; its log1p form does not.
      const LD x = e / (1 + lt);
      const LD d = std::fabs(x) < 0.5L ? std::log1p(x) : std::log((1 + lp) / (1 + lt));
      sle.add(wi * d * d);
    }
  }
  const LD mse = sse.value() / n;
  r.n = n;
  r.mean_t = mt;
  r.m2_t = m2t.value();
  r.m2_e = m2e.value();
  r.sse = sse.value();
  r[Metric::mse] = static_cast<double>(mse);
  r[Metric::rmse] = static_cast<double>(std::sqrt(mse));
  r[Metric::mae] = static_cast<double>(sabs.value() / n);
  r[Metric::bias] = static_cast<double>(me);
  r[Metric::max_error] = static_cast<double>(max_abs);
  if (r.m2_t == 0) {
    r[Metric::r2] = r.sse == 0 ? 1.0 : 0.0;
    r[Metric::explained_variance] = r.m2_e == 0 ? 1.0 : 0.0;
  } else {
    r[Metric::r2] = static_cast<double>(1 - r.sse / r.m2_t);
    r[Metric::explained_variance] = static_cast<double>(1 - r.m2_e / r.m2_t);
    r[Metric::rse] = static_cast<double>(r.sse / r.m2_t);
  }
  if (m2p.value() != 0 && r.m2_t != 0) {
    const LD rho = cpt.value() / std::sqrt(m2p.value() * r.m2_t);
    r[Metric::pearson] = static_cast<double>(std::max<LD>(-1, std::min<LD>(1, rho)));
  }
  const LD ccc_den = m2p.value() + r.m2_t + n * (mp - mt) * (mp - mt);
  if (ccc_den != 0) {
    r[Metric::ccc] = static_cast<double>(2 * cpt.value() / ccc_den);
  }
  if (spp.value() != 0 && stt.value() != 0) {
    r[Metric::cosine] = static_cast<double>(sptn.value() / std::sqrt(spp.value() * stt.value()));
  }
  if (mt != 0) {
    r[Metric::nrmse] = static_cast<double>(std::sqrt(mse) / std::fabs(mt));
  }
  if (max_t - min_t != 0) {
    r[Metric::nrmse_range] = static_cast<double>(std::sqrt(mse) / (max_t - min_t));
  }
  r[Metric::mape] = static_cast<double>(ape.value() / n);
  r[Metric::smape] = static_cast<double>(sape.value() / n);
  if (log_domain) {
    r[Metric::msle] = static_cast<double>(sle.value() / n);
  }
  // Quantiles of |p - t| (each difference rounded to double, as the sketch sees it), linear
  // between order statistics as numpy's default.
  std::vector<double> abs_e;
  bool any_nan = !weights.empty(); // weighted: not computed
  for (const auto& [p, t] : pairs) {
    abs_e.push_back(std::fabs(p - t));
    any_nan = any_nan || std::isnan(abs_e.back());
  }
  std::sort(abs_e.begin(), abs_e.end());
  const auto quantile = [&](double q) {
    if (any_nan) {
      return nan;
    }
    const double pos = q * static_cast<double>(count - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, count - 1);
    const double a = abs_e[lo], b = abs_e[hi];
    return a == b
               ? a
               : static_cast<double>(a + static_cast<LD>(pos - static_cast<double>(lo)) * (b - a));
  };
  r[Metric::median_absolute_error] = quantile(0.5);
  r[Metric::abs_error_q90] = quantile(0.9);
  r[Metric::abs_error_q99] = quantile(0.99);
  return r;
}

inline bool is_quantile_metric(Metric m) {
  return m == Metric::median_absolute_error || m == Metric::abs_error_q90 ||
         m == Metric::abs_error_q99;
}

// The relative tolerance for a metric: the accuracy rule's 1e-9 (docs/design.md, "Numerics"), or
// the quantile sketch's accuracy at the default quantile_alpha (7 mantissa bits), with room for the
// last bits of rounding.
inline double tolerance(Metric m) {
  return is_quantile_metric(m) ? ops::sketch::alpha(7) + 1e-12 : 1e-9;
}

// The accuracy rule (docs/design.md, "Numerics"): |x - ref| <= 1e-9 * max(|ref|, scale), scale =
// rmse for bias, 1 for the bounded scores, 0 otherwise. NaN matches NaN only.
inline double accuracy_scale(Metric m, const ReferenceValues& ref) {
  switch (m) {
  case Metric::bias:
    return ref[Metric::rmse];
  case Metric::r2:
  case Metric::explained_variance:
  case Metric::pearson:
  case Metric::ccc:
  case Metric::cosine:
    return 1.0;
  default:
    return 0.0;
  }
}

inline bool within_accuracy(double got, double ref, double scale, double tol = 1e-9) {
  if (std::isnan(ref) || std::isnan(got)) {
    return std::isnan(ref) && std::isnan(got);
  }
  if (std::isinf(ref) || std::isinf(got)) {
    return got == ref;
  }
  return std::fabs(got - ref) <= tol * std::max(std::fabs(ref), scale);
}

} // namespace gpueval::test
