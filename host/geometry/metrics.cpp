// The geometry report from the records: each metric a ratio of exact sums (finalize), per key
// and over every vector.
#include <cmath>
#include <limits>
#include <string>

#include "core/json_text.hpp"
#include "geometry/backend.hpp"
#include "gpueval/ops/quantile_sketch.hpp"

namespace gpueval::detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string threshold_text(double t) {
  std::string s;
  append_number(s, t);
  return s;
}

// One record's sums as doubles: the exact sums' values, the counts.
struct Sums {
  const ops::GeoLayout& l;
  const std::uint64_t* w;
  double sum(int s) const { return ops::exact_value(w + l.sum(s)); }
  double fraction(std::int64_t at) const {
    const double weight = sum(ops::GeoLayout::weight);
    return ops::exact_value(w + at) / weight;
  }
};

// The metrics of one record of vectors (a key's, an index's, or every key's added) and, for the
// mode metrics, of the samples (nullptr: NaN), in `names` order.
void finalize(const GeoBackend& b, const std::uint64_t* words, const std::uint64_t* samples,
              std::vector<double>& out) {
  const ops::GeoLayout& l = b.layout;
  const Sums s{l, words};
  const double weight = s.sum(ops::GeoLayout::weight);
  const bool nan = weight == 0 || words[ops::GeoLayout::kNonfinite] != 0;
  auto put = [&](double v) { out.push_back(nan ? kNaN : v); };
  // The samples' metrics: over the samples (min_ade), or over those with a final vector.
  const auto put_sample = [&](int sum, bool over_final) {
    if (samples == nullptr || samples[ops::GeoLayout::kNonfinite] != 0) {
      out.push_back(kNaN);
      return;
    }
    const Sums m{l, samples};
    const double n = m.sum(over_final ? ops::GeoLayout::final_weight : ops::GeoLayout::weight);
    out.push_back(n == 0 ? kNaN : m.sum(sum) / n);
  };
  for (GeoMetric m : b.metrics) {
    switch (m) {
    case GeoMetric::fde: {
      const double f = s.sum(ops::GeoLayout::final_weight);
      out.push_back(nan || f == 0 ? kNaN : s.sum(ops::GeoLayout::final_error) / f);
      break;
    }
    case GeoMetric::min_ade:
      put_sample(ops::GeoLayout::min_ade, false);
      break;
    case GeoMetric::min_fde:
      put_sample(ops::GeoLayout::min_fde, true);
      break;
    case GeoMetric::min_ade_by_fde:
      put_sample(ops::GeoLayout::ade_by_fde, true);
      break;
    case GeoMetric::miss_rate:
      put_sample(ops::GeoLayout::miss, true);
      break;
    case GeoMetric::median_error:
    case GeoMetric::error_q90:
    case GeoMetric::error_q99:
      out.push_back(kNaN); // the sketch's, over every vector (build_geo_report)
      break;
    case GeoMetric::mpjpe:
      put(s.sum(ops::GeoLayout::error) / weight);
      break;
    case GeoMetric::rmse_vec:
      put(std::sqrt(s.sum(ops::GeoLayout::squared) / weight));
      break;
    case GeoMetric::pa_mpjpe:
      put(s.sum(ops::GeoLayout::procrustes) / weight);
      break;
    case GeoMetric::n_mpjpe:
      put(s.sum(ops::GeoLayout::scaled) / weight);
      break;
    case GeoMetric::pck:
      for (int i = 0; i < l.pck; ++i) {
        put(s.fraction(l.pck_sum(i)));
      }
      break;
    case GeoMetric::auc_pck: {
      // The PCK curve at the grid's thresholds: the weight of the bins up to each, cumulated in
      // exact sums, then its mean.
      std::uint64_t cumulative[ops::kExactWords] = {};
      double mean = 0;
      for (int t = 0; t < l.auc_steps; ++t) {
        ops::exact_merge(cumulative, words + l.auc_sum(t));
        mean += ops::exact_value(cumulative) / weight;
      }
      put(mean / l.auc_steps);
      break;
    }
    case GeoMetric::px1:
      put(s.fraction(l.sum(ops::GeoLayout::px1)));
      break;
    case GeoMetric::px3:
      put(s.fraction(l.sum(ops::GeoLayout::px3)));
      break;
    case GeoMetric::px5:
      put(s.fraction(l.sum(ops::GeoLayout::px5)));
      break;
    case GeoMetric::outlier_rate:
      put(s.fraction(l.sum(ops::GeoLayout::outlier)));
      break;
    }
  }
}

} // namespace

