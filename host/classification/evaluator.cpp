// ClassificationEvaluator: the engine's skeleton (core/skeleton.hpp) over the classification
// family's backend: configuration on the first batch, updates, compute, states and merges.
#include "gpueval/classification.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include "classification/backend.hpp"
#include "classification/internal.hpp"
#include "core/registry.hpp"
#include "core/state_blob.hpp"
#include "gpueval/error.hpp"

namespace gpueval {

using namespace classification; // the family's internal functions (internal.hpp)

namespace {

constexpr const char* kUnknownInputs =
    "the inputs are unknown; give one batch, or set ClassificationSpec::sample_shape and pred";

// What compute() says of the first sample that raises: where, its values when the backend kept
// them (the CPU), what it may be, and the fixes.
std::string bad_sample_message(const detail::ClassBackend& b, detail::NonFiniteLocation where,
                               const std::string& values) {
  const ClassificationSpec& s = b.spec;
  const ops::ClassParams& p = b.params;
  std::string out = "batch " + std::to_string(where.batch) + ", target element " +
                    std::to_string(where.element) +
                    (values.empty() ? std::string() : " (" + values + ")") + ": ";
  if (p.raise_nonfinite && !p.raise_invalid) {
    return out + "a NaN or infinite target, label or score (nan_policy='error'; nan_policy='skip' "
                 "drops and counts them)";
  }
  out += p.raise_nonfinite ? "a NaN or infinity, or a value that cannot be what the spec says: "
                           : "a value that cannot be what the spec says: ";
  const std::string classes = "[0, " + std::to_string(b.layout.classes) + ")";
  const bool indices = s.task == ClassTask::multiclass;
  out += indices ? "targets are class indices in " + classes : "targets are 0 or 1";
  if (!b.pred_scores) {
    out +=
        indices ? ", label predictions class indices in " + classes : ", label predictions 0 or 1";
  } else if (s.scores == ScoreKind::probabilities) {
    char tolerance[32];
    std::snprintf(tolerance, sizeof tolerance, "%.3g", p.sum_tolerance);
    out += indices ? ", probabilities lie in [0, 1] and each row sums to 1 (within " +
                         std::string(tolerance) + ")"
                   : ", probabilities lie in [0, 1]";
    out += "; if the scores are logits, pass scores='logits'";
  }
  out += "; padding targets: pass ignore_index=; to drop and count such samples instead: "
         "invalid='skip'";
  if (p.raise_nonfinite) {
    out += " (and nan_policy='skip' for NaN and infinite values)";
  }
  return out;
}

// Layout `l` with other weight sums, per-sample sums or confusion matrix; the same breakdown.
ops::ClassLayout relayout(const ops::ClassLayout& l, bool weighted, bool per_sample,
                          bool confusion) {
  return ops::ClassLayout::make(l.task, l.classes, l.scores, l.top_k, l.bins, weighted, per_sample,
                                confusion, l.positions, l.position_step);
}

void configure(detail::ClassBackend& b, bool scores, const std::vector<std::int64_t>& sample_shape,
               bool weighted = false) {
  GPUEVAL_EXPECTS(scores || b.spec.top_k == 0,
                  "top_k " + std::to_string(b.spec.top_k) +
                      " needs scores, but the predictions are labels: give the scores ([N, C, "
                      "...], probabilities or logits) or leave top_k unset");
  b.pred_scores = scores;
  b.sample_shape = sample_shape;
  b.spec.metrics = resolve_metrics(b.spec, scores);
  GPUEVAL_EXPECTS(!b.spec.by_axis ||
                      std::any_of(b.spec.metrics.begin(), b.spec.metrics.end(), by_axis_metric),
                  "by_axis reports accuracy, top_k_accuracy and the losses per index; none of "
                  "them is among this evaluator's metrics");
  const AxisBreakdown by = axis_breakdown(b.spec, sample_shape);
  b.layout = ops::ClassLayout::make(b.spec.task, b.spec.num_classes, scores, b.spec.top_k > 0,
                                    b.spec.bins, weighted, wants_per_sample(b.spec),
                                    has_confusion_matrix(b.spec), by.positions, by.step);
  ops::ClassParams& p = b.params;
  p.task = b.spec.task;
  p.classes = b.layout.classes;
  p.logits = b.spec.scores == ScoreKind::logits;
  p.threshold = b.spec.threshold;
  p.top_k = b.spec.top_k;
  p.has_ignore = b.spec.ignore_index.has_value();
  p.ignore_index = b.spec.ignore_index.value_or(0);
  p.bins = b.layout.bins;
  p.hist = histogram_layout(b.spec, scores);
  // A row of probabilities rounded to the scores' dtype sums to 1 within its epsilon; 1e-3 more
  // for the softmax that made them.
  p.sum_tolerance = 1e-3 + dtype_epsilon(b.spec.score_dtype.value_or(DType::f32));
  p.raise_nonfinite = b.spec.nan_policy == NanPolicy::error;
  p.raise_invalid = b.spec.invalid == InvalidPolicy::error;
  p.beta2 = b.spec.beta * b.spec.beta; // the per-sample F-beta's, fixed in the record
  b.configure(b.layout, p, b.spec.nan_policy);
  b.configured = true;
}

// Makes the record weighted (a weighted batch or state after unweighted ones): the counts and
// histograms so far widened, each of their samples weighing 1. Once per evaluator; on CUDA it
// synchronises (a first batch with weights configures a weighted record directly).
void widen(detail::ClassBackend& b, StreamHandle stream) {
  b.check_reconfigure(stream);
  const ops::ClassLayout narrow = b.layout;
  const std::vector<std::uint64_t> w = b.words(stream);
  const Sparse hist = b.params.hist.on ? b.histogram(stream) : Sparse{};
  const Keys keys = b.params.hist.keyed() ? b.histogram_keys(hist, stream) : Keys{};
  const detail::NonFiniteLocation where = b.first_bad(stream);
  const ops::ClassLayout wide = relayout(narrow, true, narrow.per_sample, narrow.confusion >= 0);
  b.configure(wide, b.params, b.spec.nan_policy); // on failure, the backend is as it was
  b.layout = wide;
  b.load(convert_record(w, narrow, b.layout), where, stream);
  if (b.params.hist.on) {
    const Sparse wide = widen_histogram(hist); // one word a bin still: the keys stay aligned
    b.load_histogram(wide, stream);
    b.load_histogram_keys(wide, keys, stream);
  }
}

void raise_if_bad_weight(detail::ClassBackend& b, StreamHandle stream) {
  const detail::NonFiniteLocation w = b.bad_weight(stream);
  if (w.found()) {
    throw InvalidArgument(
        detail::bad_class_weight_message(w.batch, -1, 0.0, static_cast<std::int64_t>(w.element)));
  }
}

} // namespace

ClassificationEvaluator::ClassificationEvaluator(ClassificationSpec spec, Device device) {
  if (spec.task == ClassTask::binary) {
    spec.num_classes = 2;
  }
  spec.validate();
  backend_ = detail::make_backend_for<detail::ClassBackend>(device, "classification");
  backend_->spec = std::move(spec);
  const ClassificationSpec& s = backend_->spec;
  if (!s.sample_shape.empty() && s.pred != PredKind::auto_detect) {
    // Configured before any batch, so that every rank's state has one layout: histograms key
    // scores as float32 unless the spec names a 16-bit score dtype (any float converts to it).
    if (s.pred == PredKind::scores && !s.score_dtype) {
      backend_->spec.score_dtype = DType::f32;
    }
    configure(*backend_, s.pred == PredKind::scores, s.sample_shape);
  }
}

ClassificationEvaluator::~ClassificationEvaluator() = default;
ClassificationEvaluator::ClassificationEvaluator(ClassificationEvaluator&&) noexcept = default;
ClassificationEvaluator&
ClassificationEvaluator::operator=(ClassificationEvaluator&&) noexcept = default;

void ClassificationEvaluator::update(const TensorView& pred, const TensorView& target,
                                     const TensorView& mask, StreamHandle stream) {
  update(pred, target, mask, TensorView{}, stream);
}

void ClassificationEvaluator::update(const TensorView& pred, const TensorView& target,
                                     const TensorView& mask, const TensorView& weight,
                                     StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  const bool weighted = weight.data != nullptr || weight.rank > 0;
  if (!b.configured) {
    detail::skeleton::check_first_rank(target, "target");
    const bool scores = detect_scores(b.spec, pred, target);
    (void)class_axis_of(b.spec, scores, dims(pred), dims(target));
    const std::vector<std::int64_t> sample(target.shape + 1, target.shape + target.rank);
    GPUEVAL_EXPECTS(b.spec.sample_shape.empty() || b.spec.sample_shape == sample,
                    "target has sample shape " + shape_of(sample) + ", but the spec's is " +
                        shape_of(b.spec.sample_shape));
    if (!b.spec.score_dtype) {
      b.spec.score_dtype = pred.dtype;
    }
    configure(b, scores, sample, weighted);
  }
  detail::ClassBatch batch = describe_batch(b, pred, target, mask, weight);
  if (weighted && !b.layout.weighted) {
    widen(b, stream);
  }
  if (b.params.hist.on) {
    // The histograms' keys are bits of one format: a batch must convert to it exactly.
    const ops::KeyFormat f = b.params.hist.format;
    const DType d = pred.dtype;
    const bool exact = f == ops::KeyFormat::f32 || f == ops::KeyFormat::f64 ||
                       (f == ops::KeyFormat::f16 ? d == DType::f16 : d == DType::bf16);
    GPUEVAL_EXPECTS(exact, "pred has dtype " + std::string(dtype_name(d)) +
                               ", but this evaluator's auroc/average_precision histograms key " +
                               "scores as " + std::string(dtype_name(*b.spec.score_dtype)) +
                               "; keep one score dtype (or a narrower float) for every batch");
  }
  detail::skeleton::fold(b, batch, batch.samples == 0, stream);
}

ClassificationReport ClassificationEvaluator::compute(StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  detail::skeleton::require_data(b);
  detail::skeleton::require_configured(b, "compute()", kUnknownInputs);
  raise_if_bad_weight(b, stream);
  const detail::NonFiniteLocation where = b.first_bad(stream);
  const std::vector<std::uint64_t> w = b.words(stream);
  if (where.found()) { // the backends record only samples that raise under the policies
    const std::string values = b.first_bad_values(stream);
    throw NonFiniteError(bad_sample_message(b, where, values), where.batch, where.element);
  }
  const Sparse hist = b.params.hist.on ? b.histogram(stream) : Sparse{};
  ClassificationReport r = build_class_report(
      b, w, hist, b.params.hist.keyed() ? b.histogram_keys(hist, stream) : Keys{});
  r.device = b.describe();
  return r;
}

AnyReport ClassificationEvaluator::compute_any(StreamHandle stream) {
  return AnyReport(compute(stream));
}

void ClassificationEvaluator::reset(StreamHandle stream) {
  detail::skeleton::reset(*backend_, stream);
}

void ClassificationEvaluator::keep_until_done(std::shared_ptr<void> owner) {
  backend_->hold(std::move(owner));
}

State ClassificationEvaluator::state(StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  detail::skeleton::require_configured(b, "state()", kUnknownInputs);
  raise_if_bad_weight(b, stream);
  detail::StateHeader h;
  h.family = kClassificationFamily;
  h.nan_policy = b.spec.nan_policy;
  h.sample_shape = b.sample_shape;
  h.keys = static_cast<std::uint64_t>(b.layout.words);
  h.batches = b.batches;
  h.first_nonfinite = b.first_bad(stream);
  const std::vector<std::uint64_t> w = b.words(stream);
  ClassStateFields fields = fields_of(b);
  fields.sparse_record = sparse_record(w); // a record of many classes that saw few
  h.extra = encode_fields(fields);
  std::vector<std::uint8_t> payload;
  detail::StateWriter out(payload);
  if (fields.sparse_record) {
    std::vector<std::size_t> nonzero;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] != 0) {
        nonzero.push_back(i);
      }
    }
    payload.reserve(8 + nonzero.size() * 16);
    out.u64(nonzero.size());
    for (const std::size_t i : nonzero) {
      out.u64(i);
      out.u64(w[i]);
    }
  } else {
    payload.reserve(w.size() * 8);
    for (std::uint64_t v : w) {
      out.u64(v);
    }
  }
  if (b.params.hist.on) {
    const Sparse hist = b.histogram(stream);
    out.u64(hist.size());
    for (const auto& [index, count] : hist) {
      out.u64(index);
      out.u64(count);
    }
    if (b.params.hist.keyed()) { // each word's bin's shared key (fields: options bit 5)
      for (const std::uint32_t key : b.histogram_keys(hist, stream)) {
        out.u32(key);
      }
    }
  }
  return detail::seal_state(h, payload);
}

