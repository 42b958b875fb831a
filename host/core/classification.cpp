// The classification family: spec and metric registry, batch validation, the evaluator's
// bookkeeping (configuration, state, merge), and the metrics from a record (finalize).
#include "gpueval/classification.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/class_backend.hpp"
#include "core/json_text.hpp"
#include "core/state_blob.hpp"
#include "gpueval/error.hpp"
#include "gpueval/version.hpp"

namespace gpueval {

namespace {

constexpr unsigned kBinary = 1u << static_cast<unsigned>(ClassTask::binary);
constexpr unsigned kMulticlass = 1u << static_cast<unsigned>(ClassTask::multiclass);
constexpr unsigned kMultilabel = 1u << static_cast<unsigned>(ClassTask::multilabel);
constexpr unsigned kAllTasks = kBinary | kMulticlass | kMultilabel;

const ClassMetricInfo kClassMetrics[kNumClassMetrics] = {
    {ClassMetric::accuracy, "accuracy", kAllTasks, false, false, false,
     "correct / samples; multilabel: the mean over labels of each label's accuracy"},
    {ClassMetric::subset_accuracy, "subset_accuracy", kMultilabel, false, false, false,
     "samples with every label right / samples"},
    {ClassMetric::balanced_accuracy, "balanced_accuracy", kBinary | kMulticlass, false, false,
     false, "mean recall over the classes present in the targets"},
    {ClassMetric::precision, "precision", kAllTasks, false, true, false, "tp / (tp + fp)"},
    {ClassMetric::recall, "recall", kAllTasks, false, true, false, "tp / (tp + fn)"},
    {ClassMetric::f1, "f1", kAllTasks, false, true, false, "2 tp / (2 tp + fp + fn)"},
    {ClassMetric::fbeta, "fbeta", kAllTasks, false, true, false,
     "(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)"},
    {ClassMetric::specificity, "specificity", kAllTasks, false, true, false, "tn / (tn + fp)"},
    {ClassMetric::jaccard, "jaccard", kAllTasks, false, true, false, "tp / (tp + fp + fn)"},
    {ClassMetric::mcc, "mcc", kBinary | kMulticlass, false, false, false,
     "Matthews correlation coefficient"},
    {ClassMetric::cohen_kappa, "cohen_kappa", kBinary | kMulticlass, false, false, false,
     "Cohen's kappa"},
    {ClassMetric::cohen_kappa_linear, "cohen_kappa_linear", kBinary | kMulticlass, false, false,
     true, "Cohen's kappa with linear weights |i - j|"},
    {ClassMetric::cohen_kappa_quadratic, "cohen_kappa_quadratic", kBinary | kMulticlass, false,
     false, true, "Cohen's kappa with quadratic weights (i - j)^2"},
    {ClassMetric::hamming_loss, "hamming_loss", kMultilabel, false, false, false,
     "wrong labels / (samples x labels)"},
    {ClassMetric::top_k_accuracy, "top_k_accuracy", kMulticlass, true, false, false,
     "the target among the k highest scores"},
    {ClassMetric::log_loss, "log_loss", kAllTasks, true, false, false,
     "mean of -log p(target), probabilities clipped to [eps, 1 - eps]"},
    {ClassMetric::brier, "brier", kAllTasks, true, false, false,
     "mean squared distance of the probabilities to the one-hot target"},
    {ClassMetric::ece, "ece", kBinary | kMulticlass, true, false, false,
     "expected calibration error (l1, equal-width bins)"},
    {ClassMetric::mce, "mce", kBinary | kMulticlass, true, false, false,
     "maximum calibration error"},
    {ClassMetric::auroc, "auroc", kAllTasks, true, false, false,
     "area under the ROC curve (one-vs-rest), with auroc_bound; default for binary tasks"},
    {ClassMetric::average_precision, "average_precision", kAllTasks, true, false, false,
     "average precision (one-vs-rest), with average_precision_bound; default for binary tasks"},
};

std::string valid_class_metric_names() {
  std::string out;
  for (const ClassMetricInfo& m : kClassMetrics) {
    out += (out.empty() ? "" : ", ") + std::string(m.name);
  }
  return out;
}

bool has_task(const ClassMetricInfo& m, ClassTask t) {
  return (m.tasks & (1u << static_cast<unsigned>(t))) != 0;
}

int normalise_axis(int axis, int rank, const char* what) {
  const int a = axis < 0 ? axis + rank : axis;
  GPUEVAL_EXPECTS(a >= 1 && a < rank, std::string(what) + " " + std::to_string(axis) +
                                          " is not an axis after the " +
                                          "batch axis of a tensor of rank " + std::to_string(rank));
  return a;
}

std::vector<std::int64_t> dims(const TensorView& v) {
  return std::vector<std::int64_t>(v.shape, v.shape + v.rank);
}

std::string shape_of(const std::vector<std::int64_t>& s) {
  return detail::shape_string(s.data(), static_cast<int>(s.size()));
}

// The spec's metrics for these inputs: named ones checked, or the default set.
std::vector<ClassMetric> resolve_metrics(const ClassificationSpec& spec, bool scores) {
  std::vector<ClassMetric> out;
  if (spec.metrics.empty()) {
    for (const ClassMetricInfo& m : kClassMetrics) {
      // The histogram metrics are opt-in for multiclass and multilabel (C histograms).
      const bool histogram =
          m.metric == ClassMetric::auroc || m.metric == ClassMetric::average_precision;
      const bool wanted =
          has_task(m, spec.task) && (spec.all_metrics || !m.opt_in) &&
          (scores || !m.needs_scores) &&
          (m.metric != ClassMetric::top_k_accuracy || spec.top_k > 0) &&
          (spec.all_metrics || m.metric != ClassMetric::fbeta || spec.beta != 1.0) &&
          (spec.all_metrics || !histogram || spec.task == ClassTask::binary);
      if (wanted) {
        out.push_back(m.metric);
      }
    }
    return out;
  }
  for (ClassMetric metric : spec.metrics) {
    const ClassMetricInfo& m = class_metric_info(metric);
    GPUEVAL_EXPECTS(!m.needs_scores || scores,
                    "metric '" + std::string(m.name) +
                        "' needs scores, but the predictions are labels");
    GPUEVAL_EXPECTS(metric != ClassMetric::top_k_accuracy || spec.top_k > 0,
                    "metric 'top_k_accuracy' needs top_k >= 1");
  }
  return spec.metrics;
}

// Shapes of a batch: which axis of the predictions is the class axis (-1: none), given the
// targets' shape. Throws InvalidArgument naming both shapes.
int class_axis_of(const ClassificationSpec& spec, bool scores,
                  const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& target) {
  const std::string both = "pred " + shape_of(pred) + " and target " + shape_of(target);
  GPUEVAL_EXPECTS(!target.empty(), "target " + shape_of(target) + " has no batch axis");
  if (spec.task == ClassTask::multiclass && scores) {
    GPUEVAL_EXPECTS(pred.size() == target.size() + 1,
                    both + ": multiclass scores have one more axis than the targets, the class "
                           "axis");
    const int a = normalise_axis(spec.class_axis, static_cast<int>(pred.size()), "class_axis");
    GPUEVAL_EXPECTS(pred[static_cast<std::size_t>(a)] == spec.num_classes,
                    both + ": the class axis " + std::to_string(a) + " has " +
                        std::to_string(pred[static_cast<std::size_t>(a)]) + " entries, not " +
                        "num_classes " + std::to_string(spec.num_classes));
    std::vector<std::int64_t> rest = pred;
    rest.erase(rest.begin() + a);
    GPUEVAL_EXPECTS(rest == target, both + " do not fit: without its class axis " +
                                        std::to_string(a) + ", pred has shape " + shape_of(rest));
    return a;
  }
  GPUEVAL_EXPECTS(pred == target, both + " differ in shape");
  if (spec.task == ClassTask::multilabel) {
    const int a = normalise_axis(spec.class_axis, static_cast<int>(target.size()), "class_axis");
    GPUEVAL_EXPECTS(target[static_cast<std::size_t>(a)] == spec.num_classes,
                    both + ": the label axis " + std::to_string(a) + " has " +
                        std::to_string(target[static_cast<std::size_t>(a)]) +
                        " entries, not num_classes " + std::to_string(spec.num_classes));
    return a;
  }
  return -1;
}

bool detect_scores(const ClassificationSpec& spec, const TensorView& pred,
                   const TensorView& target) {
  if (spec.pred != PredKind::auto_detect) {
    return spec.pred == PredKind::scores;
  }
  if (spec.task == ClassTask::multiclass) {
    return pred.rank == target.rank + 1;
  }
  return dtype_is_float(pred.dtype);
}

detail::ClassBatch describe_batch(const detail::ClassBackend& b, const TensorView& pred,
                                  const TensorView& target, const TensorView& mask) {
  const Device device = b.device();
  detail::check_view(pred, "pred", device);
  detail::check_view(target, "target", device);
  const std::vector<std::int64_t> ps = dims(pred), ts = dims(target);
  const int a = class_axis_of(b.spec, b.pred_scores, ps, ts);
  const std::vector<std::int64_t> sample(ts.begin() + 1, ts.end());
  GPUEVAL_EXPECTS(sample == b.sample_shape, "target " + shape_of(ts) + " has sample shape " +
                                                shape_of(sample) + ", but this evaluator's is " +
                                                shape_of(b.sample_shape) +
                                                " (fixed by the spec or the first batch)");
  detail::ClassBatch cb;
  cb.pred = pred;
  cb.target = target;
  cb.pred_scores = b.pred_scores;
  if (mask.data != nullptr || mask.rank > 0) {
    detail::check_view(mask, "mask", device);
    GPUEVAL_EXPECTS(!dtype_is_float(mask.dtype),
                    "mask has dtype " + std::string(dtype_name(mask.dtype)) +
                        "; a mask is bool or an integer type (nonzero = include)");
    bool prefix = mask.rank <= target.rank;
    for (int i = 0; prefix && i < mask.rank; ++i) {
      prefix = mask.shape[i] == target.shape[i];
    }
    GPUEVAL_EXPECTS(prefix, "mask " + shape_of(dims(mask)) + " does not fit target " +
                                shape_of(ts) + ": a mask has the target's shape or a prefix of it");
    cb.mask = mask;
  }
  std::int64_t element = 1;
  std::int64_t element_stride[kMaxRank];
  for (int d = target.rank - 1; d >= 0; --d) {
    element_stride[d] = element;
    element *= target.shape[d];
  }
  const bool multilabel = b.spec.task == ClassTask::multilabel;
  cb.samples = 1;
  for (int d = 0; d < target.rank; ++d) {
    const std::int64_t mstride = d < mask.rank && cb.has_mask() ? mask.strides[d] : 0;
    if (multilabel && d == a) {
      cb.target_class_stride = target.strides[d];
      cb.pred_class_stride = pred.strides[d];
      cb.mask_class_stride = mstride;
      cb.element_class_stride = element_stride[d];
      continue;
    }
    // The prediction axis of target axis d: scores have the class axis inserted at a.
    const int pd = (b.pred_scores && b.spec.task == ClassTask::multiclass && d >= a) ? d + 1 : d;
    cb.shape[cb.axes] = target.shape[d];
    cb.target_stride[cb.axes] = target.strides[d];
    cb.pred_stride[cb.axes] = pred.strides[pd];
    cb.mask_stride[cb.axes] = mstride;
    cb.element_stride[cb.axes] = element_stride[d];
    cb.samples *= target.shape[d];
    ++cb.axes;
  }
  if (b.pred_scores && b.spec.task == ClassTask::multiclass) {
    cb.pred_class_stride = pred.strides[a];
  }
  return cb;
}

// The dtype whose bits a key format is.
DType dtype_of(ops::KeyFormat f) {
  return f == ops::KeyFormat::f16    ? DType::f16
         : f == ops::KeyFormat::bf16 ? DType::bf16
         : f == ops::KeyFormat::f32  ? DType::f32
                                     : DType::f64;
}

bool wants_histograms(const ClassificationSpec& spec) {
  return std::find(spec.metrics.begin(), spec.metrics.end(), ClassMetric::auroc) !=
             spec.metrics.end() ||
         std::find(spec.metrics.begin(), spec.metrics.end(), ClassMetric::average_precision) !=
             spec.metrics.end();
}

// The histograms for the spec's (resolved) metrics and the predictions' dtype: the key format
// (multiclass logits: float64 softmax probabilities) and the bits the budget allows.
ops::HistLayout histogram_layout(const ClassificationSpec& spec, bool scores) {
  ops::HistLayout h;
  if (!scores || !wants_histograms(spec)) {
    return h;
  }
  GPUEVAL_EXPECTS(spec.score_dtype.has_value(),
                  "auroc and average_precision need the predictions' dtype before the first "
                  "batch (ClassificationSpec::score_dtype)");
  h.on = true;
  h.classes = spec.task == ClassTask::binary ? 1 : spec.num_classes;
  const DType d = *spec.score_dtype;
  // 16-bit scores key on their own bits: every distinct score its own bin, exact. Wider ones
  // (and multiclass softmax probabilities, computed in double) key on their value rounded to
  // float32: rounding is monotonic, so the bins stay ordered, and the top 24 bits of a float32
  // keep 15 bits of mantissa where a float64's would keep 12.
  const bool computed = spec.task == ClassTask::multiclass && spec.scores == ScoreKind::logits;
  h.format = computed           ? ops::KeyFormat::f32
             : d == DType::f16  ? ops::KeyFormat::f16
             : d == DType::bf16 ? ops::KeyFormat::bf16
                                : ops::KeyFormat::f32;
  const int width = ops::key_width(h.format);
  if (width == 16) {
    h.bits = 16;
  } else {
    // Two histograms of 8-byte counts per class within the budget, at most 24 bits.
    const double per =
        static_cast<double>(spec.histogram_budget) / (16.0 * static_cast<double>(h.classes));
    h.bits = std::min(24, static_cast<int>(std::floor(std::log2(std::max(per, 1.0)))));
    GPUEVAL_EXPECTS(h.bits >= 8, "histogram_budget " + std::to_string(spec.histogram_budget) +
                                     " bytes leaves fewer than 8 bits per histogram for " +
                                     std::to_string(h.classes) +
                                     " classes; raise it for auroc and average_precision");
  }
  const std::int64_t bytes = h.size() * 8;
  GPUEVAL_EXPECTS(width > 16 || bytes <= std::max<std::int64_t>(spec.histogram_budget, 1 << 21),
                  "auroc and average_precision over 16-bit scores need " +
                      std::to_string(bytes >> 20) + " MiB of histograms for " +
                      std::to_string(h.classes) + " classes; raise histogram_budget");
  h.shift = width - h.bits;
  return h;
}

void configure(detail::ClassBackend& b, bool scores,
               const std::vector<std::int64_t>& sample_shape) {
  b.pred_scores = scores;
  b.sample_shape = sample_shape;
  b.spec.metrics = resolve_metrics(b.spec, scores);
  b.layout = ops::ClassLayout::make(b.spec.task, b.spec.num_classes, scores, b.spec.top_k > 0,
                                    b.spec.bins);
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
  b.configure(b.layout, p, b.spec.nan_policy);
  b.configured = true;
}

// ---- state --------------------------------------------------------------------------------

struct ClassStateFields {
  ClassTask task = ClassTask::binary;
  bool scores = false;
  bool logits = false;
  std::int64_t classes = 0;
  double threshold = 0.5;
  int top_k = 0;
  bool has_ignore = false;
  std::int64_t ignore_index = 0;
  int bins = 0;
  int class_axis = 1;
  ops::HistLayout hist; // on, format, bits, classes (shift follows)
};

ClassStateFields fields_of(const detail::ClassBackend& b) {
  ClassStateFields f;
  f.task = b.spec.task;
  f.scores = b.pred_scores;
  f.logits = b.spec.scores == ScoreKind::logits;
  f.classes = b.layout.classes;
  f.threshold = b.spec.threshold;
  f.top_k = b.spec.top_k;
  f.has_ignore = b.spec.ignore_index.has_value();
  f.ignore_index = b.spec.ignore_index.value_or(0);
  f.bins = b.spec.bins;
  f.class_axis = b.spec.class_axis;
  f.hist = b.params.hist;
  return f;
}

std::vector<std::uint8_t> encode_fields(const ClassStateFields& f) {
  std::vector<std::uint8_t> out;
  detail::StateWriter w(out);
  w.u8(static_cast<std::uint8_t>(f.task));
  w.u8(f.scores ? 1 : 0);
  w.u8(f.logits ? 1 : 0);
  w.u8(f.has_ignore ? 1 : 0);
  w.u32(static_cast<std::uint32_t>(f.class_axis));
  w.u64(static_cast<std::uint64_t>(f.classes));
  w.f64(f.threshold);
  w.u64(static_cast<std::uint64_t>(f.ignore_index));
  w.u32(static_cast<std::uint32_t>(f.top_k));
  w.u32(static_cast<std::uint32_t>(f.bins));
  w.u8(f.hist.on ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(f.hist.format));
  w.u8(static_cast<std::uint8_t>(f.hist.bits));
  w.u8(0);
  w.u64(static_cast<std::uint64_t>(f.hist.classes));
  return out;
}

using Sparse = detail::ClassBackend::Sparse;

// a + b, both sorted by index.
Sparse add_sparse(const Sparse& a, const Sparse& b) {
  Sparse out;
  out.reserve(a.size() + b.size());
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].first < b[j].first)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].first < a[i].first) {
      out.push_back(b[j++]);
    } else {
      out.emplace_back(a[i].first, a[i].second + b[j].second);
      ++i;
      ++j;
    }
  }
  return out;
}

