// What the classification family's files share: the batch description, the spec's resolution,
// the state's fields, the metrics from a record (finalize) and the rank metrics. Internal to the
// family (host/classification); tests call the finalize functions directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "classification/backend.hpp"
#include "core/state_blob.hpp"
#include "gpueval/classification.hpp"

namespace gpueval::classification {

// ---- batches (batch.cpp) ------------------------------------------------------------------------

// `axis` of a tensor of `rank` as a non-negative axis after the batch axis; InvalidArgument
// naming `what` otherwise.
int normalise_axis(int axis, int rank, const char* what);
std::vector<std::int64_t> dims(const TensorView& v);
std::string shape_of(const std::vector<std::int64_t>& s);
// Which axis of the predictions is the class axis (-1: none), given the targets' shape. Throws
// InvalidArgument naming both shapes.
int class_axis_of(const ClassificationSpec& spec, bool scores,
                  const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& target);
// Whether the first batch's predictions are scores (spec.pred, or decided by dtype and rank).
bool detect_scores(const ClassificationSpec& spec, const TensorView& pred,
                   const TensorView& target);
// The batch checked and described as samples with strides for the backends.
detail::ClassBatch describe_batch(const detail::ClassBackend& b, const TensorView& pred,
                                  const TensorView& target, const TensorView& mask,
                                  const TensorView& weight);

// ---- the spec (spec.cpp)
// The options that shape the report but not the state (beta, zero_division, labels, pos_label,
// class_names), onto a spec; InvalidArgument naming any other option (a state fixes it).
void apply_report_options(ClassificationSpec& spec, const Options& options);
// --------------------------------------------------------------------------

// The spec's metrics for these inputs: named ones checked, or the default set.
std::vector<ClassMetric> resolve_metrics(const ClassificationSpec& spec, bool scores);
// The dtype whose bits a key format is.
DType dtype_of(ops::KeyFormat f);
bool wants_histograms(const ClassificationSpec& spec);
// by_axis: the breakdown axis of the targets (normalised; -1: none), its indices and the samples
// one index spans (the sample axes after it).
struct AxisBreakdown {
  int axis = -1;
  std::int64_t positions = 0, step = 1;
};
inline constexpr std::int64_t kMaxPositions = std::int64_t{1} << 20;
AxisBreakdown axis_breakdown(const ClassificationSpec& spec,
                             const std::vector<std::int64_t>& sample_shape);
// Whether a binary or multiclass record holds the confusion matrix (the spec's choice, or while
// C <= kMaxClasses).
bool has_confusion_matrix(const ClassificationSpec& spec);
// Whether the spec's (resolved) metrics include an average="samples" one (multilabel).
bool wants_per_sample(const ClassificationSpec& spec);
// The histograms for the spec's (resolved) metrics and the predictions' dtype.
ops::HistLayout histogram_layout(const ClassificationSpec& spec, bool scores);

// ---- states (state.cpp)
// ----------------------------------------------------------------------------

// The family's own header fields in a state.
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
  // States made before the option existed dropped invalid samples: they read as skip.
  InvalidPolicy invalid = InvalidPolicy::skip;
  // Trailing options, absent in older states (no): weight sums, per-sample sums and their beta.
  bool weighted = false;
  bool per_sample = false;
  double sample_beta = 1.0;
  bool confusion = true; // multiclass without the confusion matrix: false
  int by_axis = -1;      // the breakdown axis of the targets, normalised; -1: none
  // The record written as its nonzero words (a record of many classes that saw few): set by
  // state() when that is smaller, read from the options' bit 6.
  bool sparse_record = false;
};
// Whether a record of these words is written as its nonzero words (fewer than a third nonzero:
// 16 bytes each against 8 a word).
bool sparse_record(const std::vector<std::uint64_t>& words);

// The record of layout `lf` as layout `lt` of the same task and inputs: every statistic both
// have copied, a weighted `lt`'s weight sums from `lf`'s (or, unweighted, each count itself: its
// samples weighing 1); statistics `lf` lacks are zero, those `lt` lacks dropped.
std::vector<std::uint64_t> convert_record(const std::vector<std::uint64_t>& from,
                                          const ops::ClassLayout& lf, const ops::ClassLayout& lt);

ClassStateFields fields_of(const detail::ClassBackend& b);
std::vector<std::uint8_t> encode_fields(const ClassStateFields& f);

using Sparse = detail::ClassBackend::Sparse;
// a + b, both sorted by index.
Sparse add_sparse(const Sparse& a, const Sparse& b);
// a + b for weighted histograms (each bin's weight sum two words, lo at 2 * bin and hi at
// 2 * bin + 1): added with carry.
Sparse add_weight_sums(const Sparse& a, const Sparse& b);
// An unweighted histogram as a weighted one: each count the weight sum of its samples.
Sparse widen_histogram(const Sparse& counts);
using Keys = detail::ClassBackend::Keys;
// The keys of `sum` (the nonzero words of a + b, added) from a's and b's (aligned with their
// words): each bin's keys merged (ops::merge_key). per_bin: words a bin (weighted: 2).
Keys merge_keys(const Sparse& sum, std::uint64_t per_bin, const Sparse& a, const Keys& ka,
                const Sparse& b, const Keys& kb);
