// GeometryEvaluator: the engine's skeleton (core/skeleton.hpp) over the geometry family's
// backend: the layout, batch validation, state, merge and report.
#include <limits>
#include <string>

#include "core/registry.hpp"
#include "geometry/backend.hpp"
#include "gpueval/error.hpp"
#include "gpueval/geometry.hpp"

namespace gpueval {

namespace {

constexpr const char* kUnknownInputs =
    "the sample shape is unknown; give one batch or set GeometrySpec::sample_shape";

void configure_once(detail::GeoBackend& b, const std::vector<std::int64_t>& sample_shape) {
  b.info = GeoLayoutInfo::from(b.spec, sample_shape);
  b.sample_shape = sample_shape;
  b.metrics = b.spec.resolved_metrics(b.info.dims);
  b.layout = detail::geo_layout(b.spec, b.metrics);
  GeometrySpec resolved = b.spec;
  resolved.metrics = b.metrics;
  b.sketch_bits = resolved.quantile_bits();
  b.configure();
  b.configured = true;
}

// (Built before the policy decides whether to raise: it must hold for any evaluator, one of rows
// without vectors among them.)
std::string vector_text(const detail::GeoBackend& b, detail::NonFiniteLocation where) {
  const auto per_row = static_cast<std::uint64_t>(b.info.vectors);
  if (per_row == 0) {
    return "batch " + std::to_string(where.batch);
  }
  return "batch " + std::to_string(where.batch) + " at vector " + std::to_string(where.element) +
         " (row " + std::to_string(where.element / per_row) + ", vector " +
         std::to_string(where.element % per_row) + " of the row)";
}

// A weight or normalizer the device found out of range: an error under every policy.
void raise_if_bad_weight(detail::GeoBackend& b, StreamHandle stream) {
  const double unknown = std::numeric_limits<double>::quiet_NaN();
  const detail::NonFiniteLocation w = b.bad_weight(stream);
  if (w.found()) {
    throw InvalidArgument(
        detail::bad_geo_weight_message(w.batch, static_cast<std::int64_t>(w.element), unknown));
  }
  const detail::NonFiniteLocation n = b.bad_normalizer(stream);
  if (n.found()) {
    throw InvalidArgument(
        detail::bad_geo_normalizer_message(n.batch, static_cast<std::int64_t>(n.element), unknown));
  }
}

// Whether an update with (or without) a normalizer fits the evaluator: every update agrees with
// the first, and a normalizer needs a metric it scales.
void check_normalized(const detail::GeoBackend& b, bool normalized) {
  if (normalized) {
    GPUEVAL_EXPECTS(b.needs(GeoMetric::pck) || b.needs(GeoMetric::auc_pck),
                    "a normalizer scales the PCK thresholds, but this evaluator has neither pck "
                    "nor auc_pck: name one of them in metrics, or pass no normalizer");
  }
  if (b.spec.pck_normalized && *b.spec.pck_normalized != normalized) {
    throw InvalidArgument(
        normalized ? std::string("this evaluator's PCK compares plain errors (its first update "
                                 "had no normalizer, or pck_normalized=false): evaluate "
                                 "normalized PCK in an evaluator whose every update passes one")
                   : std::string("this evaluator's PCK divides each error by a normalizer (its "
                                 "first update passed one, or pck_normalized=true): pass "
                                 "normalizer= to every update"));
  }
}

} // namespace

GeometryEvaluator::GeometryEvaluator(GeometrySpec spec, Device device) {
  spec.validate();
  backend_ = detail::make_backend_for<detail::GeoBackend>(device, "geometry");
  backend_->spec = std::move(spec);
  if (!backend_->spec.sample_shape.empty()) {
    configure_once(*backend_, backend_->spec.sample_shape);
  }
}

GeometryEvaluator::~GeometryEvaluator() = default;
GeometryEvaluator::GeometryEvaluator(GeometryEvaluator&&) noexcept = default;
GeometryEvaluator& GeometryEvaluator::operator=(GeometryEvaluator&&) noexcept = default;

void GeometryEvaluator::update(const TensorView& pred, const TensorView& target,
                               const TensorView& mask, StreamHandle stream) {
  update(pred, target, mask, TensorView{}, stream);
}

void GeometryEvaluator::update(const TensorView& pred, const TensorView& target,
                               const TensorView& mask, const TensorView& weight,
                               StreamHandle stream) {
  update(pred, target, mask, weight, TensorView{}, stream);
}

void GeometryEvaluator::update_with(const TensorView& pred, const TensorView& target,
                                    const TensorView& mask, const TensorView& weight,
                                    const NamedViews& inputs, StreamHandle stream) {
  TensorView normalizer;
  for (const auto& [name, view] : inputs) {
    if (name != "normalizer") {
      detail::refuse_input(kGeometryFamily, name);
    }
    normalizer = view;
  }
  update(pred, target, mask, weight, normalizer, stream);
}

void GeometryEvaluator::update(const TensorView& pred, const TensorView& target,
                               const TensorView& mask, const TensorView& weight,
                               const TensorView& normalizer, StreamHandle stream) {
  detail::GeoBackend& b = *backend_;
  if (!b.configured) {
    detail::skeleton::check_first_rank(target, "target");
    configure_once(b, std::vector<std::int64_t>(target.shape + 1, target.shape + target.rank));
  }
  GPUEVAL_EXPECTS(weight.data == nullptr || b.sketch_bits == 0,
                  "the error quantiles (median_error, error_q90, error_q99) are not weighted: "
                  "evaluate them in an evaluator that is given no weight=");
  const bool normalized = normalizer.data != nullptr || normalizer.rank > 0;
  check_normalized(b, normalized);
  detail::GeoBatch batch = detail::validate_geo_batch(pred, target, mask, weight, normalizer,
                                                      b.sample_shape, b.info, b.device());
  detail::skeleton::fold(b, batch, batch.rows == 0 || b.info.vectors == 0, stream);
  b.spec.pck_normalized = normalized; // decided by the first batch that folded
}

GeometryReport GeometryEvaluator::compute(StreamHandle stream) {
  detail::GeoBackend& b = *backend_;
  detail::skeleton::require_data(b);
  detail::skeleton::require_configured(b, "compute()", kUnknownInputs);
  raise_if_bad_weight(b, stream);
  const detail::NonFiniteLocation where = b.first_bad(stream);
  detail::skeleton::raise_if_error(b.spec.nan_policy, where,
                                   "non-finite prediction or target in " + vector_text(b, where));
  GeometryReport report = detail::build_geo_report(
      b, b.words(stream), b.sketch_bits > 0 ? b.sketch(stream) : std::vector<std::uint64_t>{});
  report.device = b.describe();
  return report;
}

void GeometryEvaluator::reset(StreamHandle stream) {
  detail::skeleton::reset(*backend_, stream);
}

void GeometryEvaluator::keep_until_done(std::shared_ptr<void> owner) {
  backend_->hold(std::move(owner));
}

State GeometryEvaluator::state(StreamHandle stream) {
  detail::GeoBackend& b = *backend_;
  detail::skeleton::require_configured(b, "state()", kUnknownInputs);
  raise_if_bad_weight(b, stream);
  return detail::encode_geo_state(
      b, b.words(stream), b.sketch_bits > 0 ? b.sketch(stream) : std::vector<std::uint64_t>{},
      b.first_bad(stream));
}

void GeometryEvaluator::merge(const State& other, StreamHandle stream) {
  detail::GeoBackend& b = *backend_;
  detail::DecodedGeoState d = detail::decode_geo_state(other);
  if (!b.configured) {
    configure_once(b, d.spec.sample_shape);
  }
  const Options theirs = d.spec.to_options();
  GeometrySpec mine_spec = b.spec;
  mine_spec.metrics = b.metrics;
  mine_spec.vector_axis = b.info.vector_axis; // as states name it
  mine_spec.sample_shape = b.sample_shape;
  // An evaluator that has folded nothing may not have decided pck_normalized: it takes the other's.
  if (!mine_spec.pck_normalized) {
    mine_spec.pck_normalized = d.spec.pck_normalized;
  }
  const Options ours = mine_spec.to_options();
  for (const auto& [name, value] : ours) {
    const auto it = theirs.find(name);
    if (name == "pck_normalized" && it == theirs.end()) {
      continue;
    }
    const std::string other_value = it == theirs.end() ? "none" : it->second;
    if (other_value != value) {
      detail::skeleton::mismatch(name, other_value, value);
    }
  }
  std::vector<std::uint64_t> mine = b.words(stream);
  GPUEVAL_EXPECTS(mine.size() == d.words.size(),
                  "cannot merge: the state's records differ in size");
  for (std::size_t k = 0; k < mine.size(); k += static_cast<std::size_t>(b.layout.words)) {
    ops::combine(mine.data() + k, d.words.data() + k, b.layout);
  }
  if (b.sketch_bits > 0) {
    std::vector<std::uint64_t> counts = b.sketch(stream);
    for (std::size_t i = 0; i < counts.size() && i < d.sketch.size(); ++i) {
      counts[i] += d.sketch[i];
    }
    b.load_sketch(counts, stream);
  }
  b.load(mine, detail::skeleton::earliest(b.first_bad(stream), d.first_nonfinite), stream);
  b.batches += d.batches;
  b.spec.pck_normalized = mine_spec.pck_normalized;
}

const GeometrySpec& GeometryEvaluator::spec() const {
  return backend_->spec;
}

Device GeometryEvaluator::device() const {
  return backend_->device();
}

std::uint64_t GeometryEvaluator::batches() const {
  return backend_->batches;
}

AnyReport GeometryEvaluator::compute_any(StreamHandle stream) {
  return AnyReport(compute(stream));
}

void GeometryEvaluator::check_shapes(const std::vector<std::int64_t>& pred,
                                     const std::vector<std::int64_t>& target) const {
  const std::string p = detail::shape_string(pred.data(), static_cast<int>(pred.size()));
  const std::string t = detail::shape_string(target.data(), static_cast<int>(target.size()));
  GPUEVAL_EXPECTS(!target.empty(), "target " + t + " has no batch axis");
  const detail::GeoBackend& b = *backend_;
  if (b.spec.mode_axis) {
    std::vector<std::int64_t> without(pred);
    if (without.size() >= 2) {
      without.erase(without.begin() + 1);
    }
    GPUEVAL_EXPECTS(pred.size() >= 2 && without == target,
                    "pred " + p + " and target " + t +
                        " do not fit: with mode_axis 1 pred is [N, K] followed by the target's "
                        "shape without N");
  } else {
    GPUEVAL_EXPECTS(pred == target, "pred " + p + " and target " + t + " differ in shape");
  }
  const std::vector<std::int64_t> sample(target.begin() + 1, target.end());
  const std::vector<std::int64_t> fixed = b.configured ? b.sample_shape : b.spec.sample_shape;
  GPUEVAL_EXPECTS(fixed.empty() || fixed == sample,
                  "batch " + t + " has sample shape " +
                      detail::shape_string(sample.data(), static_cast<int>(sample.size())) +
                      ", but this evaluator's is " +
                      detail::shape_string(fixed.data(), static_cast<int>(fixed.size())));
  (void)GeoLayoutInfo::from(b.spec, sample);
}

} // namespace gpueval