struct DecodedClassState {
  detail::StateHeader header;
  ClassStateFields fields;
  std::vector<std::uint64_t> words;
  Sparse hist; // nonzero histogram counts, indices ascending
};

DecodedClassState decode_class_state(const State& state) {
  const detail::OpenedState o = detail::open_state(state);
  if (o.header.family != Family::classification) {
    throw StateError("the state is of the regression family, not classification");
  }
  DecodedClassState d;
  d.header = o.header;
  detail::StateReader r(o.header.extra.data(), o.header.extra.size());
  ClassStateFields& f = d.fields;
  const std::uint8_t task = r.u8();
  if (task > 2) {
    throw StateError("state blob has unknown classification task " + std::to_string(task));
  }
  f.task = static_cast<ClassTask>(task);
  f.scores = r.u8() != 0;
  f.logits = r.u8() != 0;
  f.has_ignore = r.u8() != 0;
  f.class_axis = static_cast<std::int32_t>(r.u32());
  f.classes = static_cast<std::int64_t>(r.u64());
  f.threshold = r.f64();
  f.ignore_index = static_cast<std::int64_t>(r.u64());
  f.top_k = static_cast<int>(r.u32());
  f.bins = static_cast<int>(r.u32());
  f.hist.on = r.u8() != 0;
  const std::uint8_t format = r.u8();
  f.hist.bits = r.u8();
  (void)r.u8();
  f.hist.classes = static_cast<std::int64_t>(r.u64());
  if (r.left() != 0 || f.classes < 2 || f.classes > kMaxKeys || format > 3) {
    throw StateError("state blob header is inconsistent (classification fields)");
  }
  f.hist.format = static_cast<ops::KeyFormat>(format);
  if (f.hist.on) {
    const int width = ops::key_width(f.hist.format);
    if (f.hist.bits < 1 || f.hist.bits > 24 || f.hist.bits > width ||
        f.hist.classes != (f.task == ClassTask::binary ? 1 : f.classes)) {
      throw StateError("state blob header is inconsistent (histograms)");
    }
    f.hist.shift = width - f.hist.bits;
  }
  const ops::ClassLayout l =
      ops::ClassLayout::make(f.task, f.classes, f.scores, f.top_k > 0, f.bins);
  const auto record = static_cast<std::size_t>(l.words) * 8;
  if (o.header.keys != static_cast<std::uint64_t>(l.words) || o.payload_size < record) {
    throw StateError("state blob holds " + std::to_string(o.payload_size) + " bytes for " +
                     std::to_string(l.words) + " words of its record");
  }
  detail::StateReader p(o.payload, o.payload_size);
  d.words.resize(static_cast<std::size_t>(l.words));
  for (std::uint64_t& w : d.words) {
    w = p.u64();
  }
  // Histograms: the number of nonzero counts, then (index, count) pairs, indices ascending.
  if (f.hist.on) {
    const std::uint64_t n = p.u64();
    if (n > p.left() / 16) {
      throw StateError("state blob is truncated: its histograms need " + std::to_string(n) +
                       " counts");
    }
    d.hist.reserve(static_cast<std::size_t>(n));
    const auto size = static_cast<std::uint64_t>(f.hist.size());
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t index = p.u64(), count = p.u64();
      if (index >= size || count == 0 || (!d.hist.empty() && index <= d.hist.back().first)) {
        throw StateError("state blob's histograms are inconsistent (index " +
                         std::to_string(index) + ")");
      }
      d.hist.emplace_back(index, count);
    }
  }
  if (p.left() != 0) {
    throw StateError("state blob holds " + std::to_string(p.left()) + " bytes after its record");
  }
  return d;
}

