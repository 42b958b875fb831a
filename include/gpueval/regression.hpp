// The regression family: exact regression metrics per key (channel, breakdown index), from a
// few statistics per key (ops/regression.hpp). What to compute (RegressionSpec, the metric
// table), the report, the evaluator, and what a state records.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/family.hpp"
#include "gpueval/ops/regression_ids.hpp"
#include "gpueval/policy.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

// The regression family's state tag.
inline constexpr Family kRegressionFamily = Family{0};

// ---- the metrics -------------------------------------------------------------------------------

struct MetricInfo {
  Metric metric;
  std::string_view name;
  unsigned groups; // groups beyond core that the metric needs
  bool opt_in;     // not in the default set
  std::string_view description;
};

// One entry per Metric, in enum order.
const std::array<MetricInfo, kNumMetrics>& metric_table();
const MetricInfo& metric_info(Metric m);
inline std::string_view metric_name(Metric m) {
  return metric_info(m).name;
}

// Throws InvalidArgument listing the valid names when `name` is not one.
Metric parse_metric(std::string_view name);
// Comma-separated list; empty entries and duplicates are errors. "default" expands to the
// default set and "all" to every metric.
std::vector<Metric> parse_metric_list(std::string_view text);

std::vector<Metric> default_metrics();
std::vector<Metric> all_metrics();
// Union of the groups the metrics need.
unsigned groups_for(const std::vector<Metric>& metrics);
// The metrics a state with these statistic groups reports when none are named: the default set,
// plus each opt-in metric whose groups the state holds (a state of `all` gives every metric).
std::vector<Metric> metrics_for_groups(unsigned groups);
// "core + pct (mape, smape)": the groups and the opt-in metrics they serve, for messages.
std::string group_names(unsigned groups);

// ---- what to compute -------------------------------------------------------------------------

// Largest number of keys a breakdown may create. A state of 2^20 keys is about 100 MB of records;
// anything bigger is almost certainly a wrong --by-axis.
inline constexpr std::int64_t kMaxKeys = std::int64_t{1} << 20;
// Largest quantile sketch, in counts (8 bytes each) over every channel: 512 MiB, 4,095 channels
// at the default accuracy. The CPU backend's tables are calloc'd (only pages a count touched are
// resident); the CUDA backend allocates the whole sketch.
inline constexpr std::int64_t kMaxSketchWords = std::int64_t{1} << 26;

struct RegressionSpec {
  // Metrics to report, in report order. Default: every metric that is not opt-in.
  std::vector<Metric> metrics = default_metrics();
  // The axis of the batch tensor that holds channels (>= 1; negative counts from the end; -1 the
  // last, 1 for [N, C, H, W] images), or std::nullopt (no channel axis: every value is one
  // stream, K = 1 unless there is a breakdown). A channel axis other than the last is read
  // through a view with that axis moved last (docs/design.md, "Channel axis"); its states are
  // those of the channel-last layout.
  std::optional<int> channel_axis = -1;
  // An axis of the batch tensor (>= 1; negative counts from the end) whose index, together with
  // every later axis, becomes part of the key: [batch, time, channel] with by_axis = 1 gives
  // K = time * channel keys and by-time metrics. std::nullopt: no breakdown.
  std::optional<int> by_axis;
  NanPolicy nan_policy = NanPolicy::skip;
  // Shape of one sample: the batch tensor's shape without its leading (batch) axis. Fixes K.
  // Empty: taken from the first update.
  std::vector<std::int64_t> sample_shape;
  // median_absolute_error, abs_error_q90, abs_error_q99: the quantile sketch's relative
  // accuracy, 0.049% (2^-10 / (2 + 2^-10)) to 0.5. The sketch uses the fewest mantissa bits that
  // reach it (quantile_bits()); the report states the accuracy those give.
  double quantile_alpha = 0.005;

  // Groups of statistics the metrics need (Group bits).
  unsigned groups() const { return groups_for(metrics); }
  // The sketch's mantissa bits for quantile_alpha; 0 without quantile metrics.
  int quantile_bits() const;
  // Throws InvalidArgument for an empty or duplicated metric list, a channel axis other than -1,
  // a by_axis of 0, a quantile_alpha outside [0.00049, 0.5], or a sample shape that does not fit
  // channel_axis / by_axis (or, with quantile metrics, has over 4,095 channels at the default
  // quantile_alpha).
  void validate() const;
  // A stable 64-bit fingerprint of everything that shapes the statistics (groups, channel axis,
  // by axis, nan policy, sample shape, quantile bits): two states merge only when these agree.
  std::uint64_t fingerprint() const;

  // The family's options (gpu-eval's flags, Python's keyword arguments, the TorchScript class's
  // arguments), parsed and validated once: metrics, channel_axis (-1 or none), by_axis,
  // nan_policy, quantile_alpha, sample_shape. Throws InvalidArgument naming the option.
  static RegressionSpec from_options(const Options& options);
  // The options that give this spec back.
  Options to_options() const;
  static const std::vector<OptionInfo>& option_infos();
};