GeometryReport build_geo_report(const GeoBackend& b, const std::vector<std::uint64_t>& words,
                                const std::vector<std::uint64_t>& sketch) {
  GeometryReport r;
  r.spec = b.spec;
  r.spec.metrics = b.metrics;
  r.spec.sample_shape = b.sample_shape;
  r.spec.vector_axis = b.info.vector_axis; // the axis it took
  r.dims = b.info.dims;
  r.key_axis = b.info.key_axis;
  for (GeoMetric m : b.metrics) {
    if (m == GeoMetric::pck) {
      for (double t : b.spec.pck_thresholds) {
        r.names.push_back("pck@" + threshold_text(t));
      }
    } else {
      r.names.emplace_back(geo_metric_name(m));
    }
  }
  const ops::GeoLayout& l = b.layout;
  const auto stride = static_cast<std::size_t>(l.words);
  const auto record = [&](std::int64_t i) {
    return words.data() + static_cast<std::size_t>(i) * stride;
  };
  const std::uint64_t* samples = b.info.modes ? record(b.info.sample_record()) : nullptr;
  std::vector<std::uint64_t> all(stride, 0);
  r.per_key.assign(r.names.size(), std::vector<double>());
  std::vector<double> values;
  for (std::int64_t k = 0; k < b.info.keys; ++k) {
    const std::uint64_t* rec = record(k);
    ops::combine(all.data(), rec, l);
    r.per_key_count.push_back(rec[ops::GeoLayout::kCount]);
    values.clear();
    finalize(b, rec, nullptr, values);
    for (std::size_t i = 0; i < values.size(); ++i) {
      r.per_key[i].push_back(values[i]);
    }
  }
  if (b.info.by_axis > 0) {
    r.by_axis_index = b.info.by_axis;
    r.by_axis.assign(r.names.size(), std::vector<double>());
    for (std::int64_t j = 0; j < b.info.by_length; ++j) {
      const std::uint64_t* rec = record(b.info.by_record(j));
      r.by_axis_count.push_back(rec[ops::GeoLayout::kCount]);
      values.clear();
      finalize(b, rec, nullptr, values);
      for (std::size_t i = 0; i < values.size(); ++i) {
        r.by_axis[i].push_back(values[i]);
      }
    }
  }
  finalize(b, all.data(), samples, r.values);
  if (b.sketch_bits > 0) { // the error quantiles over every vector
    r.quantile_accuracy = ops::sketch::alpha(b.sketch_bits);
    const bool nan = all[ops::GeoLayout::kNonfinite] != 0;
    std::size_t i = 0;
    for (GeoMetric m : b.metrics) {
      const double q = m == GeoMetric::median_error ? 0.5
                       : m == GeoMetric::error_q90  ? 0.9
                       : m == GeoMetric::error_q99  ? 0.99
                                                    : -1;
      if (q >= 0) {
        r.values[i] = nan ? kNaN : ops::sketch::quantile(sketch.data(), b.sketch_bits, q);
      }
      i += m == GeoMetric::pck ? b.spec.pck_thresholds.size() : 1;
    }
  }
  r.count = all[ops::GeoLayout::kCount];
  r.skipped_nonfinite =
      all[ops::GeoLayout::kSkipped] + (samples ? samples[ops::GeoLayout::kSkipped] : 0);
  r.weight_sum = ops::exact_value(all.data() + l.sum(ops::GeoLayout::weight));
  if (samples != nullptr) {
    r.samples = samples[ops::GeoLayout::kCount];
    r.samples_with_final =
        static_cast<std::uint64_t>(ops::exact_value(samples + l.sum(ops::GeoLayout::final_weight)));
    r.weight_sum = static_cast<double>(r.count);
  }
  if (b.needs(GeoMetric::auc_pck)) {
    std::uint64_t cumulative[ops::kExactWords] = {};
    const bool nan = r.weight_sum == 0 || all[ops::GeoLayout::kNonfinite] != 0;
    for (int t = 0; t < l.auc_steps; ++t) {
      ops::exact_merge(cumulative, all.data() + l.auc_sum(t));
      r.auc_thresholds.push_back(t * b.params().auc_step);
      r.auc_curve.push_back(nan ? kNaN : ops::exact_value(cumulative) / r.weight_sum);
    }
  }
  return r;
}

} // namespace gpueval::detail