// ---- finalize -------------------------------------------------------------------------------

double ratio(double num, double den) {
  return den > 0 ? num / den : 0.0; // zero division gives 0, as scikit-learn's default
}

struct ClassCounts {
  std::vector<double> tp, fp, fn, tn;
};

struct Averaged {
  double (*per_class)(double tp, double fp, double fn, double tn, double beta2);
};

double precision_of(double tp, double fp, double, double, double) {
  return ratio(tp, tp + fp);
}
double recall_of(double tp, double, double fn, double, double) {
  return ratio(tp, tp + fn);
}
double f1_of(double tp, double fp, double fn, double, double) {
  return ratio(2 * tp, 2 * tp + fp + fn);
}
double fbeta_of(double tp, double fp, double fn, double, double b2) {
  return ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp);
}
double specificity_of(double, double fp, double, double tn, double) {
  return ratio(tn, tn + fp);
}
double jaccard_of(double tp, double fp, double fn, double, double) {
  return ratio(tp, tp + fp + fn);
}

using PerClassFn = double (*)(double, double, double, double, double);

PerClassFn per_class_fn(ClassMetric m) {
  switch (m) {
  case ClassMetric::precision:
    return precision_of;
  case ClassMetric::recall:
    return recall_of;
  case ClassMetric::f1:
    return f1_of;
  case ClassMetric::fbeta:
    return fbeta_of;
  case ClassMetric::specificity:
    return specificity_of;
  default:
    return jaccard_of;
  }
}

