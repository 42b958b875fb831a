// The classification family's spec: the metric table, names, validation, the metrics a spec
// resolves to and the AUROC histograms it implies.
#include "gpueval/classification.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "classification/internal.hpp"
#include "core/options.hpp"
#include "gpueval/error.hpp"

namespace gpueval {

using namespace classification; // the family's internal functions (internal.hpp)

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
    {ClassMetric::balanced_accuracy_adjusted, "balanced_accuracy_adjusted", kBinary | kMulticlass,
     false, false, true,
     "balanced accuracy rescaled so that chance scores 0 (scikit-learn's adjusted=True)"},
    {ClassMetric::precision_samples, "precision_samples", kMultilabel, false, false, true,
     "mean over samples of each sample's tp / (tp + fp) (scikit-learn's average='samples')"},
    {ClassMetric::recall_samples, "recall_samples", kMultilabel, false, false, true,
     "mean over samples of each sample's tp / (tp + fn)"},
    {ClassMetric::f1_samples, "f1_samples", kMultilabel, false, false, true,
     "mean over samples of each sample's 2 tp / (2 tp + fp + fn)"},
    {ClassMetric::fbeta_samples, "fbeta_samples", kMultilabel, false, false, true,
     "mean over samples of each sample's F-beta (beta fixed in the state)"},
    {ClassMetric::jaccard_samples, "jaccard_samples", kMultilabel, false, false, true,
     "mean over samples of each sample's tp / (tp + fp + fn)"},
    {ClassMetric::auroc_ovo, "auroc_ovo", kMulticlass, true, false, true,
     "one-vs-one AUROC (Hand and Till): the mean over class pairs, and _weighted by the pairs' "
     "prevalence, with their bounds; C histograms per class, so by name only (not in 'all')"},
    {ClassMetric::nll, "nll", kMulticlass, true, false, true,
     "mean negative log-likelihood of the targets (log_loss; nats per token)"},
    {ClassMetric::perplexity, "perplexity", kMulticlass, true, false, true,
     "exp(nll): a language model's perplexity over the counted tokens"},
    {ClassMetric::bits_per_token, "bits_per_token", kMulticlass, true, false, true, "nll / ln 2"},
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

} // namespace

