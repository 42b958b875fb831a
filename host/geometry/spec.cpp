// The geometry family's metric table, spec validation, key layout and options.
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "core/options.hpp"
#include "gpueval/error.hpp"
#include "gpueval/geometry.hpp"
#include "gpueval/ops/quantile_sketch.hpp"

namespace gpueval {

const std::vector<GeoMetricInfo>& geo_metric_table() {
  static const std::vector<GeoMetricInfo> table = {
      {GeoMetric::mpjpe, "mpjpe", "mean error |p - t| (aliases epe, ade)"},
      {GeoMetric::rmse_vec, "rmse_vec", "sqrt of the mean squared error"},
      {GeoMetric::pa_mpjpe, "pa_mpjpe",
       "mean error after each sample's similarity alignment (Procrustes; vectors of <= 3 "
       "components)"},
      {GeoMetric::n_mpjpe, "n_mpjpe", "mean error after each sample's scale alignment"},
      {GeoMetric::pck, "pck", "fraction of errors under each of pck_thresholds (pck@T)"},
      {GeoMetric::auc_pck, "auc_pck", "mean of the PCK curve at auc_steps thresholds 0..auc_max"},
      {GeoMetric::px1, "px1", "fraction of errors under 1"},
      {GeoMetric::px3, "px3", "fraction of errors under 3"},
      {GeoMetric::px5, "px5", "fraction of errors under 5"},
      {GeoMetric::outlier_rate, "outlier_rate",
       "fraction of errors over outlier_abs and over outlier_rel |t| (KITTI Fl-all)"},
      {GeoMetric::fde, "fde", "mean error at the time axis' last index (Argoverse FDE)"},
      {GeoMetric::min_ade, "min_ade", "mode_axis: mean over samples of the least ADE over modes"},
      {GeoMetric::min_fde, "min_fde", "mode_axis: mean over samples of the least FDE over modes"},
      {GeoMetric::min_ade_by_fde, "min_ade_by_fde",
       "mode_axis: mean over samples of the ADE of the mode with the least FDE (Argoverse's "
       "minADE)"},
      {GeoMetric::miss_rate, "miss_rate",
       "mode_axis: fraction of samples whose least FDE exceeds miss_threshold"},
      {GeoMetric::median_error, "median_error",
       "median error over every vector, from a sketch within quantile_alpha (opt-in)"},
      {GeoMetric::error_q90, "error_q90", "90th percentile of the errors (opt-in)"},
      {GeoMetric::error_q99, "error_q99", "99th percentile of the errors (opt-in)"},
  };
  return table;
}

std::string_view geo_metric_name(GeoMetric m) {
  return geo_metric_table()[static_cast<std::size_t>(m)].name;
}

GeoMetric parse_geo_metric(std::string_view name) {
  if (name == "epe" || name == "ade") {
    return GeoMetric::mpjpe;
  }
  std::string names;
  for (const GeoMetricInfo& info : geo_metric_table()) {
    if (info.name == name) {
      return info.metric;
    }
    names += (names.empty() ? "" : ", ") + std::string(info.name);
  }
  throw InvalidArgument("unknown geometry metric '" + std::string(name) + "': one of " + names +
                        " (epe and ade are mpjpe)");
}

namespace {

int normalise_axis(int axis, int rank, const char* name) {
  const int a = axis < 0 ? axis + rank : axis;
  GPUEVAL_EXPECTS(a >= 1 && a < rank, std::string(name) + " " + std::to_string(axis) +
                                          " is not an axis after the batch axis of a tensor of "
                                          "rank " +
                                          std::to_string(rank));
  return a;
}

} // namespace

void GeometrySpec::validate() const {
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      GPUEVAL_EXPECTS(metrics[i] != metrics[j],
                      "metric '" + std::string(geo_metric_name(metrics[i])) + "' is listed twice");
    }
    GPUEVAL_EXPECTS(metrics[i] != GeoMetric::pck || !pck_thresholds.empty(),
                    "pck needs pck_thresholds (e.g. pck_thresholds=150 for 3DPCK in mm)");
  }
  GPUEVAL_EXPECTS(pck_thresholds.size() <= static_cast<std::size_t>(kMaxPckThresholds),
                  "at most " + std::to_string(kMaxPckThresholds) + " pck_thresholds");
  for (std::size_t i = 0; i < pck_thresholds.size(); ++i) {
    GPUEVAL_EXPECTS(std::isfinite(pck_thresholds[i]) && pck_thresholds[i] > 0 &&
                        (i == 0 || pck_thresholds[i] > pck_thresholds[i - 1]),
                    "pck_thresholds must be finite, positive and increasing");
  }
  GPUEVAL_EXPECTS(std::isfinite(auc_max) && auc_max > 0, "auc_max must be finite and positive");
  GPUEVAL_EXPECTS(auc_steps >= 2 && auc_steps <= kMaxAucSteps,
                  "auc_steps must be 2 to " + std::to_string(kMaxAucSteps));
  GPUEVAL_EXPECTS(std::isfinite(outlier_abs) && outlier_abs >= 0 && std::isfinite(outlier_rel) &&
                      outlier_rel >= 0,
                  "outlier_abs and outlier_rel must be finite and >= 0");
  GPUEVAL_EXPECTS(std::isfinite(miss_threshold) && miss_threshold >= 0,
                  "miss_threshold must be finite and >= 0");
  GPUEVAL_EXPECTS(quantile_alpha >= 0.00049 && quantile_alpha <= 0.5,
                  "quantile_alpha must be within [0.00049, 0.5]");
  GPUEVAL_EXPECTS(!mode_axis || *mode_axis == 1,
                  "mode_axis must be 1 (predictions [N, K, ...] against targets [N, ...]); move "
                  "the predictions' mode axis there (torch: pred.movedim(a, 1))");
  for (GeoMetric m : metrics) {
    const std::string name(geo_metric_name(m));
    GPUEVAL_EXPECTS(is_mode_metric(m) == mode_axis.has_value(),
                    mode_axis ? name + " is a vector's metric; with mode_axis the metrics are the "
                                       "samples' best modes': min_ade, min_fde, min_ade_by_fde, "
                                       "miss_rate"
                              : name + " needs mode_axis (the predictions' K modes)");
    GPUEVAL_EXPECTS(!(m == GeoMetric::fde || m == GeoMetric::min_fde ||
                      m == GeoMetric::min_ade_by_fde || m == GeoMetric::miss_rate) ||
                        time_axis.has_value(),
                    name + " needs time_axis (the targets' axis whose last index is final)");
  }
  if (pck_normalized.value_or(false)) {
    bool thresholds = metrics.empty() && !mode_axis; // the default set has auc_pck
    for (GeoMetric m : metrics) {
      thresholds = thresholds || m == GeoMetric::pck || m == GeoMetric::auc_pck;
    }
    GPUEVAL_EXPECTS(thresholds, "a normalizer scales the PCK thresholds, but these metrics have "
                                "neither pck nor auc_pck: name one of them, or pass no normalizer");
  }
  GPUEVAL_EXPECTS(!mode_axis || (!key_axis && !by_axis && sample_axes.empty()),
                  "mode_axis gives one value per sample (a batch row): key_axis, by_axis and "
                  "sample_axes do not apply");
  if (!sample_shape.empty()) {
    (void)GeoLayoutInfo::from(*this, sample_shape);
  }
}

