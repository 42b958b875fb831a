// The classification family: binary, multiclass and multilabel tasks, from scores
// (probabilities or logits) or labels. Every statistic is an integer count or an exact
// fixed-point sum (ops/classification.hpp), so a result is bitwise the same whatever the batch
// split, thread count or device.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/family.hpp"
#include "gpueval/ops/classification.hpp"
#include "gpueval/policy.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

// The classification family's state tag.
inline constexpr Family kClassificationFamily = Family{1};

using ops::ClassTask;

std::string_view class_task_name(ClassTask t); // "binary", "multiclass", "multilabel"
// Throws InvalidArgument listing the tasks.
ClassTask parse_class_task(std::string_view text);

// The classification metrics (docs/design.md, "Classification"). Averaged metrics report `name` for
// binary tasks (the positive class) and `name_micro`, `name_macro`, `name_weighted` otherwise, with
// every class in the per-class section.
enum class ClassMetric : std::uint8_t {
  accuracy,
  subset_accuracy,
  balanced_accuracy,
  precision,
  recall,
  f1,
  fbeta,
  specificity,
  jaccard,
  mcc,
  cohen_kappa,
  cohen_kappa_linear,
  cohen_kappa_quadratic,
  hamming_loss,
  top_k_accuracy,
  log_loss,
  brier,
  ece,
  mce,
  auroc,
  average_precision,
  balanced_accuracy_adjusted,
  precision_samples, // multilabel: scikit-learn's average="samples"
  recall_samples,
  f1_samples,
  fbeta_samples,
  jaccard_samples,
  auroc_ovo, // multiclass one-vs-one AUROC (Hand and Till); by name only, not in "all"
  nll,       // language models: the mean negative log-likelihood (log_loss's value)
  perplexity,
  bits_per_token,
};
inline constexpr int kNumClassMetrics = 31;

struct ClassMetricInfo {
  ClassMetric metric;
  std::string_view name;
  unsigned tasks;    // bit (1 << ClassTask) for each task that has it
  bool needs_scores; // log loss, Brier, calibration, top-k
  bool averaged;     // micro / macro / weighted for multiclass and multilabel, and per class
  bool opt_in;       // not in the default set
  std::string_view description;
};

const ClassMetricInfo& class_metric_info(ClassMetric m);
// Throws InvalidArgument listing the valid names.
ClassMetric parse_class_metric(std::string_view name);
// Comma-separated names; empty entries and duplicates are errors.
std::vector<ClassMetric> parse_class_metric_list(std::string_view text);

enum class ScoreKind : std::uint8_t { probabilities, logits };
// What the predictions are: scores or labels, or decided by the first batch (float predictions
// are scores; integer and bool ones labels; multiclass scores have one more axis, the class
// axis, than the targets).
enum class PredKind : std::uint8_t { auto_detect, scores, labels };