namespace classification {

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
          (spec.all_metrics || !histogram || spec.task == ClassTask::binary) &&
          // C histograms per class: by name only, never in "all"
          m.metric != ClassMetric::auroc_ovo;
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

// The dtype whose bits a key format is.
DType dtype_of(ops::KeyFormat f) {
  return f == ops::KeyFormat::f16    ? DType::f16
         : f == ops::KeyFormat::bf16 ? DType::bf16
         : f == ops::KeyFormat::f32  ? DType::f32
                                     : DType::f64;
}

// The breakdown axis of targets of `rank` axes (normalised), its length and the samples one of
// its steps spans, from the spec and the sample shape; InvalidArgument naming the axis.
AxisBreakdown axis_breakdown(const ClassificationSpec& spec,
                             const std::vector<std::int64_t>& sample_shape) {
  AxisBreakdown out;
  if (!spec.by_axis) {
    return out;
  }
  const int rank = static_cast<int>(sample_shape.size()) + 1;
  out.axis = normalise_axis(*spec.by_axis, rank, "by_axis");
  out.positions = sample_shape[static_cast<std::size_t>(out.axis - 1)];
  for (std::size_t d = static_cast<std::size_t>(out.axis); d < sample_shape.size(); ++d) {
    out.step *= sample_shape[d];
  }
  GPUEVAL_EXPECTS(out.positions >= 1 && out.positions <= kMaxPositions,
                  "by_axis " + std::to_string(*spec.by_axis) + " has " +
                      std::to_string(out.positions) + " indices; a breakdown has 1 to " +
                      std::to_string(kMaxPositions));
  return out;
}

bool wants_histograms(const ClassificationSpec& spec) {
  return std::find(spec.metrics.begin(), spec.metrics.end(), ClassMetric::auroc) !=
             spec.metrics.end() ||
         std::find(spec.metrics.begin(), spec.metrics.end(), ClassMetric::average_precision) !=
             spec.metrics.end() ||
         std::find(spec.metrics.begin(), spec.metrics.end(), ClassMetric::auroc_ovo) !=
             spec.metrics.end();
}

bool has_confusion_matrix(const ClassificationSpec& spec) {
  return spec.task == ClassTask::binary ||
         spec.confusion_matrix.value_or(spec.num_classes <= kMaxClasses);
}

bool wants_per_sample(const ClassificationSpec& spec) {
  return std::any_of(spec.metrics.begin(), spec.metrics.end(), [](ClassMetric m) {
    return m == ClassMetric::precision_samples || m == ClassMetric::recall_samples ||
           m == ClassMetric::f1_samples || m == ClassMetric::fbeta_samples ||
           m == ClassMetric::jaccard_samples;
  });
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
  h.per_target = spec.task == ClassTask::multiclass &&
                 std::find(spec.metrics.begin(), spec.metrics.end(), ClassMetric::auroc_ovo) !=
                     spec.metrics.end();
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
    // Two (one-vs-one: C) histograms of 8-byte counts per class within the budget, at most 24
    // bits.
    const double per = static_cast<double>(spec.histogram_budget) /
                       (8.0 * static_cast<double>(h.classes * h.groups()));
    h.bits = std::min(24, static_cast<int>(std::floor(std::log2(std::max(per, 1.0)))));
    GPUEVAL_EXPECTS(h.bits >= 8, "histogram_budget " + std::to_string(spec.histogram_budget) +
                                     " bytes leaves fewer than 8 bits per histogram for " +
                                     std::to_string(h.classes) +
                                     " classes; raise it for auroc and average_precision");
  }
  const std::int64_t bytes = h.size() * 8;
  GPUEVAL_EXPECTS(
      width > 16 || bytes <= std::max<std::int64_t>(spec.histogram_budget, 1 << 21),
      "auroc and average_precision over 16-bit scores need " + std::to_string(bytes >> 20) +
          " MiB of histograms for " + std::to_string(h.classes) + " classes" +
          (h.per_target ? " (auroc_ovo: one per class pair)" : "") + "; raise histogram_budget");
  h.shift = width - h.bits;
  // Scores as given (not softmax probabilities computed in double) keyed inexactly: each bin
  // notes the key its samples share, so that bins of one score add nothing to the bounds.
  h.keys = h.shift > 0 && h.format == ops::KeyFormat::f32 && !computed;
  return h;
}

} // namespace classification

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
    const std::int64_t limit = task == ClassTask::multiclass ? kMaxMulticlass : kMaxLabels;
    GPUEVAL_EXPECTS(num_classes >= 2 && num_classes <= limit,
                    "a " + task_text + " task needs num_classes between 2 and " +
                        std::to_string(limit) + ", not " + std::to_string(num_classes));
    GPUEVAL_EXPECTS(!confusion_matrix.value_or(false) || num_classes <= kMaxMatrixClasses,
                    "confusion_matrix='on' for " + std::to_string(num_classes) +
                        " classes would take " +
                        std::to_string((num_classes * num_classes * 8) >> 20) +
                        " MiB a record; at most " + std::to_string(kMaxMatrixClasses) +
                        " classes (per-class counts give every other metric: leave it 'auto')");
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
  GPUEVAL_EXPECTS(zero_division == 0.0 || zero_division == 1.0 || std::isnan(zero_division),
                  "zero_division must be 0, 1 or nan, not " + std::to_string(zero_division));
  GPUEVAL_EXPECTS(pos_label == 0 || pos_label == 1,
                  "pos_label must be 0 or 1 (the positive class of a binary task), not " +
                      std::to_string(pos_label));
  GPUEVAL_EXPECTS(pos_label == 1 || task == ClassTask::binary,
                  "pos_label applies to a binary task; a " + task_text +
                      " task reports every class (per_class and the averages)");
  if (!class_names.empty()) {
    const std::int64_t classes = task == ClassTask::binary ? 2 : num_classes;
    GPUEVAL_EXPECTS(static_cast<std::int64_t>(class_names.size()) == classes,
                    std::to_string(class_names.size()) + " class_names for " +
                        std::to_string(classes) +
                        " classes; give one name per class, in index "
                        "order");
    for (std::size_t i = 0; i < class_names.size(); ++i) {
      GPUEVAL_EXPECTS(!class_names[i].empty(), "class name " + std::to_string(i) + " is empty");
      GPUEVAL_EXPECTS(
          std::find(class_names.begin(), class_names.begin() + static_cast<std::ptrdiff_t>(i),
                    class_names[i]) == class_names.begin() + static_cast<std::ptrdiff_t>(i),
          "class name '" + class_names[i] + "' is given twice");
    }
  }
  GPUEVAL_EXPECTS(labels.empty() || task != ClassTask::binary,
                  "labels chooses the classes of multiclass and multilabel averages; a binary "
                  "task reports its positive class");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    GPUEVAL_EXPECTS(labels[i] >= 0 && labels[i] < num_classes,
                    "label " + std::to_string(labels[i]) + " is not a class index in [0, " +
                        std::to_string(num_classes) + ")");
    for (std::size_t j = 0; j < i; ++j) {
      GPUEVAL_EXPECTS(labels[i] != labels[j],
                      "label " + std::to_string(labels[i]) + " is listed twice in labels");
    }
  }
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
  if (by_axis) {
    GPUEVAL_EXPECTS(*by_axis != 0, "by_axis 0 is the batch axis; a breakdown axis is 1 or later "
                                   "(e.g. 1 for the positions of [batch, time] tokens)");
    GPUEVAL_EXPECTS(task != ClassTask::multilabel,
                    "by_axis breaks binary and multiclass samples down by an axis; a multilabel "
                    "task's label axis is its per_class section");
    const bool any = metrics.empty() || std::any_of(metrics.begin(), metrics.end(), by_axis_metric);
    GPUEVAL_EXPECTS(any, "by_axis reports accuracy, top_k_accuracy, log_loss, nll, perplexity, "
                         "bits_per_token and brier per index; the metrics name none of them");
  }
}