int GeometrySpec::quantile_bits() const {
  for (GeoMetric m : metrics) {
    if (is_quantile_metric(m)) {
      return ops::sketch::mantissa_bits_for(quantile_alpha);
    }
  }
  return 0;
}

std::vector<GeoMetric> GeometrySpec::resolved_metrics(std::int64_t dims) const {
  if (!metrics.empty()) {
    return metrics;
  }
  if (mode_axis) {
    if (!time_axis) {
      return {GeoMetric::min_ade};
    }
    return {GeoMetric::min_ade, GeoMetric::min_fde, GeoMetric::min_ade_by_fde,
            GeoMetric::miss_rate};
  }
  std::vector<GeoMetric> out = {GeoMetric::mpjpe, GeoMetric::rmse_vec};
  if (dims <= kMaxProcrustesDims) {
    out.push_back(GeoMetric::pa_mpjpe);
  }
  out.push_back(GeoMetric::n_mpjpe);
  if (!pck_thresholds.empty()) {
    out.push_back(GeoMetric::pck);
  }
  if (time_axis) {
    out.push_back(GeoMetric::fde);
  }
  for (GeoMetric m : {GeoMetric::auc_pck, GeoMetric::px1, GeoMetric::px3, GeoMetric::px5,
                      GeoMetric::outlier_rate}) {
    out.push_back(m);
  }
  return out;
}