struct ClassificationSpec {
  ClassTask task = ClassTask::binary;
  // multiclass: C (required); multilabel: the number of labels (required); binary: 0 or 2.
  std::int64_t num_classes = 0;
  // Empty: every metric the task and inputs support, except the opt-in ones (and fbeta unless
  // beta != 1). Named metrics the task or inputs cannot give are an error at the first batch.
  std::vector<ClassMetric> metrics;
  // With `metrics` empty: every metric the task and inputs support, opt-in ones included.
  bool all_metrics = false;
  ScoreKind scores = ScoreKind::probabilities;
  PredKind pred = PredKind::auto_detect;
  double threshold = 0.5; // binary and multilabel: a probability above it is a positive
  // multiclass scores: the class axis of the predictions ([N, C, ...], as TorchMetrics);
  // multilabel: the label axis of both. Negative counts from the end.
  int class_axis = 1;
  int top_k = 0;                            // multiclass scores: top_k_accuracy when >= 1
  std::optional<std::int64_t> ignore_index; // targets equal to it are dropped (and counted)
  int bins = 15;                            // calibration bins, equal width on [0, 1]
  double beta = 1.0;                        // fbeta
  // The value of a ratio whose denominator is 0 (precision, recall, F-scores, specificity,
  // jaccard; a weighted average over no support): 0, 1 or NaN, as scikit-learn's zero_division.
  // NaN values are left out of the macro and weighted averages (scikit-learn's rule for NaN).
  double zero_division = 0.0;
  // binary: the positive class, 0 or 1 (scikit-learn's pos_label). The scores stay those of
  // class 1: with 0, precision, recall, the F-scores, specificity and jaccard are class 0's and
  // average precision ranks by the negated score (AUROC, accuracy, MCC and the proper scores do
  // not change; the ROC and PR curves are left out).
  int pos_label = 1;
  // Names of the classes (labels, for multilabel), one per class in index order: they label the
  // report's classes (JSON spec "class_names"; Python maps string targets and label
  // predictions through them). Empty: none.
  std::vector<std::string> class_names;
  // multiclass and multilabel: the classes the averages take (scikit-learn's labels: a subset,
  // or classes the data may not contain). Empty: multiclass, the classes in the targets or the
  // predictions; multilabel, every label.
  std::vector<std::int64_t> labels;
  NanPolicy nan_policy = NanPolicy::skip; // a NaN or infinite target, label or score
  // A finite value that cannot be what the spec says: a probability outside [0, 1], a multiclass
  // probability row whose sum is off 1 by more than 1e-3 plus the dtype's epsilon, a target
  // or label outside the classes. Error (the default): compute() raises naming the first one.
  InvalidPolicy invalid = InvalidPolicy::error;
  // The targets' shape without the batch axis. Empty: taken from the first update.
  std::vector<std::int64_t> sample_shape;
  // auroc, average_precision: the memory their histograms' counts may take (two per class).
  // 16-bit scores always use 16 bits (exact); 32- and 64-bit scores as many bits as fit, at most
  // 24, and keep beside the counts a 4-byte shared key a bin (half as much again; a weighted
  // record's two-word sums double the counts). Tables are calloc'd on the CPU: only the pages
  // scores land in are resident.
  std::int64_t histogram_budget = std::int64_t{256} << 20;
  // Binary and multiclass: whether the record holds the C x C confusion matrix. Empty: while
  // num_classes <= kMaxClasses. Without it the record holds per class the targets, predictions
  // and right predictions (3 C words) and every metric but the matrix itself comes from them
  // exactly (MCC, the kappas: marginals, trace and class-distance sums); with it, C^2 words.
  std::optional<bool> confusion_matrix;
  // Binary and multiclass: a breakdown axis of the targets (1 or later; negative counts from the
  // end), e.g. 1 for the sequence position of [batch, time] tokens. The report then has, per
  // index of that axis, the samples folded and the per-sample metrics among the reported ones
  // (by_axis_metric): accuracy, top_k_accuracy, log_loss, nll, perplexity, bits_per_token and
  // brier. Costs 2 or 3 count words and (scores) 4 words per index.
  std::optional<int> by_axis;
  // The predictions' dtype, which fixes the histograms' key format. Empty: the first update's,
  // or float32 when sample_shape and pred make the evaluator ready before any batch (every
  // float converts to float32 exactly; 16-bit scores then lose their exact 16-bit bins).
  std::optional<DType> score_dtype;

  // "default", "all" or comma-separated names (InvalidArgument for an unknown one).
  void set_metrics(std::string_view text);
  // Throws InvalidArgument for a spec that cannot work (num_classes missing or too large, bins,
  // threshold, top_k out of range, a metric the task does not have).
  void validate() const;

  // The family's options for `task` (gpu-eval's flags, Python's keyword arguments, the
  // TorchScript class's arguments), parsed and validated once: metrics, num_classes, scores
  // (probabilities, logits), pred (auto, scores, labels), threshold, class_axis, top_k,
  // ignore_index, bins, beta, zero_division, labels, nan_policy, invalid, sample_shape,
  // score_dtype, histogram_budget.
  // Throws
  // InvalidArgument naming the option.
  static ClassificationSpec from_options(std::string_view task, const Options& options);
  static const std::vector<OptionInfo>& option_infos();
};

// Most classes whose confusion matrix a record holds by default (C x C counts, 2^20 words);
// more classes take the per-class counts (ClassificationSpec::confusion_matrix).
inline constexpr std::int64_t kMaxClasses = 1024;
// Most classes a confusion matrix may have when asked for (2^26 words, 512 MiB a record).
inline constexpr std::int64_t kMaxMatrixClasses = 8192;
// Most classes of a multiclass task (per-class counts: 3 words a class), and labels of a
// multilabel one.
inline constexpr std::int64_t kMaxMulticlass = std::int64_t{1} << 18;
// Most labels a multilabel state may have (four counts per label).
inline constexpr std::int64_t kMaxLabels = std::int64_t{1} << 18;

// Whether `m` is one of the per-sample metrics a by_axis breakdown reports.
bool by_axis_metric(ClassMetric m);

struct ClassificationReport final : FamilyReport {
  Family family() const override { return kClassificationFamily; }
  // Schema gpueval.report/1 with task set: metrics, per_class, confusion_matrix, calibration.
  std::string to_json() const override;

  ClassificationSpec spec;           // metrics resolved: the ones reported, in report order
  std::uint64_t count = 0;           // samples folded
  std::uint64_t skipped_invalid = 0; // samples dropped: invalid target, label or score
  std::uint64_t ignored = 0;         // targets equal to ignore_index (labels, for multilabel)
  std::int64_t classes = 0;
  bool scores = false; // the predictions were scores