// Values per bin (counts, or weight sums), ascending bins.
using BinValues = std::vector<std::pair<std::uint64_t, double>>;

struct DecodedClassState {
  detail::StateHeader header;
  ClassStateFields fields;
  std::vector<std::uint64_t> words;
  Sparse hist; // nonzero histogram counts, indices ascending
  Keys keys;   // keyed histograms (fields.hist.keys): aligned with hist
};
// Throws StateError naming what is wrong (another family, inconsistent fields, truncation).
DecodedClassState decode_class_state(const State& state);

// ---- finalize (metrics.cpp)
// -------------------------------------------------------------------------

// num / den; a zero denominator gives `zero_division` (0, 1 or NaN; scikit-learn's default 0).
double ratio(double num, double den, double zero_division = 0.0);

struct ClassCounts {
  std::vector<double> tp, fp, fn, tn;
};

// Per-class scores from the counts (beta2 = beta^2 for fbeta; zd: the spec's zero_division).
double precision_of(double tp, double fp, double fn, double tn, double beta2, double zd);
double recall_of(double tp, double fp, double fn, double tn, double beta2, double zd);
double f1_of(double tp, double fp, double fn, double tn, double beta2, double zd);
double fbeta_of(double tp, double fp, double fn, double tn, double beta2, double zd);
double specificity_of(double tp, double fp, double fn, double tn, double beta2, double zd);
double jaccard_of(double tp, double fp, double fn, double tn, double beta2, double zd);
using PerClassFn = double (*)(double, double, double, double, double, double);
PerClassFn per_class_fn(ClassMetric m);

// Cohen's kappa from the C x C confusion matrix (rows: targets), exact in integers until one
// division; power 0: unweighted, 1: linear, 2: quadratic weights (class indices as the scale).
double kappa(const std::vector<std::uint64_t>& m, std::int64_t c, int power);
// Matthews' correlation from the confusion matrix (scikit-learn's multiclass formula).
double mcc_of(const std::vector<std::uint64_t>& m, std::int64_t c);
// Both of a weighted confusion matrix (weight sums), in long double.
double kappa_weighted(const std::vector<double>& m, std::int64_t c, int power);
double mcc_weighted(const std::vector<double>& m, std::int64_t c);
// Both of a record without the confusion matrix (layout.marginals): from the per-class
// targets, predictions and right ones and the class-distance sums, exact in 128-bit integers
// when unweighted. The weighted linear and quadratic kappas are NaN (they need the matrix).
double marginal_mcc(const std::vector<std::uint64_t>& w, const ops::ClassLayout& l);
double marginal_kappa(const std::vector<std::uint64_t>& w, const ops::ClassLayout& l, int power);

// The report of a record `w` (and the histograms' nonzero counts).
ClassificationReport build_class_report(const detail::ClassBackend& b,
                                        const std::vector<std::uint64_t>& w, const Sparse& hist,
                                        const Keys& keys);

// ---- rank metrics (rank.cpp) ------------------------------------------------------------------

// The histograms' nonzero words (CpuClassBackend::histogram(), a state's), as the rank metrics
// read them: counts, or (weighted) two words a bin.
struct Histograms {
  const Sparse& words;
  bool weighted;
  // Keyed histograms: the shared key (ops::merge_key) of each word's bin, aligned with
  // `words`; nullptr when not kept (every bin then counts as mixed).
  const Keys* keys = nullptr;
};
// A bin's negatives and positives: counts, or (weighted) weight sums; and the key its samples
// share (ops::kMixedKey: unknown or several scores).
struct BinCounts {
  std::uint64_t bin;
  double neg, pos;
  std::uint32_t key = ops::kMixedKey;
};
// Class c's nonzero bins, ascending: its negatives' and positives' histograms side by side.
std::vector<BinCounts> class_bins(const Histograms& h, const ops::HistLayout& hl, std::int64_t c);
// One-vs-one histograms (hl.per_target): class c's score over the samples of target c
// (positives) and of target t (negatives), Hand and Till's A(c | t).
std::vector<BinCounts> pair_bins(const Histograms& h, const ops::HistLayout& hl, std::int64_t c,
                                 std::int64_t t);
// Every class's bins pooled into one histogram (bins of the same key added): the one-vs-rest
// decisions of all classes as one binary problem, scikit-learn's average="micro".
std::vector<BinCounts> pooled_bins(const Histograms& h, const ops::HistLayout& hl);
// The bins of the other class's point of view (pos_label=0): order reversed, positives and
// negatives swapped, as ranking by the negated score.
std::vector<BinCounts> flipped_bins(const std::vector<BinCounts>& bins);

struct RankMetrics {
  double auroc, auroc_bound, ap, ap_bound, positives;
};
// AUROC (ties as half) and average precision, and the bounds on their error (from counts or
// weight sums alike).
RankMetrics rank_metrics(const std::vector<BinCounts>& bins, bool exact);

// ROC and PR curves of a binary task at every bin's threshold, at most kCurvePoints points.
inline constexpr std::size_t kCurvePoints = 1000;
void curves(const std::vector<BinCounts>& bins, const ops::HistLayout& hl, ClassificationReport& r);

} // namespace gpueval::classification