// Cohen's kappa from the confusion matrix, in exact integer arithmetic until one final
// division: kappa = 1 - n * sum w_ij M_ij / sum w_ij row_i col_j, with w = 1 off the diagonal
// (power 0), |i - j| (1) or (i - j)^2 (2). Both sums fit 128 bits for any count a state holds
// (C <= 1024, n < 2^40 per class pair).
double kappa(const std::vector<std::uint64_t>& m, std::int64_t c, int power) {
  __extension__ typedef unsigned __int128 U;
  const auto C = static_cast<std::size_t>(c);
  std::vector<U> rows(C, 0), cols(C, 0);
  U n = 0;
  for (std::size_t i = 0; i < C; ++i) {
    for (std::size_t j = 0; j < C; ++j) {
      rows[i] += m[i * C + j];
      cols[j] += m[i * C + j];
      n += m[i * C + j];
    }
  }
  U observed = 0, expected = 0;
  for (std::size_t i = 0; i < C; ++i) {
    for (std::size_t j = 0; j < C; ++j) {
      const U d = i > j ? i - j : j - i;
      const U w = power == 0 ? (i == j ? 0 : 1) : (power == 1 ? d : d * d);
      observed += w * m[i * C + j];
      expected += w * rows[i] * cols[j];
    }
  }
  if (expected == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return static_cast<double>(1.0L - static_cast<long double>(observed * n) /
                                        static_cast<long double>(expected));
}

// Matthews' correlation from the confusion matrix (scikit-learn's multiclass formula), its
// covariances exact in 128-bit integers: 0 when a variance is 0.
double mcc_of(const std::vector<std::uint64_t>& m, std::int64_t c) {
  __extension__ typedef __int128 I;
  const auto C = static_cast<std::size_t>(c);
  I n = 0, trace = 0, tk_pk = 0, pk2 = 0, tk2 = 0;
  for (std::size_t i = 0; i < C; ++i) {
    I t = 0, p = 0;
    for (std::size_t j = 0; j < C; ++j) {
      t += m[i * C + j];
      p += m[j * C + i];
    }
    n += t;
    trace += m[i * C + i];
    tk_pk += t * p;
    pk2 += p * p;
    tk2 += t * t;
  }
  const I cov_ytyp = trace * n - tk_pk;
  const I cov_ypyp = n * n - pk2;
  const I cov_ytyt = n * n - tk2;
  if (cov_ypyp == 0 || cov_ytyt == 0) {
    return 0.0;
  }
  return static_cast<double>(
      static_cast<long double>(cov_ytyp) /
      std::sqrt(static_cast<long double>(cov_ytyt) * static_cast<long double>(cov_ypyp)));
}

// ---- rank metrics from the histograms -------------------------------------------------------

struct BinCounts {
  std::uint64_t bin, neg, pos;
};

// Class c's nonzero bins, ascending: its negatives' and positives' histograms side by side.
std::vector<BinCounts> class_bins(const Sparse& h, const ops::HistLayout& hl, std::int64_t c) {
  const auto bins = static_cast<std::uint64_t>(hl.bins());
  const auto lo = static_cast<std::uint64_t>(c) * 2 * bins;
  const auto lower = [](const Sparse& v, std::uint64_t x) {
    return std::lower_bound(v.begin(), v.end(), std::make_pair(x, std::uint64_t{0}));
  };
  auto n = lower(h, lo), n_end = lower(h, lo + bins);
  auto p = n_end, p_end = lower(h, lo + 2 * bins);
  std::vector<BinCounts> out;
  while (n != n_end || p != p_end) {
    const std::uint64_t nb = n != n_end ? n->first - lo : ~std::uint64_t{0};
    const std::uint64_t pb = p != p_end ? p->first - lo - bins : ~std::uint64_t{0};
    BinCounts b{std::min(nb, pb), 0, 0};
    if (nb == b.bin) {
      b.neg = (n++)->second;
    }
    if (pb == b.bin) {
      b.pos = (p++)->second;
    }
    out.push_back(b);
  }
  return out;
}

struct RankMetrics {
  double auroc, auroc_bound, ap, ap_bound, positives;
};

// AUROC with pairs in one bin as ties (half), and average precision with one threshold per bin,
// as scikit-learn computes them on those scores. When every distinct score has its own bin
// (`exact`) they are the exact values; otherwise the order inside a bin is unknown, and the
// bounds say how far the true values can be: AUROC by half the fraction of positive-negative
// pairs that share a bin, average precision by each bin's range of possible precisions.
RankMetrics rank_metrics(const std::vector<BinCounts>& bins, bool exact) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  long double P = 0, N = 0;
  for (const BinCounts& b : bins) {
    P += b.pos;
    N += b.neg;
  }
  RankMetrics r{nan, nan, nan, nan, static_cast<double>(P)};
  if (P > 0 && N > 0) {
    long double below = 0, area = 0, ties = 0;
    for (const BinCounts& b : bins) {
      area += static_cast<long double>(b.pos) * (below + 0.5L * b.neg);
      ties += static_cast<long double>(b.pos) * b.neg;
      below += b.neg;
    }
    r.auroc = static_cast<double>(area / (P * N));
    r.auroc_bound = exact ? 0.0 : static_cast<double>(0.5L * ties / (P * N));
  }
  if (P > 0) {
    long double tp = 0, fp = 0, ap = 0, bound = 0;
    for (auto it = bins.rbegin(); it != bins.rend(); ++it) {
      const long double tp0 = tp, fp0 = fp;
      tp += it->pos;
      fp += it->neg;
      if (it->pos == 0) {
        continue;
      }
      const long double prec = tp / (tp + fp);
      ap += it->pos / P * prec;
      // Each positive of the bin has a precision between these, whatever the order inside it.
      const long double lo = (tp0 + 1) / (tp0 + fp0 + it->neg + 1);
      const long double hi = tp / (tp0 + fp0 + it->pos);
      bound += it->pos / P * std::max(hi - prec, prec - lo);
    }
    r.ap = static_cast<double>(ap);
    r.ap_bound = exact ? 0.0 : static_cast<double>(bound);
  }
  return r;
}

// ROC and PR curves of a binary task at every bin's threshold (its lowest score), at most
// kCurvePoints points, descending thresholds; the ROC starts at (0, 0), threshold +inf.
constexpr std::size_t kCurvePoints = 1000;