GeoLayoutInfo GeoLayoutInfo::from(const GeometrySpec& spec,
                                  const std::vector<std::int64_t>& sample) {
  const int rank = static_cast<int>(sample.size()) + 1;
  GPUEVAL_EXPECTS(rank >= 2, "a geometry batch is [batch, ..., vector]: rank 2 or more");
  GeoLayoutInfo l;
  l.vector_axis = normalise_axis(spec.vector_axis.value_or(-1), rank, "vector_axis");
  l.dims = sample[static_cast<std::size_t>(l.vector_axis - 1)];
  GPUEVAL_EXPECTS(l.dims >= 1, "the vector axis has length 0");
  GPUEVAL_EXPECTS(spec.vector_axis || l.dims <= kMaxImplicitDims,
                  "the targets' last axis has " + std::to_string(l.dims) +
                      " components, more than a point or a flow vector has: name the axis that "
                      "holds the vectors (vector_axis=1 for [N, 2, H, W] flow), or "
                      "vector_axis=-1 for vectors of that length");
  l.vectors = 1;
  for (int a = 1; a < rank; ++a) {
    if (a != l.vector_axis) {
      l.vectors *= sample[static_cast<std::size_t>(a - 1)];
    }
  }
  // An axis of the targets other than the batch and vector axes, and its length.
  const auto other_axis = [&](int axis, const char* name, std::int64_t limit) {
    const int a = normalise_axis(axis, rank, name);
    GPUEVAL_EXPECTS(a != l.vector_axis,
                    std::string(name) + " and vector_axis are both axis " + std::to_string(a));
    const std::int64_t n = sample[static_cast<std::size_t>(a - 1)];
    GPUEVAL_EXPECTS(n >= 1 && n <= limit, std::string(name) + " has length " + std::to_string(n) +
                                              "; 1 to " + std::to_string(limit));
    return std::make_pair(a, n);
  };
  if (spec.key_axis) {
    std::tie(l.key_axis, l.keys) = other_axis(*spec.key_axis, "key_axis", kMaxGeoKeys);
  }
  if (spec.time_axis) {
    std::tie(l.time_axis, l.steps) =
        other_axis(*spec.time_axis, "time_axis", std::numeric_limits<std::int64_t>::max());
  }
  if (spec.by_axis) {
    std::tie(l.by_axis, l.by_length) = other_axis(*spec.by_axis, "by_axis", kMaxGeoKeys);
  }
  l.modes = spec.mode_axis.has_value();
  // The reading order: the other axes, then the sample axes.
  std::vector<bool> in_sample(static_cast<std::size_t>(rank), spec.sample_axes.empty());
  for (int axis : spec.sample_axes) {
    const int a = other_axis(axis, "sample_axes", std::numeric_limits<std::int64_t>::max()).first;
    GPUEVAL_EXPECTS(!in_sample[static_cast<std::size_t>(a)],
                    "sample_axes lists axis " + std::to_string(a) + " twice");
    in_sample[static_cast<std::size_t>(a)] = true;
  }
  l.sample_size = 1;
  for (bool sample_group : {false, true}) {
    for (int a = 1; a < rank; ++a) {
      if (a != l.vector_axis && in_sample[static_cast<std::size_t>(a)] == sample_group) {
        l.order.push_back(a);
        const std::int64_t n = sample[static_cast<std::size_t>(a - 1)];
        (sample_group ? l.sample_size : l.samples_per_row) *= n;
      }
    }
  }
  for (GeoMetric m : spec.resolved_metrics(l.dims)) {
    GPUEVAL_EXPECTS(m != GeoMetric::pa_mpjpe || l.dims <= kMaxProcrustesDims,
                    "pa_mpjpe aligns vectors of at most " + std::to_string(kMaxProcrustesDims) +
                        " components; these have " + std::to_string(l.dims) +
                        " (name the metrics without pa_mpjpe, or check vector_axis)");
  }
  return l;
}

const std::vector<OptionInfo>& GeometrySpec::option_infos() {
  static const std::vector<OptionInfo> infos = {
      {"metrics", "comma-separated metric names, or 'default' (every metric the inputs support)",
       "default"},
      {"vector_axis",
       "the axis that holds a vector's components (1 for [N, 2, H, W] flow; default: the last, "
       "of at most 4 components)",
       ""},
      {"key_axis", "an axis whose index has its own metrics (the joint axis), or none", ""},
      {"time_axis", "the targets' time axis: fde (min_fde, miss_rate) at its last index", ""},
      {"mode_axis", "1: predictions [N, K, ...] hold K modes (min_ade, min_fde, miss_rate)", ""},
      {"by_axis", "an axis of the targets: every vector metric per index (error vs horizon)", ""},
      {"miss_threshold", "miss_rate: a sample's least FDE over this misses", "2"},
      {"sample_axes", "axes whose vectors form one sample for pa_mpjpe, n_mpjpe (default: the row)",
       ""},
      {"quantile_alpha", "relative accuracy of median_error, error_q90, error_q99", "0.005"},
      {"pck_thresholds", "comma-separated PCK thresholds (pck@T each)", ""},
      {"auc_max", "auc_pck: the largest threshold of the PCK curve", "150"},
      {"auc_steps", "auc_pck: thresholds on the curve, 0 to auc_max", "31"},
      {"outlier_abs", "outlier_rate: an error counts over this and over outlier_rel |t|", "3"},
      {"outlier_rel", "outlier_rate: relative to the target vector's length", "0.05"},
      {"pck_normalized",
       "true: pck and auc_pck divide each error by the update's normalizer (PCKh); default: "
       "whether the first update passes one",
       "", false},
      {"nan_policy", "skip, propagate or error", "skip"},
      {"sample_shape", "the shape of one sample (a batch without its first axis)", "", false},
  };
  return infos;
}