bool by_axis_metric(ClassMetric m) {
  return m == ClassMetric::accuracy || m == ClassMetric::top_k_accuracy ||
         m == ClassMetric::log_loss || m == ClassMetric::nll || m == ClassMetric::perplexity ||
         m == ClassMetric::bits_per_token || m == ClassMetric::brier;
}

namespace classification {

void read_report_options(const detail::OptionReader& o, ClassificationSpec& spec) {
  spec.beta = o.real("beta", spec.beta);
  const std::string zd = o.text("zero_division", "0");
  GPUEVAL_EXPECTS(zd == "0" || zd == "1" || zd == "nan" || zd == "0.0" || zd == "1.0",
                  "zero_division must be 0, 1 or nan, not '" + zd + "'");
  spec.zero_division = zd == "nan" ? std::numeric_limits<double>::quiet_NaN() : std::stod(zd);
  spec.labels = o.shape("labels");
  spec.pos_label = static_cast<int>(o.integer("pos_label", std::int64_t{1}));
  spec.class_names = o.names("class_names");
}

void apply_report_options(ClassificationSpec& spec, const Options& options) {
  const std::vector<OptionInfo>& infos = ClassificationSpec::option_infos();
  for (const auto& [name, value] : options) {
    (void)value;
    const bool report = std::any_of(infos.begin(), infos.end(), [&](const OptionInfo& i) {
      return i.name == name && i.report_only;
    });
    GPUEVAL_EXPECTS(report, "option '" + name +
                                "' is fixed by the state; a merged report takes only beta, "
                                "zero_division, labels, pos_label and class_names");
  }
  const detail::OptionReader o(options, "classification", ClassificationSpec::option_infos());
  read_report_options(o, spec);
  spec.validate();
}

} // namespace classification