void ClassificationEvaluator::merge(const State& other, StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  const DecodedClassState d = decode_class_state(other);
  const ClassStateFields& f = d.fields;
  using detail::skeleton::mismatch;
  if (f.task != b.spec.task) {
    mismatch("task", std::string(class_task_name(f.task)),
             std::string(class_task_name(b.spec.task)));
  }
  if (f.classes != b.spec.num_classes) {
    mismatch("num_classes", std::to_string(f.classes), std::to_string(b.spec.num_classes));
  }
  if (f.invalid != b.spec.invalid) {
    mismatch("invalid", std::string(invalid_policy_name(f.invalid)),
             std::string(invalid_policy_name(b.spec.invalid)));
  }
  if (d.header.nan_policy != b.spec.nan_policy) {
    mismatch("nan_policy", std::string(nan_policy_name(d.header.nan_policy)),
             std::string(nan_policy_name(b.spec.nan_policy)));
  }
  if (!b.configured) {
    if (f.hist.on && !b.spec.score_dtype) {
      b.spec.score_dtype = dtype_of(f.hist.format);
    }
    configure(b, f.scores, d.header.sample_shape, f.weighted);
  }
  const ClassStateFields mine = fields_of(b);
  if (f.scores != mine.scores) {
    mismatch("predictions", f.scores ? "scores" : "labels", mine.scores ? "scores" : "labels");
  }
  if (f.logits != mine.logits) {
    mismatch("scores", f.logits ? "logits" : "probabilities",
             mine.logits ? "logits" : "probabilities");
  }
  if (d.header.sample_shape != b.sample_shape) {
    mismatch("sample shape", shape_of(d.header.sample_shape), shape_of(b.sample_shape));
  }
  if (f.threshold != mine.threshold) {
    mismatch("threshold", std::to_string(f.threshold), std::to_string(mine.threshold));
  }
  if (f.top_k != mine.top_k) {
    mismatch("top_k", std::to_string(f.top_k), std::to_string(mine.top_k));
  }
  if (f.has_ignore != mine.has_ignore || f.ignore_index != mine.ignore_index) {
    mismatch("ignore_index", f.has_ignore ? std::to_string(f.ignore_index) : "none",
             mine.has_ignore ? std::to_string(mine.ignore_index) : "none");
  }
  if (f.bins != mine.bins) {
    mismatch("bins", std::to_string(f.bins), std::to_string(mine.bins));
  }
  if (f.class_axis != mine.class_axis) {
    mismatch("class_axis", std::to_string(f.class_axis), std::to_string(mine.class_axis));
  }
  if (mine.hist.on) {
    if (!f.hist.on) {
      throw StateError("cannot merge: the state has no auroc/average_precision histograms, "
                       "this evaluator reports them");
    }
    if (f.hist.format != mine.hist.format || f.hist.bits != mine.hist.bits ||
        f.hist.per_target != mine.hist.per_target) {
      const auto keys = [](const ops::HistLayout& h) {
        return std::string(dtype_name(dtype_of(h.format))) + " keys of " + std::to_string(h.bits) +
               " bits" + (h.per_target ? ", one-vs-one (auroc_ovo)" : "");
      };
      mismatch("histograms of", keys(f.hist), keys(mine.hist));
    }
  }
  // A weighted state and an unweighted one: the unweighted side widened (each sample weighs 1).
  if (f.weighted && !b.layout.weighted) {
    widen(b, stream);
  }
  // Per-sample sums (average="samples"): a state without them cannot give them; a state with
  // them merges into an evaluator that does not report them with them dropped.
  if (b.layout.per_sample) {
    if (!f.per_sample) {
      throw StateError("cannot merge: the state has no per-sample sums, this evaluator reports "
                       "the average='samples' metrics (*_samples)");
    }
    if (f.sample_beta != b.spec.beta) {
      mismatch("beta of fbeta_samples", std::to_string(f.sample_beta), std::to_string(b.spec.beta));
    }
  }
  if (f.confusion != (b.layout.confusion >= 0 || b.layout.task == ClassTask::multilabel)) {
    mismatch("confusion_matrix", f.confusion ? "on" : "off",
             b.layout.confusion >= 0 ? "on" : "off");
  }
  if (f.by_axis != mine.by_axis) {
    const auto axis = [](int a) { return a < 0 ? std::string("none") : std::to_string(a); };
    mismatch("by_axis", axis(f.by_axis), axis(mine.by_axis));
  }
  const ops::ClassLayout their_layout = relayout(b.layout, f.weighted, f.per_sample, f.confusion);
  const std::vector<std::uint64_t> theirs = convert_record(d.words, their_layout, b.layout);
  Sparse their_hist = d.hist;
  if (b.layout.weighted && !f.weighted) {
    their_hist = widen_histogram(d.hist);
  }
  std::vector<std::uint64_t> w = b.words(stream);
  ops::combine(w.data(), theirs.data(), b.layout);
  if (mine.hist.on) {
    const Sparse own = b.histogram(stream);
    const Keys own_keys = mine.hist.keyed() ? b.histogram_keys(own, stream) : Keys{};
    const Sparse sum =
        b.layout.weighted ? add_weight_sums(own, their_hist) : add_sparse(own, their_hist);
    b.load_histogram(sum, stream);
    if (mine.hist.keyed()) {
      // A state that kept no keys (older, float64 or logit scores): every bin of it mixed.
      // their_hist is d.hist, or widened word for word: the keys stay aligned.
      const Keys theirs = f.hist.keyed() ? d.keys : Keys(their_hist.size(), ops::kMixedKey);
      const std::uint64_t per_bin = b.layout.weighted ? 2 : 1;
      b.load_histogram_keys(sum, merge_keys(sum, per_bin, own, own_keys, their_hist, theirs),
                            stream);
    }
  }
  const detail::NonFiniteLocation where =
      detail::skeleton::earliest(b.first_bad(stream), d.header.first_nonfinite);
  b.load(w, where, stream);
  b.batches += d.header.batches;
}