// How a sample shape maps to keys. A batch tensor [B, s1, ..., sr] is viewed as
// [rows, keys]: keys = prod(s[by - 1:]) with a breakdown at batch axis `by`, the last axis
// with a channel axis and no breakdown, 1 otherwise; rows = numel / keys.
// Key k has channel k % channels and breakdown index k / (keys / by_length).
struct KeyLayout {
  std::int64_t keys = 1;
  std::int64_t channels = 1;
  // The breakdown axis (-1: none) and its length. With a channel axis other than the last, keys
  // are laid out with the channels last (docs/design.md, "Channel axis"): by_axis is then an
  // axis of that layout, report_by_axis the axis the spec named.
  int by_axis = -1;
  int report_by_axis = -1;
  std::int64_t by_length = 0;

  // Throws InvalidArgument when the spec does not fit the sample shape or keys > kMaxKeys.
  static KeyLayout from(const RegressionSpec& spec, const std::vector<std::int64_t>& sample_shape);

  std::int64_t channel_of(std::int64_t key) const { return key % channels; }
  std::int64_t by_index_of(std::int64_t key) const { return key / (keys / by_length); }
};

// ---- the report ----------------------------------------------------------------------------

struct RegressionReport final : FamilyReport {
  Family family() const override { return kRegressionFamily; }
  // Schema gpueval.report/1 (docs/design.md, "JSON"): 17 significant digits, non-finite values as
  // null.
  std::string to_json() const override;

  RegressionSpec spec;     // the spec that produced it (metrics in report order)
  std::uint64_t count = 0; // pairs folded, all keys (weighted: the pairs with a weight > 0)
  double weight_sum = 0;   // their weights' sum: count when unweighted
  std::uint64_t skipped_nonfinite = 0;
  std::int64_t channels = 0;

  // Headline values, one per spec.metrics entry: the uniform average over channels of the
  // per-channel metric (scikit-learn's multioutput default on x.reshape(-1, C)); max_error is
  // the overall max.
  std::vector<double> headline;
  // All values as one stream, one per spec.metrics entry.
  std::vector<double> flat;
  // r2 and explained_variance averaged with weights m2_t, as scikit-learn's
  // multioutput="variance_weighted" (uniform when every channel's target is constant). NaN for
  // the other metrics, and for these two when they were not requested.
  double variance_weighted_r2 = 0;
  double variance_weighted_explained_variance = 0;
  // per_channel[i][c]: metric spec.metrics[i] of channel c.
  std::vector<std::vector<double>> per_channel;
  std::vector<std::uint64_t> per_channel_count;
  // by_axis[i][j]: the headline aggregation of metric spec.metrics[i] restricted to breakdown
  // index j. Empty without a breakdown.
  std::vector<std::vector<double>> by_axis;
  std::vector<std::uint64_t> by_axis_count;
  // by_axis_per_channel[i][j * channels + c]: metric spec.metrics[i] of channel c restricted to
  // breakdown index j (the values by_axis averages). Empty without a breakdown.
  std::vector<std::vector<double>> by_axis_per_channel;
  // Breakdown axis as an axis of the batch tensor; -1 without one.
  int by_axis_index = -1;
  // median_absolute_error, abs_error_q90, abs_error_q99 come from a sketch whose values are
  // within quantile_accuracy of the exact quantiles, relatively, for |errors| in [2^-64, 2^64)
  // (smaller ones count as 0). 0 without quantile metrics. Their by_axis values are NaN: the
  // sketch is per channel, not per key.
  double quantile_accuracy = 0;
  int quantile_bits = 0;

  bool has(std::string_view metric) const;
  // Throw InvalidArgument when the metric was not requested (naming the requested ones).
  double value(std::string_view metric) const;
  double flat_value(std::string_view metric) const;
  const std::vector<double>& per_channel_values(std::string_view metric) const;
  const std::vector<double>& by_axis_values(std::string_view metric) const;

private:
  std::size_t index_of(std::string_view metric) const;
};

// ---- the evaluator -----------------------------------------------------------------------------

namespace detail {
class Backend;
}

// The regression family (the metric table of the README). Other families: family.hpp.
class RegressionEvaluator final : public AnyEvaluator {
public:
  // Throws InvalidArgument for a bad spec, CudaError for a CUDA device that is not usable.
  explicit RegressionEvaluator(RegressionSpec spec, Device device = auto_select_device());
  ~RegressionEvaluator() override;
  RegressionEvaluator(RegressionEvaluator&&) noexcept;
  RegressionEvaluator& operator=(RegressionEvaluator&&) noexcept;
  RegressionEvaluator(const RegressionEvaluator&) = delete;
  RegressionEvaluator& operator=(const RegressionEvaluator&) = delete;