void curves(const std::vector<BinCounts>& bins, const ops::HistLayout& hl,
            ClassificationReport& r) {
  double P = 0, N = 0;
  for (const BinCounts& b : bins) {
    P += static_cast<double>(b.pos);
    N += static_cast<double>(b.neg);
  }
  if (bins.empty()) {
    return;
  }
  const std::size_t n = bins.size();
  const std::size_t points = std::min(n, kCurvePoints - 1);
  r.roc_fpr.push_back(0.0);
  r.roc_tpr.push_back(0.0);
  r.roc_threshold.push_back(std::numeric_limits<double>::infinity());
  double tp = 0, fp = 0;
  std::size_t next = 0; // the k-th of `points` kept bins (descending), evenly spread
  for (std::size_t i = 0; i < n; ++i) {
    const BinCounts& b = bins[n - 1 - i];
    tp += static_cast<double>(b.pos);
    fp += static_cast<double>(b.neg);
    const std::size_t want = points <= 1 ? n - 1 : next * (n - 1) / (points - 1);
    if (i != want) {
      continue;
    }
    ++next;
    const double threshold = ops::key_value(b.bin << hl.shift, hl.format);
    r.roc_fpr.push_back(N > 0 ? fp / N : std::numeric_limits<double>::quiet_NaN());
    r.roc_tpr.push_back(P > 0 ? tp / P : std::numeric_limits<double>::quiet_NaN());
    r.roc_threshold.push_back(threshold);
    r.pr_precision.push_back(tp / (tp + fp));
    r.pr_recall.push_back(P > 0 ? tp / P : std::numeric_limits<double>::quiet_NaN());
    r.pr_threshold.push_back(threshold);
  }
}

ClassificationReport build_class_report(const detail::ClassBackend& b,
                                        const std::vector<std::uint64_t>& w, const Sparse& hist) {
  using L = ops::ClassLayout;
  const ops::ClassLayout& l = b.layout;
  const ClassificationSpec& spec = b.spec;
  ClassificationReport r;
  r.spec = spec;
  r.count = w[L::kSamples];
  r.skipped_invalid = w[L::kInvalid];
  r.ignored = w[L::kIgnored];
  r.classes = l.classes;
  r.scores = b.pred_scores;
  const std::int64_t c = l.classes;
  const auto C = static_cast<std::size_t>(c);
  ClassCounts k;
  k.tp.assign(C, 0);
  k.fp.assign(C, 0);
  k.fn.assign(C, 0);
  k.tn.assign(C, 0);
  const double n = static_cast<double>(r.count);
  if (spec.task == ClassTask::multilabel) {
    for (std::size_t i = 0; i < C; ++i) {
      r.tp.push_back(w[static_cast<std::size_t>(l.tp) + i]);
      r.fp.push_back(w[static_cast<std::size_t>(l.fp) + i]);
      r.fn.push_back(w[static_cast<std::size_t>(l.fn) + i]);
      r.tn.push_back(w[static_cast<std::size_t>(l.tn) + i]);
      k.tp[i] = static_cast<double>(r.tp[i]);
      k.fp[i] = static_cast<double>(r.fp[i]);
      k.fn[i] = static_cast<double>(r.fn[i]);
      k.tn[i] = static_cast<double>(r.tn[i]);
      r.support.push_back(r.tp[i] + r.fn[i]);
    }
  } else {
    r.confusion_matrix.assign(w.begin() + l.confusion, w.begin() + l.confusion + c * c);
    const std::vector<std::uint64_t>& confusion = r.confusion_matrix;
    for (std::size_t i = 0; i < C; ++i) {
      std::uint64_t row = 0, col = 0;
      for (std::size_t j = 0; j < C; ++j) {
        row += confusion[i * C + j];
        col += confusion[j * C + i];
      }
      k.tp[i] = static_cast<double>(confusion[i * C + i]);
      k.fn[i] = static_cast<double>(row - confusion[i * C + i]);
      k.fp[i] = static_cast<double>(col - confusion[i * C + i]);
      k.tn[i] = static_cast<double>(r.count - row - col + confusion[i * C + i]);
      r.support.push_back(row);
    }
  }
  // The classes averaged over: multiclass, those that occur in the targets or the predictions
  // (scikit-learn's labels); multilabel, every label; binary, the positive class.
  std::vector<std::size_t> averaged;
  for (std::size_t i = 0; i < C; ++i) {
    const bool seen = k.tp[i] + k.fp[i] + k.fn[i] > 0;
    if (spec.task == ClassTask::multilabel || (spec.task == ClassTask::multiclass && seen)) {
      averaged.push_back(i);
    }
  }
  const double beta2 = spec.beta * spec.beta;
  const bool undefined =
      r.count == 0 || (spec.nan_policy == NanPolicy::propagate && r.skipped_invalid > 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto put = [&](const std::string& name, double v) {
    r.names.push_back(name);
    r.values.push_back(undefined ? nan : v);
  };
  double counted = 0, right = 0; // multilabel: label decisions
  for (std::size_t i = 0; i < C; ++i) {
    counted += k.tp[i] + k.fp[i] + k.fn[i] + k.tn[i];
    right += k.tp[i] + k.tn[i];
  }
  for (ClassMetric metric : spec.metrics) {
    const ClassMetricInfo& info = class_metric_info(metric);
    const std::string name(info.name);
    if (info.averaged) {
      const PerClassFn f = per_class_fn(metric);
      std::vector<double> values(C);
      for (std::size_t i = 0; i < C; ++i) {
        values[i] = f(k.tp[i], k.fp[i], k.fn[i], k.tn[i], beta2);
      }
      r.per_class_names.push_back(name);
      r.per_class.push_back(undefined ? std::vector<double>(C, nan) : values);
      if (spec.task == ClassTask::binary) {
        put(name, values[1]);
        continue;
      }
      double tp = 0, fp = 0, fn = 0, tn = 0, macro = 0, weighted = 0, weight = 0;
      for (std::size_t i : averaged) {
        tp += k.tp[i];
        fp += k.fp[i];
        fn += k.fn[i];
        tn += k.tn[i];
        macro += values[i];
        weighted += values[i] * (k.tp[i] + k.fn[i]);
        weight += k.tp[i] + k.fn[i];
      }
      if (spec.task == ClassTask::multiclass) { // micro over every class
        tp = fp = fn = tn = 0;
        for (std::size_t i = 0; i < C; ++i) {
          tp += k.tp[i];
          fp += k.fp[i];
          fn += k.fn[i];
          tn += k.tn[i];
        }
      }
      put(name + "_micro", f(tp, fp, fn, tn, beta2));
      put(name + "_macro", averaged.empty() ? 0.0 : macro / static_cast<double>(averaged.size()));
      put(name + "_weighted", ratio(weighted, weight));
      continue;
    }
    if (metric == ClassMetric::auroc || metric == ClassMetric::average_precision) {
      const bool roc = metric == ClassMetric::auroc;
      std::vector<double> values(C, nan), bounds(C, nan);
      double sum = 0, sum_b = 0, count = 0, wsum = 0, wsum_b = 0, weight = 0;
      for (std::size_t i = 0; i < static_cast<std::size_t>(b.params.hist.classes); ++i) {
        const RankMetrics m = rank_metrics(
            class_bins(hist, b.params.hist, static_cast<std::int64_t>(i)), b.params.hist.exact());
        values[i] = roc ? m.auroc : m.ap;
        bounds[i] = roc ? m.auroc_bound : m.ap_bound;
        if (!std::isnan(values[i])) { // classes where the metric is defined
          sum += values[i];
          sum_b += bounds[i];
          count += 1;
          wsum += values[i] * m.positives;
          wsum_b += bounds[i] * m.positives;
          weight += m.positives;
        }
      }
      if (spec.task == ClassTask::binary) {
        put(name, values[0]);
        put(name + "_bound", bounds[0]);
        continue;
      }
      r.per_class_names.push_back(name);
      r.per_class.push_back(undefined ? std::vector<double>(C, nan) : values);
      r.per_class_names.push_back(name + "_bound");
      r.per_class.push_back(undefined ? std::vector<double>(C, nan) : bounds);
      put(name + "_macro", count > 0 ? sum / count : nan);
      put(name + "_macro_bound", count > 0 ? sum_b / count : nan);
      put(name + "_weighted", weight > 0 ? wsum / weight : nan);
      put(name + "_weighted_bound", weight > 0 ? wsum_b / weight : nan);
      continue;
    }
    switch (metric) {
    case ClassMetric::accuracy:
      if (spec.task == ClassTask::multilabel) {
        double sum = 0, labels = 0;
        for (std::size_t i = 0; i < C; ++i) {
          const double total = k.tp[i] + k.fp[i] + k.fn[i] + k.tn[i];
          if (total > 0) {
            sum += (k.tp[i] + k.tn[i]) / total;
            labels += 1;
          }
        }
        put(name, labels > 0 ? sum / labels : nan);
      } else {
        double trace = 0;
        for (std::size_t i = 0; i < C; ++i) {
          trace += k.tp[i];
        }
        put(name, trace / n);
      }
      break;
    case ClassMetric::subset_accuracy:
      put(name, ratio(static_cast<double>(w[static_cast<std::size_t>(l.subset_right)]),
                      static_cast<double>(w[static_cast<std::size_t>(l.subset_rows)])));
      break;
    case ClassMetric::balanced_accuracy: {
      double sum = 0, present = 0;
      for (std::size_t i = 0; i < C; ++i) {
        if (k.tp[i] + k.fn[i] > 0) {
          sum += k.tp[i] / (k.tp[i] + k.fn[i]);
          present += 1;
        }
      }
      put(name, sum / present);
      break;
    }
    case ClassMetric::mcc:
      put(name, mcc_of(r.confusion_matrix, c));
      break;
    case ClassMetric::cohen_kappa:
      put(name, kappa(r.confusion_matrix, c, 0));
      break;
    case ClassMetric::cohen_kappa_linear:
      put(name, kappa(r.confusion_matrix, c, 1));
      break;
    case ClassMetric::cohen_kappa_quadratic:
      put(name, kappa(r.confusion_matrix, c, 2));
      break;
    case ClassMetric::hamming_loss:
      put(name, ratio(counted - right, counted));
      break;
    case ClassMetric::top_k_accuracy:
      put(name, static_cast<double>(w[static_cast<std::size_t>(l.topk_hits)]) / n);
      break;
    case ClassMetric::log_loss:
    case ClassMetric::brier: {
      const std::int64_t at = metric == ClassMetric::log_loss ? l.log_loss : l.brier;
      put(name,
          ops::fixed_value(&w[static_cast<std::size_t>(at)]) / static_cast<double>(w[L::kTerms]));
      break;
    }
    case ClassMetric::ece:
    case ClassMetric::mce: {
      double ece = 0, mce = 0;
      for (int bin = 0; bin < l.bins; ++bin) {
        const double cnt = static_cast<double>(w[static_cast<std::size_t>(l.calib_count + bin)]);
        if (cnt == 0) {
          continue;
        }
        const double conf = ops::fixed_value(&w[static_cast<std::size_t>(l.calib_conf + 2 * bin)]);
        const double gap = std::fabs(
            static_cast<double>(w[static_cast<std::size_t>(l.calib_correct + bin)]) / cnt -
            conf / cnt);
        ece += gap * cnt / static_cast<double>(w[L::kTerms]);
        mce = std::max(mce, gap);
      }
      put(name, metric == ClassMetric::ece ? ece : mce);
      break;
    }
    default:
      break;
    }
  }
  if (b.params.hist.on) {
    const ops::HistLayout& hl = b.params.hist;
    r.histogram_key = std::string(dtype_name(dtype_of(hl.format)));
    r.histogram_bits = hl.bits;
    r.histogram_exact = hl.exact();
    if (spec.task == ClassTask::binary && !undefined) {
      curves(class_bins(hist, hl, 0), hl, r);
    }
  }
  if (l.bins > 0) {
    for (int bin = 0; bin < l.bins; ++bin) {
      const std::uint64_t cnt = w[static_cast<std::size_t>(l.calib_count + bin)];
      const double conf = ops::fixed_value(&w[static_cast<std::size_t>(l.calib_conf + 2 * bin)]);
      r.calibration_count.push_back(cnt);
      r.calibration_confidence.push_back(cnt ? conf / static_cast<double>(cnt) : nan);
      r.calibration_accuracy.push_back(
          cnt ? static_cast<double>(w[static_cast<std::size_t>(l.calib_correct + bin)]) /
                    static_cast<double>(cnt)
              : nan);
    }
  }
  return r;
}

} // namespace