  // The `metrics` section, in report order: "accuracy", "precision_macro", ...
  std::vector<std::string> names;
  std::vector<double> values;
  // The per-class section: support (targets of the class; multilabel: positives) and each
  // averaged metric, one value per class.
  std::vector<std::uint64_t> support;
  std::vector<std::string> per_class_names;
  std::vector<std::vector<double>> per_class;
  // Binary and multiclass: C x C counts, row = target, column = prediction. Empty otherwise.
  std::vector<std::uint64_t> confusion_matrix;
  // Multilabel: per-label counts of true/false positives/negatives. Empty otherwise.
  std::vector<std::uint64_t> tp, fp, fn, tn;
  // Binary and multiclass scores: per bin, the count, the mean confidence and the accuracy
  // (NaN in an empty bin). Empty otherwise.
  std::vector<std::uint64_t> calibration_count;
  std::vector<double> calibration_confidence;
  std::vector<double> calibration_accuracy;
  // auroc, average_precision: the histograms' key format and bits (exact: every distinct score
  // has its own bin and the bounds are 0), and for binary tasks the curves, at most 1,000
  // points each (thresholds: the lowest score of each bin).
  std::string histogram_key; // "float16", "bfloat16", "float32", "float64"; empty: none
  int histogram_bits = 0;
  bool histogram_exact = false;
  std::vector<double> roc_fpr, roc_tpr, roc_threshold;
  std::vector<double> pr_precision, pr_recall, pr_threshold;
  // Sample weights: the folded samples' weight sum (unweighted: count), and when `weighted` the
  // weight sums behind the metrics in place of the counts above (count, support, ... stay the
  // numbers of samples). The JSON writes these weight sums under the counts' names, and
  // "weight_sum".
  bool weighted = false;
  double weight_sum = 0;
  struct WeightSums {
    std::vector<double> support, confusion_matrix, tp, fp, fn, tn, calibration_count;
  } weight_sums;

  // by_axis: the breakdown axis of the targets (-1: none), the samples folded at each of its
  // indices (weighted: by_axis_weight, their weight sums), and by_axis_names[i]'s value at each
  // index in by_axis[i] (NaN at an index with no sample).
  int by_axis_index = -1;
  std::vector<std::uint64_t> by_axis_count;
  std::vector<double> by_axis_weight;
  std::vector<std::string> by_axis_names;
  std::vector<std::vector<double>> by_axis;

  bool has(std::string_view name) const;
  // Throws InvalidArgument without a breakdown or naming the metrics it has.
  const std::vector<double>& by_axis_values(std::string_view name) const;
  // Throws InvalidArgument naming the reported metrics.
  double value(std::string_view name) const;
  const std::vector<double>& per_class_values(std::string_view name) const;
};

// The spec a classification state was made with (metrics empty: the default set), for an
// evaluator that merges it. Throws StateError for a state that is corrupt, truncated, of another
// version or of the regression family.
ClassificationSpec classification_spec_of(const State& state);

namespace detail {
class ClassBackend;
}

class ClassificationEvaluator final : public AnyEvaluator {
public:
  // Throws InvalidArgument for a bad spec, CudaError for a CUDA device that is not usable.
  explicit ClassificationEvaluator(ClassificationSpec spec, Device device = auto_select_device());
  ~ClassificationEvaluator() override;
  ClassificationEvaluator(ClassificationEvaluator&&) noexcept;
  ClassificationEvaluator& operator=(ClassificationEvaluator&&) noexcept;

  // pred: scores or labels (see PredKind), target: class indices (binary and multilabel: 0/1,
  // any integer, bool or float dtype), mask: the target's shape or a prefix, nonzero = include.
  // As Evaluator::update: any strides, no copy; CUDA enqueues on `stream` and never syncs.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
              StreamHandle stream = nullptr) override;
  // With sample weights (docs/design.md, "Weights"): one per sample, a float tensor of
  // the target's shape or a prefix of it (multilabel: not covering the label axis), 0 or within
  // [2^-24, 2^32); counts become exact fixed-point weight sums. A weight that is not one
  // throws InvalidArgument here on the CPU and at compute() on CUDA.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream = nullptr) override;
  // Throws NonFiniteError under nan_policy = error naming the first invalid sample's batch and
  // element (the C-order index within the batch's targets), and InvalidArgument when no batch
  // was folded or merged since construction or reset() (docs/design.md, "No data").
  ClassificationReport compute(StreamHandle stream = nullptr);
  void reset(StreamHandle stream = nullptr) override;
  void keep_until_done(std::shared_ptr<void> owner) override;
  State state(StreamHandle stream = nullptr) override;
  // States of the same spec (task, classes, inputs, threshold, top_k, ignore_index, bins,
  // nan_policy, sample shape) merge exactly: integer additions.
  void merge(const State& other, StreamHandle stream = nullptr) override;

  const ClassificationSpec& spec() const;
  Device device() const override;
  std::uint64_t batches() const override;
  Family family() const override { return kClassificationFamily; }
  AnyReport compute_any(StreamHandle stream = nullptr) override;
  void check_shapes(const std::vector<std::int64_t>& pred,
                    const std::vector<std::int64_t>& target) const override;

private:
  std::unique_ptr<detail::ClassBackend> backend_;
};

} // namespace gpueval
