// Evaluator: the bookkeeping every backend shares (layout, validation, state, merge, report).
#include "gpueval/evaluator.hpp"

#include <string>

#include "core/backend.hpp"
#include "core/backend_factory.hpp"
#include "core/state_codec.hpp"
#include "gpueval/error.hpp"

namespace gpueval {

namespace {

void configure_once(detail::Backend& b, const std::vector<std::int64_t>& sample_shape) {
  b.sample_shape = sample_shape;
  b.layout = KeyLayout::from(b.spec, sample_shape);
  b.configure(b.spec, b.layout);
  b.configured = true;
}

} // namespace

Evaluator::Evaluator(RegressionSpec spec, Device device) {
  spec.validate();
  backend_ = detail::make_backend(device);
  backend_->spec = std::move(spec);
  if (!backend_->spec.sample_shape.empty()) {
    configure_once(*backend_, backend_->spec.sample_shape);
  }
}

Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator&&) noexcept = default;
Evaluator& Evaluator::operator=(Evaluator&&) noexcept = default;

void Evaluator::update(const TensorView& pred, const TensorView& target, const TensorView& mask,
                       StreamHandle stream) {
  detail::Backend& b = *backend_;
  if (!b.configured) {
    GPUEVAL_EXPECTS(pred.rank >= 1 && pred.rank <= kMaxRank,
                    "pred has rank " + std::to_string(pred.rank) +
                        "; a batch has a leading batch axis (rank 1 to " +
                        std::to_string(kMaxRank) + ")");
    configure_once(b, std::vector<std::int64_t>(pred.shape + 1, pred.shape + pred.rank));
  }
  detail::Batch batch =
      detail::validate_batch(pred, target, mask, b.sample_shape, b.layout, b.device());
  batch.index = b.batches;
  if (batch.elements > 0) {
    b.update(batch, stream);
  }
  ++b.batches;
}

Report Evaluator::compute(StreamHandle stream) {
  detail::Backend& b = *backend_;
  GPUEVAL_EXPECTS(b.configured, "compute() before any update: the sample shape is unknown; "
                                "give one batch or set RegressionSpec::sample_shape");
  const detail::NonFiniteLocation where = b.first_nonfinite(stream);
  std::vector<detail::FullRecord> records = b.records(stream);
  if (b.spec.nan_policy == NanPolicy::error && where.found()) {
    const auto keys = static_cast<std::uint64_t>(b.layout.keys);
    throw NonFiniteError("nan_policy=error: non-finite prediction or target in batch " +
                             std::to_string(where.batch) + " at element " +
                             std::to_string(where.element) + " (row " +
                             std::to_string(where.element / keys) + ", key " +
                             std::to_string(where.element % keys) + ")",
                         where.batch, where.element);
  }
  Report report = detail::build_report(b.spec, b.layout, records,
                                       b.spec.quantile_bits() > 0 ? b.sketch(stream)
                                                                  : std::vector<std::uint64_t>{});
  report.device = b.describe();
  return report;
}

void Evaluator::reset(StreamHandle stream) {
  backend_->reset(stream); // a backend not configured yet has nothing to clear
  backend_->batches = 0;
}

void Evaluator::keep_until_done(std::shared_ptr<void> owner) {
  backend_->hold(std::move(owner));
}

State Evaluator::state(StreamHandle stream) {
  detail::Backend& b = *backend_;
  GPUEVAL_EXPECTS(b.configured, "state() before any update: the sample shape is unknown; "
                                "give one batch or set RegressionSpec::sample_shape");
  return detail::encode_state(
      b.spec, b.sample_shape, b.layout, b.batches, b.first_nonfinite(stream), b.records(stream),
      b.spec.quantile_bits() > 0 ? b.sketch(stream) : std::vector<std::uint64_t>{});
}

void Evaluator::merge(const State& other, StreamHandle stream) {
  detail::Backend& b = *backend_;
  detail::DecodedState d = detail::decode_state(other);
  const auto mismatch = [](const std::string& what, const std::string& theirs,
                           const std::string& ours) {
    throw StateError("cannot merge: the state was made with " + what + " " + theirs +
                     ", this evaluator has " + ours);
  };
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
  if (!b.configured) {
    configure_once(b, d.sample_shape);
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
  detail::NonFiniteLocation where = b.first_nonfinite(stream);
  if (d.first_nonfinite.found() && !where.found()) {
    // The other evaluator's batch numbers count its own batches; keep them as they are.
    where = d.first_nonfinite;
  }
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

AnyReport Evaluator::compute_any(StreamHandle stream) {
  return AnyReport(compute(stream));
}

void Evaluator::check_shapes(const std::vector<std::int64_t>& pred,
                             const std::vector<std::int64_t>& target) const {
  const std::string p = detail::shape_string(pred.data(), static_cast<int>(pred.size()));
  GPUEVAL_EXPECTS(!pred.empty(), "pred " + p + " has no batch axis");
  GPUEVAL_EXPECTS(pred == target,
                  "pred " + p + " and target " +
                      detail::shape_string(target.data(), static_cast<int>(target.size())) +
                      " differ in shape");
  const std::vector<std::int64_t> sample(pred.begin() + 1, pred.end());
  const detail::Backend& b = *backend_;
  const std::vector<std::int64_t>& fixed = b.configured ? b.sample_shape : b.spec.sample_shape;
  GPUEVAL_EXPECTS(fixed.empty() || fixed == sample,
                  "batch " + p + " has sample shape " +
                      detail::shape_string(sample.data(), static_cast<int>(sample.size())) +
                      ", but this evaluator's is " +
                      detail::shape_string(fixed.data(), static_cast<int>(fixed.size())));
  (void)KeyLayout::from(b.spec, sample);
}

const RegressionSpec& Evaluator::spec() const {
  return backend_->spec;
}
Device Evaluator::device() const {
  return backend_->device();
}
std::uint64_t Evaluator::batches() const {
  return backend_->batches;
}

} // namespace gpueval