GeometrySpec GeometrySpec::from_options(const Options& options) {
  const detail::OptionReader o(options, "geometry", option_infos());
  o.check_known();
  GeometrySpec spec;
  const std::string metrics = o.text("metrics", "default");
  if (metrics != "default") {
    for (const std::string& name : o.names("metrics")) {
      GPUEVAL_EXPECTS(!name.empty(), "metrics has an empty name");
      spec.metrics.push_back(parse_geo_metric(name));
    }
  }
  if (const std::optional<std::int64_t> v = o.integer("vector_axis")) {
    spec.vector_axis = static_cast<int>(*v);
  }
  if (const std::optional<std::int64_t> k = o.integer("key_axis", "none")) {
    spec.key_axis = static_cast<int>(*k);
  }
  if (const std::optional<std::int64_t> k = o.integer("time_axis", "none")) {
    spec.time_axis = static_cast<int>(*k);
  }
  if (const std::optional<std::int64_t> k = o.integer("mode_axis", "none")) {
    spec.mode_axis = static_cast<int>(*k);
  }
  if (const std::optional<std::int64_t> k = o.integer("by_axis", "none")) {
    spec.by_axis = static_cast<int>(*k);
  }
  spec.miss_threshold = o.real("miss_threshold", 2.0);
  for (std::int64_t a : o.shape("sample_axes")) {
    spec.sample_axes.push_back(static_cast<int>(a));
  }
  spec.quantile_alpha = o.real("quantile_alpha", 0.005);
  for (const std::string& t : o.names("pck_thresholds")) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    GPUEVAL_EXPECTS(used == t.size() && !t.empty(),
                    "pck_thresholds takes comma-separated numbers, not '" + t + "'");
    spec.pck_thresholds.push_back(v);
  }
  spec.auc_max = o.real("auc_max", 150);
  spec.auc_steps = static_cast<int>(o.integer("auc_steps", 31));
  spec.outlier_abs = o.real("outlier_abs", 3.0);
  spec.outlier_rel = o.real("outlier_rel", 0.05);
  if (o.has("pck_normalized")) {
    spec.pck_normalized = o.boolean("pck_normalized", false);
  }
  spec.nan_policy = parse_nan_policy(o.text("nan_policy", "skip"));
  spec.sample_shape = o.shape("sample_shape");
  spec.validate();
  return spec;
}

Options GeometrySpec::to_options() const {
  Options o;
  std::string names;
  for (GeoMetric m : metrics) {
    names += (names.empty() ? "" : ",") + std::string(geo_metric_name(m));
  }
  o["metrics"] = names.empty() ? "default" : names;
  if (vector_axis) {
    o["vector_axis"] = detail::option_text(std::int64_t{*vector_axis});
  }
  o["key_axis"] = key_axis ? detail::option_text(std::int64_t{*key_axis}) : "none";
  o["time_axis"] = time_axis ? detail::option_text(std::int64_t{*time_axis}) : "none";
  o["mode_axis"] = mode_axis ? detail::option_text(std::int64_t{*mode_axis}) : "none";
  o["by_axis"] = by_axis ? detail::option_text(std::int64_t{*by_axis}) : "none";
  o["miss_threshold"] = detail::option_text(miss_threshold);
  if (!sample_axes.empty()) {
    o["sample_axes"] =
        detail::option_text(std::vector<std::int64_t>(sample_axes.begin(), sample_axes.end()));
  }
  o["quantile_alpha"] = detail::option_text(quantile_alpha);
  std::string thresholds;
  for (double t : pck_thresholds) {
    thresholds += (thresholds.empty() ? "" : ",") + detail::option_text(t);
  }
  if (!thresholds.empty()) {
    o["pck_thresholds"] = thresholds;
  }
  o["auc_max"] = detail::option_text(auc_max);
  o["auc_steps"] = detail::option_text(std::int64_t{auc_steps});
  o["outlier_abs"] = detail::option_text(outlier_abs);
  o["outlier_rel"] = detail::option_text(outlier_rel);
  if (pck_normalized) {
    o["pck_normalized"] = *pck_normalized ? "true" : "false";
  }
  o["nan_policy"] = std::string(nan_policy_name(nan_policy));
  if (!sample_shape.empty()) {
    o["sample_shape"] = detail::option_text(sample_shape);
  }
  return o;
}

} // namespace gpueval