const std::vector<OptionInfo>& ClassificationSpec::option_infos() {
  static const std::vector<OptionInfo> infos = {
      {"metrics", "comma-separated metric names, 'default' or 'all'", "default"},
      {"num_classes", "classes (multiclass) or labels (multilabel)", ""},
      {"scores", "probabilities or logits", "probabilities"},
      {"pred", "auto, scores or labels: what the predictions are", "auto", false},
      {"threshold", "binary and multilabel: a probability above it is a positive", "0.5"},
      {"class_axis", "the class axis of multiclass scores (label axis of multilabel)", "1"},
      {"top_k", "multiclass scores: also top_k_accuracy", ""},
      {"ignore_index", "targets equal to it are dropped", ""},
      {"bins", "calibration bins (ece, mce)", "15"},
      {"beta", "beta of fbeta", "1", true, true},
      {"zero_division",
       "0, 1 or nan: a ratio whose denominator is 0 (precision, recall, F-scores, specificity, "
       "jaccard); nan values are left out of the averages",
       "0", true, true},
      {"pos_label", "binary: the positive class, 0 or 1", "1", true, true},
      {"class_names", "comma-separated names of the classes, in index order", "", true, true},
      {"labels",
       "comma-separated class indices that the macro, weighted and micro averages take "
       "(default: multiclass, the classes seen; multilabel, every label)",
       "", true, true},
      {"nan_policy", "a NaN or infinite value: skip, propagate or error", "skip"},
      {"invalid",
       "a finite value that cannot be what the spec says (a probability outside [0, 1], a "
       "target outside the classes): error or skip (drop and count)",
       "error"},
      {"sample_shape", "the targets' shape without the batch axis", "", false},
      {"score_dtype", "the predictions' dtype, which keys the auroc histograms", "", false},
      {"histogram_budget", "bytes the auroc and average_precision histograms may take",
       "268435456"},
      {"confusion_matrix",
       "auto, on or off: whether the record holds the C x C confusion matrix (auto: while C <= "
       "1024; off: per-class counts, 3 C words, every other metric the same)",
       "auto"},
      {"by_axis",
       "binary and multiclass: a breakdown axis of the targets (e.g. 1 for the position of "
       "[batch, time] tokens): accuracy, top_k_accuracy and the losses per index",
       ""},
  };
  return infos;
}

ClassificationSpec ClassificationSpec::from_options(std::string_view task, const Options& options) {
  const detail::OptionReader o(options, "classification", option_infos());
  o.check_known();
  ClassificationSpec spec;
  spec.task = parse_class_task(task);
  spec.num_classes = o.integer("num_classes", std::int64_t{0});
  if (spec.task == ClassTask::binary && spec.num_classes == 0) {
    spec.num_classes = 2;
  }
  spec.set_metrics(o.text("metrics", "default"));
  const std::string scores = o.text("scores", "probabilities");
  GPUEVAL_EXPECTS(scores == "probabilities" || scores == "logits",
                  "scores must be 'probabilities' or 'logits', not '" + scores + "'");
  spec.scores = scores == "logits" ? ScoreKind::logits : ScoreKind::probabilities;
  const std::string pred = o.text("pred", "auto");
  GPUEVAL_EXPECTS(pred == "auto" || pred == "scores" || pred == "labels",
                  "pred must be 'auto', 'scores' or 'labels', not '" + pred + "'");
  spec.pred = pred == "scores"   ? PredKind::scores
              : pred == "labels" ? PredKind::labels
                                 : PredKind::auto_detect;
  spec.threshold = o.real("threshold", 0.5);
  spec.class_axis = static_cast<int>(o.integer("class_axis", std::int64_t{1}));
  spec.top_k = static_cast<int>(o.integer("top_k", std::int64_t{0}));
  spec.ignore_index = o.integer("ignore_index", "none");
  spec.bins = static_cast<int>(o.integer("bins", std::int64_t{15}));
  if (const std::optional<std::int64_t> by = o.integer("by_axis", "none")) {
    spec.by_axis = static_cast<int>(*by);
  }
  classification::read_report_options(o, spec);
  spec.nan_policy = parse_nan_policy(o.text("nan_policy", "skip"));
  spec.invalid = parse_invalid_policy(o.text("invalid", "error"));
  spec.sample_shape = o.shape("sample_shape");
  if (const std::optional<std::string> d = o.text("score_dtype")) {
    DType dt{};
    GPUEVAL_EXPECTS(parse_dtype(*d, dt) && dtype_is_float(dt),
                    "score_dtype '" + *d +
                        "' is not a float dtype (float16, bfloat16, float32, "
                        "float64)");
    spec.score_dtype = dt;
  }
  spec.histogram_budget = o.integer("histogram_budget", spec.histogram_budget);
  const std::string matrix = o.text("confusion_matrix", "auto");
  GPUEVAL_EXPECTS(matrix == "auto" || matrix == "on" || matrix == "off",
                  "confusion_matrix must be 'auto', 'on' or 'off', not '" + matrix + "'");
  if (matrix != "auto") {
    spec.confusion_matrix = matrix == "on";
  }
  GPUEVAL_EXPECTS(spec.histogram_budget > 0, "histogram_budget must be a positive number of bytes");
  spec.validate();
  return spec;
}

} // namespace gpueval