// ---- names ------------------------------------------------------------------------------------

std::string_view class_task_name(ClassTask t) {
  switch (t) {
  case ClassTask::binary:
    return "binary";
  case ClassTask::multiclass:
    return "multiclass";
  case ClassTask::multilabel:
    return "multilabel";
  }
  return "?";
}

ClassTask parse_class_task(std::string_view text) {
  for (ClassTask t : {ClassTask::binary, ClassTask::multiclass, ClassTask::multilabel}) {
    if (class_task_name(t) == text) {
      return t;
    }
  }
  throw InvalidArgument("unknown classification task '" + std::string(text) +
                        "'; use binary, multiclass or multilabel");
}

const ClassMetricInfo& class_metric_info(ClassMetric m) {
  return kClassMetrics[static_cast<std::size_t>(m)];
}

ClassMetric parse_class_metric(std::string_view name) {
  for (const ClassMetricInfo& m : kClassMetrics) {
    if (m.name == name) {
      return m.metric;
    }
  }
  throw InvalidArgument("unknown classification metric '" + std::string(name) +
                        "'; valid metrics: " + valid_class_metric_names() +
                        " (or 'default', 'all')");
}

void ClassificationSpec::set_metrics(std::string_view text) {
  metrics.clear();
  all_metrics = text == "all";
  if (text != "default" && text != "all") {
    metrics = parse_class_metric_list(text);
  }
}