  // Folds one batch: `pred` and `target` of the same shape [batch, sample...]; `mask` optional
  // (data == nullptr means none), bool/uint8 (any integer type) with the tensor's shape or a
  // prefix of it, nonzero = include (the opposite of numpy.ma). The sample shape (shape without
  // the batch axis) is fixed by the spec or by the first update; another one is an error.
  // Views may have any strides (sliced, transposed and misaligned data work).
  //
  // CPU: runs on the calling thread and the evaluator's workers, and returns when done.
  // CUDA: enqueues on `stream` and returns; the views must stay valid until the stream reaches
  // the update (keep_until_done() helps callers that cannot tell when). No host
  // synchronisation until compute(). Operations on different streams are ordered on the device:
  // each waits for the last one that wrote the evaluator's state (an event), so an update, a
  // reset() or a compute() may each come on any stream. An update captured into a CUDA graph is
  // the exception: its replays are ordered by the stream the graph is launched on, so a
  // compute() after a replay goes on that stream (or the caller orders it); a graph captured on
  // another stream than the evaluator's last write waits for that write through the evaluator's
  // event, so replay it only while the evaluator lives.
  //
  // Not thread-safe: one evaluator, one caller at a time.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
              StreamHandle stream = nullptr) override;
  // Weighted (docs/design.md, "Weights"): `weight` a float tensor of the inputs' shape or a
  // prefix of it, finite and >= 0; every metric becomes its weighted form (scikit-learn's
  // sample_weight), the count stays the pairs with a weight > 0 and weight_sum is added. A
  // weight of 0 or 1 gives the same bits as the mask it equals. Negative or non-finite weights
  // throw InvalidArgument naming the element (CPU: at update, before anything is folded; CUDA:
  // at compute(), from a device flag). Quantile metrics are not weighted: InvalidArgument.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream = nullptr) override;

  // The epoch's metrics. The only synchronisation point. Throws NonFiniteError under
  // nan_policy = error when a non-finite pair was seen, naming the first batch and element, and
  // InvalidArgument when no batch was folded or merged since construction or reset() (an empty
  // batch counts; docs/design.md, "No data").
  RegressionReport compute(StreamHandle stream = nullptr);

  // Forgets every batch; keeps the spec, the device and the sample shape (see AnyEvaluator).
  void reset(StreamHandle stream = nullptr) override;
  void keep_until_done(std::shared_ptr<void> owner) override;

  // The epoch state as a versioned, checksummed blob (see state.hpp).
  State state(StreamHandle stream = nullptr) override;
  // Folds another evaluator's state in: the result is as if this evaluator had also seen that
  // evaluator's batches (equal within the accuracy rule, not bitwise). The states must come from
  // the same spec and sample shape, except that a state may hold statistics this evaluator's
  // metrics do not need (they are dropped); a CPU state merges into a CUDA evaluator and back.
  void merge(const State& other, StreamHandle stream = nullptr) override;

  const RegressionSpec& spec() const;
  Device device() const override;
  // Batches folded since construction or reset(), those of merged states included (a restored
  // checkpoint counts on from where it was saved).
  std::uint64_t batches() const override;

  Family family() const override { return kRegressionFamily; }
  AnyReport compute_any(StreamHandle stream = nullptr) override;
  // pred and target of the same shape, whose sample shape fits the spec.
  void check_shapes(const std::vector<std::int64_t>& pred,
                    const std::vector<std::int64_t>& target) const override;

private:
  std::unique_ptr<detail::Backend> backend_;
};

// ---- states
// --------------------------------------------------------------------------------------

// What a regression state records about the evaluation that made it, read without an
// evaluator: how `gpu-eval merge` and Python's Regression.from_state rebuild a spec that merges
// it. (The state's own header fields: none; its payload: K records: n (u64), skipped (u64), then
// 12 doubles (ref_p, ref_t, ref_e, dmean_p, dmean_t, dmean_e, m2_p, m2_t, m2_e, c_pt, sum_abs_e,
// max_abs_e), then the optional groups present in the group bits in bit order: range (min_t,
// max_t), pct (sum_ape, sum_sape), log (sum_sle, n_sle_out_of_domain as u64); with the quantile
// group, after the K records: the sketch's mantissa bits (u64), quantile_alpha (double), the
// number of nonzero counts (u64), then (index, count) u64 pairs, indices ascending.)
struct StateInfo {
  unsigned groups = 0; // statistic groups (Group bits)
  NanPolicy nan_policy = NanPolicy::skip;
  std::optional<int> channel_axis; // -1, or none
  std::optional<int> by_axis;      // the breakdown axis of the batch tensor, or none
  std::vector<std::int64_t> sample_shape;
  std::int64_t keys = 0;
  std::uint64_t batches = 0; // batches folded into the state (merged states add theirs)
  std::uint64_t count = 0;   // pairs folded, all keys
  // The quantile sketch's relative accuracy (quantile group only): a spec with it merges.
  double quantile_alpha = 0.005;

  // A spec that merges this state: its axes, nan policy and sample shape, with `metrics`, or
  // metrics_for_groups(groups) when `metrics` is empty. Throws InvalidArgument when `metrics`
  // needs statistic groups the state does not hold (a subset of them is fine).
  RegressionSpec spec(std::vector<Metric> metrics = {}) const;
};

// Throws StateError for a blob that is truncated, corrupted, of another version or of another
// family, with the same messages as RegressionEvaluator::merge.
StateInfo inspect_state(const State& state);

// The names this family had before the families were symmetric; kept for existing code.
using Evaluator = RegressionEvaluator;
using Report = RegressionReport;

} // namespace gpueval