const ClassificationSpec& ClassificationEvaluator::spec() const {
  return backend_->spec;
}
Device ClassificationEvaluator::device() const {
  return backend_->device();
}
std::uint64_t ClassificationEvaluator::batches() const {
  return backend_->batches;
}

void ClassificationEvaluator::check_shapes(const std::vector<std::int64_t>& pred,
                                           const std::vector<std::int64_t>& target) const {
  const detail::ClassBackend& b = *backend_;
  GPUEVAL_EXPECTS(!target.empty(), "target " + shape_of(target) + " has no batch axis");
  bool scores = b.pred_scores;
  if (!b.configured) {
    scores = b.spec.pred != PredKind::auto_detect
                 ? b.spec.pred == PredKind::scores
                 : (b.spec.task == ClassTask::multiclass && pred.size() == target.size() + 1);
  }
  (void)class_axis_of(b.spec, scores, pred, target);
  const std::vector<std::int64_t> sample(target.begin() + 1, target.end());
  const std::vector<std::int64_t>& fixed = b.configured ? b.sample_shape : b.spec.sample_shape;
  GPUEVAL_EXPECTS(fixed.empty() || fixed == sample,
                  "target " + shape_of(target) + " has sample shape " + shape_of(sample) +
                      ", but this evaluator's is " + shape_of(fixed));
}

} // namespace gpueval