std::vector<ClassMetric> parse_class_metric_list(std::string_view text) {
  std::vector<ClassMetric> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    GPUEVAL_EXPECTS(!item.empty(), "empty entry in metric list '" + std::string(text) +
                                       "'; give names separated by commas, e.g. accuracy,f1");
    const ClassMetric m = parse_class_metric(item);
    GPUEVAL_EXPECTS(std::find(out.begin(), out.end(), m) == out.end(),
                    "metric '" + std::string(item) + "' is listed twice");
    out.push_back(m);
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

void ClassificationSpec::validate() const {
  const std::string task_text(class_task_name(task));
  if (task == ClassTask::binary) {
    GPUEVAL_EXPECTS(num_classes == 0 || num_classes == 2,
                    "a binary task has 2 classes, not num_classes " + std::to_string(num_classes));
  } else {
    const std::int64_t limit = task == ClassTask::multiclass ? kMaxClasses : kMaxKeys / 4;
    GPUEVAL_EXPECTS(num_classes >= 2 && num_classes <= limit,
                    "a " + task_text + " task needs num_classes between 2 and " +
                        std::to_string(limit) + ", not " + std::to_string(num_classes));
  }
  GPUEVAL_EXPECTS(threshold >= 0.0 && threshold <= 1.0,
                  "threshold " + std::to_string(threshold) + " is not a probability in [0, 1]");
  GPUEVAL_EXPECTS(bins >= 1 && bins <= 100000,
                  "bins must be between 1 and 100000, not " + std::to_string(bins));
  GPUEVAL_EXPECTS(top_k >= 0, "top_k must be 0 (none) or more, not " + std::to_string(top_k));
  GPUEVAL_EXPECTS(top_k == 0 || task == ClassTask::multiclass,
                  "top_k applies to multiclass scores, not a " + task_text + " task");
  GPUEVAL_EXPECTS(top_k <= num_classes || task != ClassTask::multiclass,
                  "top_k " + std::to_string(top_k) + " is more than num_classes " +
                      std::to_string(num_classes));
  GPUEVAL_EXPECTS(beta > 0 && std::isfinite(beta),
                  "beta must be positive, not " + std::to_string(beta));
  for (ClassMetric m : metrics) {
    const ClassMetricInfo& info = class_metric_info(m);
    GPUEVAL_EXPECTS(has_task(info, task), "metric '" + std::string(info.name) +
                                              "' is not defined for a " + task_text + " task");
  }
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    for (std::size_t j = i + 1; j < metrics.size(); ++j) {
      GPUEVAL_EXPECTS(metrics[i] != metrics[j],
                      "metric '" + std::string(class_metric_info(metrics[i]).name) +
                          "' is listed twice");
    }
  }
  GPUEVAL_EXPECTS(pred != PredKind::labels || scores == ScoreKind::probabilities,
                  "scores=logits needs score predictions, not labels");
}

// ---- report -----------------------------------------------------------------------------------

bool ClassificationReport::has(std::string_view name) const {
  return std::find(names.begin(), names.end(), name) != names.end();
}

double ClassificationReport::value(std::string_view name) const {
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    std::string all;
    for (const std::string& n : names) {
      all += (all.empty() ? "" : ", ") + n;
    }
    throw InvalidArgument("metric '" + std::string(name) +
                          "' is not in this report; it has: " + all);
  }
  return values[static_cast<std::size_t>(it - names.begin())];
}

const std::vector<double>& ClassificationReport::per_class_values(std::string_view name) const {
  const auto it = std::find(per_class_names.begin(), per_class_names.end(), name);
  GPUEVAL_EXPECTS(it != per_class_names.end(),
                  "'" + std::string(name) + "' has no per-class values in this report");
  return per_class[static_cast<std::size_t>(it - per_class_names.begin())];
}

std::string ClassificationReport::to_json() const {
  using detail::append_array;
  using detail::append_number;
  using detail::append_string;
  std::string out = "{\"schema\": \"gpueval.report/1\", \"version\": ";
  append_string(out, kVersion);
  out += ", \"task\": ";
  append_string(out, class_task_name(spec.task));
  out += ", \"device\": ";
  append_string(out, device);
  out += ", \"spec\": {\"metrics\": [";
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    out += i ? ", " : "";
    append_string(out, class_metric_info(spec.metrics[i]).name);
  }
  out += "], \"num_classes\": " + std::to_string(classes);
  out += ", \"predictions\": ";
  append_string(out, !scores ? "labels"
                             : (spec.scores == ScoreKind::logits ? "logits" : "probabilities"));
  out += ", \"threshold\": ";
  append_number(out, spec.threshold);
  out += ", \"class_axis\": " + std::to_string(spec.class_axis);
  out += ", \"top_k\": " + std::to_string(spec.top_k);
  out += ", \"ignore_index\": ";
  out += spec.ignore_index ? std::to_string(*spec.ignore_index) : "null";
  out += ", \"bins\": " + std::to_string(spec.bins);
  out += ", \"beta\": ";
  append_number(out, spec.beta);
  out += ", \"nan_policy\": ";
  append_string(out, nan_policy_name(spec.nan_policy));
  out += "}, \"count\": " + std::to_string(count);
  out += ", \"skipped_invalid\": " + std::to_string(skipped_invalid);
  out += ", \"ignored\": " + std::to_string(ignored);
  out += ", \"classes\": " + std::to_string(classes);
  out += ", \"metrics\": {";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i ? ", " : "";
    append_string(out, names[i]);
    out += ": ";
    append_number(out, values[i]);
  }
  out += "}, \"per_class\": {\"support\": ";
  append_array(out, support);
  for (std::size_t i = 0; i < per_class_names.size(); ++i) {
    out += ", ";
    append_string(out, per_class_names[i]);
    out += ": ";
    append_array(out, per_class[i]);
  }
  if (!tp.empty()) {
    out += ", \"tp\": ";
    append_array(out, tp);
    out += ", \"fp\": ";
    append_array(out, fp);
    out += ", \"fn\": ";
    append_array(out, fn);
    out += ", \"tn\": ";
    append_array(out, tn);
  }
  out += "}, \"confusion_matrix\": ";
  if (confusion_matrix.empty()) {
    out += "null";
  } else {
    out += '[';
    for (std::int64_t i = 0; i < classes; ++i) {
      out += i ? ", " : "";
      append_array(out, std::vector<std::uint64_t>(confusion_matrix.begin() + i * classes,
                                                   confusion_matrix.begin() + (i + 1) * classes));
    }
    out += ']';
  }
  out += ", \"calibration\": ";
  if (calibration_count.empty()) {
    out += "null";
  } else {
    out += "{\"bins\": " + std::to_string(calibration_count.size()) + ", \"count\": ";
    append_array(out, calibration_count);
    out += ", \"confidence\": ";
    append_array(out, calibration_confidence);
    out += ", \"accuracy\": ";
    append_array(out, calibration_accuracy);
    out += '}';
  }
  out += ", \"histogram\": ";
  if (histogram_key.empty()) {
    out += "null";
  } else {
    out += "{\"key\": ";
    append_string(out, histogram_key);
    out += ", \"bits\": " + std::to_string(histogram_bits) + ", \"exact\": ";
    out += histogram_exact ? "true" : "false";
    out += '}';
  }
  const auto curve = [&](const char* name, const char* x, const std::vector<double>& xs,
                         const char* y, const std::vector<double>& ys,
                         const std::vector<double>& thresholds) {
    out += std::string(", \"") + name + "\": ";
    if (xs.empty()) {
      out += "null";
      return;
    }
    out += std::string("{\"") + x + "\": ";
    append_array(out, xs);
    out += std::string(", \"") + y + "\": ";
    append_array(out, ys);
    out += ", \"threshold\": ";
    append_array(out, thresholds);
    out += '}';
  };
  curve("roc", "fpr", roc_fpr, "tpr", roc_tpr, roc_threshold);
  curve("pr", "recall", pr_recall, "precision", pr_precision, pr_threshold);
  out += ", \"elapsed_s\": ";
  append_number(out, elapsed_s);
  out += ", \"bytes_read\": " + std::to_string(bytes_read) + "}";
  return out;
}

