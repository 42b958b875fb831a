// RegressionEvaluator: the engine's skeleton (core/skeleton.hpp) over the regression family's
// backend: the key layout, batch validation, state, merge and report.
#include "gpueval/regression.hpp"

#include <algorithm>
#include <string>

#include "core/registry.hpp"
#include "gpueval/error.hpp"
#include "regression/backend.hpp"
#include "regression/state.hpp"

namespace gpueval {

namespace {

constexpr const char* kUnknownInputs =
    "the sample shape is unknown; give one batch or set RegressionSpec::sample_shape";

// `sample_shape` in the user's coordinates (the batches' own).
void configure_once(detail::Backend& b, const std::vector<std::int64_t>& sample_shape) {
  b.move = detail::ChannelMove::of(b.spec, static_cast<int>(sample_shape.size()) + 1);
  b.sample_shape = b.move.to_layout(sample_shape);
  b.layout = KeyLayout::from(b.spec, sample_shape);
  b.configure(b.spec, b.layout);
  b.configured = true;
}

} // namespace

RegressionEvaluator::RegressionEvaluator(RegressionSpec spec, Device device) {
  spec.validate();
  backend_ = detail::make_backend_for<detail::Backend>(device, "regression");
  backend_->spec = std::move(spec);
  if (!backend_->spec.sample_shape.empty()) {
    configure_once(*backend_, backend_->spec.sample_shape);
  }
}

RegressionEvaluator::~RegressionEvaluator() = default;
RegressionEvaluator::RegressionEvaluator(RegressionEvaluator&&) noexcept = default;
RegressionEvaluator& RegressionEvaluator::operator=(RegressionEvaluator&&) noexcept = default;

void RegressionEvaluator::update(const TensorView& pred, const TensorView& target,
                                 const TensorView& mask, StreamHandle stream) {
  update(pred, target, mask, TensorView{}, stream);
}

void RegressionEvaluator::update(const TensorView& pred, const TensorView& target,
                                 const TensorView& mask, const TensorView& weight,
                                 StreamHandle stream) {
  detail::Backend& b = *backend_;
  GPUEVAL_EXPECTS(weight.data == nullptr || b.spec.quantile_bits() == 0,
                  "quantile metrics (median_ae, quantile_ae, ...) are not weighted: evaluate them "
                  "in an evaluator that is given no weight=");
  if (!b.configured) {
    detail::skeleton::check_first_rank(pred, "pred");
    configure_once(b, std::vector<std::int64_t>(pred.shape + 1, pred.shape + pred.rank));
  }
  // The batch with the channel axis last (a view: strides permuted, nothing copied).
  detail::Batch batch =
      detail::validate_batch(b.move.view(pred), b.move.view(target), b.move.cover(mask, pred),
                             b.move.cover(weight, pred), b.sample_shape, b.layout, b.device());
  batch.user_weight = weight; // a bad weight is named by its element as given
  detail::skeleton::fold(b, batch, batch.elements == 0, stream);
}

namespace {

// A weight the device found negative or non-finite: an error under every policy.
void raise_if_bad_weight(detail::Backend& b, StreamHandle stream) {
  const detail::NonFiniteLocation w = b.bad_weight(stream);
  if (w.found()) {
    throw InvalidArgument(detail::bad_weight_message(w.batch, -1, 0.0) +
                          " (the weight of pred's element " +
                          std::to_string(b.move.to_user_element(w.element, b.sample_shape)) + ")");
  }
}

} // namespace

RegressionReport RegressionEvaluator::compute(StreamHandle stream) {
  detail::Backend& b = *backend_;
  detail::skeleton::require_data(b);
  detail::skeleton::require_configured(b, "compute()", kUnknownInputs);
  raise_if_bad_weight(b, stream);
  detail::NonFiniteLocation where = b.first_bad(stream);
  where.element = b.move.to_user_element(where.element, b.sample_shape); // the user's C order
  std::vector<detail::FullRecord> records = b.records(stream);
  const auto keys = static_cast<std::uint64_t>(b.layout.keys);
  detail::skeleton::raise_if_error(
      b.spec.nan_policy, where,
      "non-finite prediction or target in batch " + std::to_string(where.batch) + " at element " +
          std::to_string(where.element) + " (row " +
          std::to_string(where.element / std::max<std::uint64_t>(keys, 1)) + ", key " +
          std::to_string(where.element % std::max<std::uint64_t>(keys, 1)) + ")");
  RegressionReport report = detail::build_report(
      b.spec, b.layout, records,
      b.spec.quantile_bits() > 0 ? b.sketch(stream) : std::vector<std::uint64_t>{});
  report.device = b.describe();
  return report;
}

void RegressionEvaluator::reset(StreamHandle stream) {
  detail::skeleton::reset(*backend_, stream);
}

void RegressionEvaluator::keep_until_done(std::shared_ptr<void> owner) {
  backend_->hold(std::move(owner));
}

State RegressionEvaluator::state(StreamHandle stream) {
  detail::Backend& b = *backend_;
  detail::skeleton::require_configured(b, "state()", kUnknownInputs);
  raise_if_bad_weight(b, stream);
  return detail::encode_state(
      b.spec, b.sample_shape, b.layout, b.batches, b.first_bad(stream), b.records(stream),
      b.spec.quantile_bits() > 0 ? b.sketch(stream) : std::vector<std::uint64_t>{});
}

void RegressionEvaluator::merge(const State& other, StreamHandle stream) {
  detail::Backend& b = *backend_;
  detail::DecodedState d = detail::decode_state(other);
  using detail::skeleton::mismatch;
  // A state may hold more statistics than this evaluator's metrics need (a state of every
  // metric, reported for a few): the extra ones are dropped. Fewer is an error.
  if ((d.groups & b.spec.groups()) != b.spec.groups()) {
    throw StateError("cannot merge: the state holds the statistics " + group_names(d.groups) +
                     ", this evaluator needs " + group_names(b.spec.groups()));
  }
  if (d.nan_policy != b.spec.nan_policy) {
    mismatch("nan_policy", std::string(nan_policy_name(d.nan_policy)),
             std::string(nan_policy_name(b.spec.nan_policy)));
  }
  if (d.has_channel_axis != b.spec.channel_axis.has_value()) {
    mismatch("channel axis", d.has_channel_axis ? "-1" : "none",
             b.spec.channel_axis ? "-1" : "none");
  }
  if (!b.configured) { // the state's sample shape is in layout coordinates
    const auto move = detail::ChannelMove::of(b.spec, static_cast<int>(d.sample_shape.size()) + 1);
    configure_once(b, move.to_user(d.sample_shape));
  }
  if (d.sample_shape != b.sample_shape) {
    mismatch("sample shape",
             detail::shape_string(d.sample_shape.data(), static_cast<int>(d.sample_shape.size())),
             detail::shape_string(b.sample_shape.data(), static_cast<int>(b.sample_shape.size())));
  }
  if (d.by_axis != b.layout.by_axis) {
    mismatch("by_axis", d.by_axis < 0 ? "none" : std::to_string(d.by_axis),
             b.layout.by_axis < 0 ? "none" : std::to_string(b.layout.by_axis));
  }
  const int bits = b.spec.quantile_bits();
  if (bits > 0 && d.sketch_bits != bits) {
    mismatch("a quantile sketch of", std::to_string(d.sketch_bits) + " mantissa bits",
             std::to_string(bits) + " (quantile_alpha " + std::to_string(b.spec.quantile_alpha) +
                 ")");
  }
  std::vector<detail::FullRecord> mine = b.records(stream);
  for (std::size_t k = 0; k < mine.size(); ++k) {
    mine[k] = detail::FullOps::combine(mine[k], d.records[k]);
  }
  const detail::NonFiniteLocation where =
      detail::skeleton::earliest(b.first_bad(stream), d.first_nonfinite);
  if (bits > 0) {
    std::vector<std::uint64_t> sketch = b.sketch(stream);
    for (const auto& [index, count] : d.sketch) {
      sketch[static_cast<std::size_t>(index)] += count;
    }
    b.load_sketch(sketch, stream);
  }
  b.load(mine, where, stream);
  b.batches += d.batches;
}

AnyReport RegressionEvaluator::compute_any(StreamHandle stream) {
  return AnyReport(compute(stream));
}

void RegressionEvaluator::check_shapes(const std::vector<std::int64_t>& pred,
                                       const std::vector<std::int64_t>& target) const {
  const std::string p = detail::shape_string(pred.data(), static_cast<int>(pred.size()));
  GPUEVAL_EXPECTS(!pred.empty(), "pred " + p + " has no batch axis");
  GPUEVAL_EXPECTS(pred == target,
                  "pred " + p + " and target " +
                      detail::shape_string(target.data(), static_cast<int>(target.size())) +
                      " differ in shape");
  const std::vector<std::int64_t> sample(pred.begin() + 1, pred.end());
  const detail::Backend& b = *backend_;
  const std::vector<std::int64_t> fixed =
      b.configured ? b.move.to_user(b.sample_shape) : b.spec.sample_shape;
  GPUEVAL_EXPECTS(fixed.empty() || fixed == sample,
                  "batch " + p + " has sample shape " +
                      detail::shape_string(sample.data(), static_cast<int>(sample.size())) +
                      ", but this evaluator's is " +
                      detail::shape_string(fixed.data(), static_cast<int>(fixed.size())));
  (void)KeyLayout::from(b.spec, sample);
}

const RegressionSpec& RegressionEvaluator::spec() const {
  return backend_->spec;
}
Device RegressionEvaluator::device() const {
  return backend_->device();
}
std::uint64_t RegressionEvaluator::batches() const {
  return backend_->batches;
}

} // namespace gpueval
