// The geometry report from the records: each metric a ratio of exact sums (finalize), per key
// and over every vector.
#include <cmath>
#include <limits>
#include <string>

#include "core/json_text.hpp"
#include "geometry/backend.hpp"

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

// The metrics of one record (one key, or every key's added), in `names` order.
void finalize(const GeoBackend& b, const std::uint64_t* words, std::vector<double>& out) {
  const ops::GeoLayout& l = b.layout;
  const Sums s{l, words};
  const double weight = s.sum(ops::GeoLayout::weight);
  const bool nan = weight == 0 || words[ops::GeoLayout::kNonfinite] != 0;
  auto put = [&](double v) { out.push_back(nan ? kNaN : v); };
  for (GeoMetric m : b.metrics) {
    switch (m) {
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

GeometryReport build_geo_report(const GeoBackend& b, const std::vector<std::uint64_t>& words) {
  GeometryReport r;
  r.spec = b.spec;
  r.spec.metrics = b.metrics;
  r.spec.sample_shape = b.sample_shape;
  r.dims = b.info.dims;
  r.key_axis = b.info.key_axis;
  for (GeoMetric m : b.metrics) {
    if (m == GeoMetric::pck) {
      for (double t : b.pck) {
        r.names.push_back("pck@" + threshold_text(t));
      }
    } else {
      r.names.emplace_back(geo_metric_name(m));
    }
  }
  const ops::GeoLayout& l = b.layout;
  const auto stride = static_cast<std::size_t>(l.words);
  std::vector<std::uint64_t> all(stride, 0);
  r.per_key.assign(r.names.size(), std::vector<double>());
  std::vector<double> values;
  for (std::int64_t k = 0; k < b.info.keys; ++k) {
    const std::uint64_t* rec = words.data() + static_cast<std::size_t>(k) * stride;
    ops::combine(all.data(), rec, l);
    r.per_key_count.push_back(rec[ops::GeoLayout::kCount]);
    values.clear();
    finalize(b, rec, values);
    for (std::size_t i = 0; i < values.size(); ++i) {
      r.per_key[i].push_back(values[i]);
    }
  }
  finalize(b, all.data(), r.values);
  r.count = all[ops::GeoLayout::kCount];
  r.skipped_nonfinite = all[ops::GeoLayout::kSkipped];
  r.weight_sum = ops::exact_value(all.data() + l.sum(ops::GeoLayout::weight));
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