// ---- the evaluator ----------------------------------------------------------------------------

ClassificationEvaluator::ClassificationEvaluator(ClassificationSpec spec, Device device) {
  if (spec.task == ClassTask::binary) {
    spec.num_classes = 2;
  }
  spec.validate();
  backend_ = detail::make_class_backend(device);
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
  detail::ClassBackend& b = *backend_;
  if (!b.configured) {
    GPUEVAL_EXPECTS(target.rank >= 1 && target.rank <= kMaxRank,
                    "target has rank " + std::to_string(target.rank) +
                        "; a batch has a leading batch axis (rank 1 to " +
                        std::to_string(kMaxRank) + ")");
    const bool scores = detect_scores(b.spec, pred, target);
    (void)class_axis_of(b.spec, scores, dims(pred), dims(target));
    const std::vector<std::int64_t> sample(target.shape + 1, target.shape + target.rank);
    GPUEVAL_EXPECTS(b.spec.sample_shape.empty() || b.spec.sample_shape == sample,
                    "target has sample shape " + shape_of(sample) + ", but the spec's is " +
                        shape_of(b.spec.sample_shape));
    if (!b.spec.score_dtype) {
      b.spec.score_dtype = pred.dtype;
    }
    configure(b, scores, sample);
  }
  detail::ClassBatch batch = describe_batch(b, pred, target, mask);
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
  batch.index = b.batches;
  if (batch.samples > 0) {
    b.update(batch, stream);
  }
  ++b.batches;
}

ClassificationReport ClassificationEvaluator::compute(StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  GPUEVAL_EXPECTS(b.configured,
                  "compute() before any update: the inputs are unknown; give one batch, or set "
                  "ClassificationSpec::sample_shape and pred");
  const detail::NonFiniteLocation where = b.first_invalid(stream);
  const std::vector<std::uint64_t> w = b.words(stream);
  if (b.spec.nan_policy == NanPolicy::error && where.found()) {
    throw NonFiniteError("nan_policy=error: invalid target, label or score in batch " +
                             std::to_string(where.batch) + " at target element " +
                             std::to_string(where.element),
                         where.batch, where.element);
  }
  ClassificationReport r =
      build_class_report(b, w, b.params.hist.on ? b.histogram(stream) : Sparse{});
  r.device = b.describe();
  return r;
}

AnyReport ClassificationEvaluator::compute_any(StreamHandle stream) {
  return AnyReport(compute(stream));
}

void ClassificationEvaluator::reset(StreamHandle stream) {
  if (backend_->configured) {
    backend_->reset(stream);
  }
  backend_->batches = 0;
}

void ClassificationEvaluator::keep_until_done(std::shared_ptr<void> owner) {
  backend_->hold(std::move(owner));
}

State ClassificationEvaluator::state(StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  GPUEVAL_EXPECTS(b.configured,
                  "state() before any update: the inputs are unknown; give one batch, or set "
                  "ClassificationSpec::sample_shape and pred");
  detail::StateHeader h;
  h.family = Family::classification;
  h.nan_policy = b.spec.nan_policy;
  h.sample_shape = b.sample_shape;
  h.keys = static_cast<std::uint64_t>(b.layout.words);
  h.batches = b.batches;
  h.first_nonfinite = b.first_invalid(stream);
  h.extra = encode_fields(fields_of(b));
  const std::vector<std::uint64_t> w = b.words(stream);
  std::vector<std::uint8_t> payload;
  payload.reserve(w.size() * 8);
  detail::StateWriter out(payload);
  for (std::uint64_t v : w) {
    out.u64(v);
  }
  if (b.params.hist.on) {
    const Sparse hist = b.histogram(stream);
    out.u64(hist.size());
    for (const auto& [index, count] : hist) {
      out.u64(index);
      out.u64(count);
    }
  }
  return detail::seal_state(h, payload);
}

void ClassificationEvaluator::merge(const State& other, StreamHandle stream) {
  detail::ClassBackend& b = *backend_;
  const DecodedClassState d = decode_class_state(other);
  const ClassStateFields& f = d.fields;
  const auto mismatch = [](const std::string& what, const std::string& theirs,
                           const std::string& ours) {
    throw StateError("cannot merge: the state was made with " + what + " " + theirs +
                     ", this evaluator has " + ours);
  };
  if (f.task != b.spec.task) {
    mismatch("task", std::string(class_task_name(f.task)),
             std::string(class_task_name(b.spec.task)));
  }
  if (f.classes != b.spec.num_classes) {
    mismatch("num_classes", std::to_string(f.classes), std::to_string(b.spec.num_classes));
  }
  if (d.header.nan_policy != b.spec.nan_policy) {
    mismatch("nan_policy", std::string(nan_policy_name(d.header.nan_policy)),
             std::string(nan_policy_name(b.spec.nan_policy)));
  }
  if (!b.configured) {
    if (f.hist.on && !b.spec.score_dtype) {
      b.spec.score_dtype = dtype_of(f.hist.format);
    }
    configure(b, f.scores, d.header.sample_shape);
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
    if (f.hist.format != mine.hist.format || f.hist.bits != mine.hist.bits) {
      const auto keys = [](const ops::HistLayout& h) {
        return std::string(dtype_name(dtype_of(h.format))) + " keys of " + std::to_string(h.bits) +
               " bits";
      };
      mismatch("histograms of", keys(f.hist), keys(mine.hist));
    }
  }
  std::vector<std::uint64_t> w = b.words(stream);
  ops::combine(w.data(), d.words.data(), b.layout);
  if (mine.hist.on) {
    b.load_histogram(add_sparse(b.histogram(stream), d.hist), stream);
  }
  detail::NonFiniteLocation where = b.first_invalid(stream);
  if (d.header.first_nonfinite.found() && !where.found()) {
    where = d.header.first_nonfinite;
  }
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

// ---- from a state -----------------------------------------------------------------------------

ClassificationSpec classification_spec_of(const State& state) {
  const DecodedClassState d = decode_class_state(state);
  ClassificationSpec spec;
  spec.task = d.fields.task;
  spec.num_classes = d.fields.classes;
  spec.scores = d.fields.logits ? ScoreKind::logits : ScoreKind::probabilities;
  spec.pred = d.fields.scores ? PredKind::scores : PredKind::labels;
  spec.threshold = d.fields.threshold;
  spec.class_axis = d.fields.class_axis;
  spec.top_k = d.fields.top_k;
  if (d.fields.has_ignore) {
    spec.ignore_index = d.fields.ignore_index;
  }
  spec.bins = d.fields.bins;
  spec.nan_policy = d.header.nan_policy;
  spec.sample_shape = d.header.sample_shape;
  const ops::HistLayout& h = d.fields.hist;
  if (h.on) {
    // The histograms the state was made with: its key format, and a budget of its bits.
    spec.score_dtype = dtype_of(h.format);
    spec.histogram_budget = (std::int64_t{16} << h.bits) * h.classes;
  }
  return spec;
}

} // namespace gpueval
