// The geometry family: errors of vectors (pose joints, optical flow, trajectories), exact per key
// (a joint, for example) from sums the records keep (ops/geometry.hpp). What to compute
// (GeometrySpec, the metric table), the report, the evaluator, and what a state records.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/family.hpp"
#include "gpueval/policy.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

// The geometry family's state tag.
inline constexpr Family kGeometryFamily = Family{2};

// ---- the metrics -------------------------------------------------------------------------------

enum class GeoMetric : std::uint8_t {
  mpjpe,    // mean error (aliases epe, ade)
  rmse_vec, // sqrt of the mean squared error
  pa_mpjpe, // mean error after each sample's similarity alignment (Procrustes)
  n_mpjpe,  // mean error after each sample's scale alignment
  pck,      // fraction of errors under each threshold: one value pck@T per threshold
  auc_pck,  // mean of the PCK curve over the AUC grid
  px1,      // fraction of errors under 1, 3, 5 (optical flow)
  px3,
  px5,
  outlier_rate,   // fraction with e > outlier_abs and e > outlier_rel |t| (KITTI Fl-all)
  fde,            // mean error at the time axis' last index
  min_ade,        // mode_axis: per sample, the least ADE over the modes
  min_fde,        // mode_axis: per sample, the least FDE over the modes
  min_ade_by_fde, // mode_axis: per sample, the ADE of the mode with the least FDE (Argoverse)
  miss_rate,      // mode_axis: fraction of samples whose least FDE exceeds miss_threshold
  median_error,   // quantiles of e over every vector, from a sketch (opt-in, unweighted)
  error_q90,
  error_q99,
};
inline constexpr int kNumGeoMetrics = 18;
// Whether a metric is an error quantile (the sketch's; opt-in, not weighted).
inline bool is_quantile_metric(GeoMetric m) {
  return m == GeoMetric::median_error || m == GeoMetric::error_q90 || m == GeoMetric::error_q99;
}
// Whether a metric is a sample's over its modes (mode_axis), not a vector's.
inline bool is_mode_metric(GeoMetric m) {
  return m == GeoMetric::min_ade || m == GeoMetric::min_fde || m == GeoMetric::min_ade_by_fde ||
         m == GeoMetric::miss_rate;
}

struct GeoMetricInfo {
  GeoMetric metric;
  std::string_view name;
  std::string_view description;
};
const std::vector<GeoMetricInfo>& geo_metric_table();
std::string_view geo_metric_name(GeoMetric m);
// Throws InvalidArgument listing the valid names (aliases epe and ade read as mpjpe).
GeoMetric parse_geo_metric(std::string_view name);

// Largest vector for pa_mpjpe (the Procrustes alignment's SVD); the other metrics take any length.
inline constexpr std::int64_t kMaxProcrustesDims = 3;
// Most components the last axis may have to be taken as the vector axis without being named.
inline constexpr std::int64_t kMaxImplicitDims = 4;
inline constexpr int kMaxPckThresholds = 64;
inline constexpr int kMaxAucSteps = 1001;
inline constexpr std::int64_t kMaxGeoKeys = std::int64_t{1} << 16;
// Most modes a prediction may hold: each sample's modes are scanned by one worker (a thread on
// CUDA), its vectors' finiteness rechecked per mode (K^2 reads a vector).
inline constexpr std::int64_t kMaxGeoModes = 64;

// ---- what to compute -------------------------------------------------------------------------

struct GeometrySpec {
  // Metrics to report, in report order; empty: the default set, every metric the inputs
  // support (pa_mpjpe when vectors have at most 3 components; pck when thresholds are given).
  std::vector<GeoMetric> metrics;
  // The axis of the batch tensor that holds a vector's components (>= 1 or negative from the
  // end; -1: [N, J, 3] poses; 1: [N, 2, H, W] flow). std::nullopt: the last axis, when it has
  // at most kMaxImplicitDims components; longer, it is an error that asks for the axis (a flow
  // field [N, 2, H, W] read along W would give plausible, wrong errors).
  std::optional<int> vector_axis;
  // An axis of the batch tensor (not the batch or vector axis) whose index is a key with its own
  // metrics (the joint of [N, J, 3]); std::nullopt: one key.
  std::optional<int> key_axis;
  // The targets' time axis: fde (and with modes min_fde, min_ade_by_fde, miss_rate) take the
  // vectors at its last index; std::nullopt: none.
  std::optional<int> time_axis;
  // The predictions' mode axis (K hypotheses; 1: [N, K, ...] against targets [N, ...]): the
  // metrics become the samples' best modes' (min_ade, min_fde, min_ade_by_fde, miss_rate).
  std::optional<int> mode_axis;
  // A breakdown axis of the targets (e.g. the time axis of [N, T, J, 3]): every vector metric
  // per index (the error against the horizon); std::nullopt: none.
  std::optional<int> by_axis;
  // The axes of the targets whose vectors form one sample for pa_mpjpe and n_mpjpe (the joint
  // axis 2 of [N, T, J, 3] aligns each frame); empty: every axis but the batch and vector axes
  // (a batch row).
  std::vector<int> sample_axes;
  double miss_threshold = 2.0; // miss_rate: a sample's least FDE over this misses
  // median_error, error_q90, error_q99: the sketch's relative accuracy (as regression's
  // quantile_alpha: 0.005 gives 0.39% with 7 mantissa bits, 128 KiB).
  double quantile_alpha = 0.005;
  // The sketch's mantissa bits for quantile_alpha; 0 without quantile metrics.
  int quantile_bits() const;
  std::vector<double> pck_thresholds; // each > 0, increasing
  // auc_pck: the PCK curve at auc_steps thresholds 0, ..., auc_max (3DPCK's 0..150 mm in 31).
  double auc_max = 150;
  int auc_steps = 31;
  double outlier_abs = 3.0, outlier_rel = 0.05;
  // Whether pck and auc_pck compare each vector's error divided by its normalizer (PCKh: the
  // head size; a bounding box's size), given to every update, with the thresholds; std::nullopt:
  // decided by the first update (true when it passes a normalizer). Every update agrees with it.
  std::optional<bool> pck_normalized;
  NanPolicy nan_policy = NanPolicy::skip;
  // One sample's shape (the batch tensor's without its batch axis); empty: from the first update.
  std::vector<std::int64_t> sample_shape;

  // Throws InvalidArgument naming what is wrong (a metric listed twice, pck without thresholds,
  // thresholds not positive and increasing, a bad AUC grid, axes that do not fit the shape).
  void validate() const;
  // The metrics for vectors of `dims` components (resolves the default set).
  std::vector<GeoMetric> resolved_metrics(std::int64_t dims) const;

  // Options: metrics, vector_axis, key_axis, pck_thresholds, auc_max, auc_steps, outlier_abs,
  // outlier_rel, pck_normalized, nan_policy, sample_shape.
  static GeometrySpec from_options(const Options& options);
  Options to_options() const;
  static const std::vector<OptionInfo>& option_infos();
};

// How the targets' sample shape maps to vectors, keys and records (axes of the targets' batch
// tensor, normalised; with mode_axis the predictions have the mode axis after the batch axis).
// Records: one per key, then one per index of by_axis, then with modes one for the samples.
struct GeoLayoutInfo {
  int vector_axis = 0;      // >= 1
  int key_axis = -1;        // -1: none
  int time_axis = -1;       // -1: none
  int by_axis = -1;         // -1: none
  bool modes = false;       // mode_axis given
  std::int64_t dims = 0;    // components of a vector
  std::int64_t vectors = 0; // vectors of a sample (every axis but the batch and vector axes)
  std::int64_t keys = 1;
  std::int64_t steps = 0;     // the time axis' length
  std::int64_t by_length = 0; // by_axis' length
  // The order a row's vectors are read in: the axes but the batch and vector axes, those not in
  // sample_axes first, then the sample axes (each group ascending). A row holds
  // samples_per_row samples of sample_size consecutive vectors in that order (the alignments'
  // samples); by default one sample of every vector, in C order.
  std::vector<int> order;
  std::int64_t sample_size = 0, samples_per_row = 1;
  std::int64_t records() const { return keys + by_length + (modes ? 1 : 0); }
  std::int64_t by_record(std::int64_t b) const { return keys + b; }
  std::int64_t sample_record() const { return keys + by_length; }

  // Throws InvalidArgument when the spec's axes do not fit the sample shape.
  static GeoLayoutInfo from(const GeometrySpec& spec, const std::vector<std::int64_t>& sample);
};

// ---- the report ----------------------------------------------------------------------------

struct GeometryReport final : FamilyReport {
  Family family() const override { return kGeometryFamily; }
  std::string to_json() const override;

  GeometrySpec spec;
  std::vector<std::string> names; // metric names in report order ("pck@150" per threshold)
  std::vector<double> values;     // over every vector
  // per_key[i][k]: metric names[i] over key k's vectors (one key without key_axis; NaN for the
  // mode metrics, which are the samples').
  std::vector<std::vector<double>> per_key;
  std::vector<std::uint64_t> per_key_count;
  // by_axis[i][b]: metric names[i] over the vectors at index b of by_axis (empty without one).
  std::vector<std::vector<double>> by_axis;
  std::vector<std::uint64_t> by_axis_count;
  int by_axis_index = -1;
  // mode_axis: the samples folded, and those with a vector at the time axis' last index (the
  // ones min_fde, min_ade_by_fde and miss_rate average over).
  std::uint64_t samples = 0, samples_with_final = 0;
  // The error quantiles' relative accuracy (0 without them); their per-key and by_axis values
  // are NaN (the sketch is over every vector).
  double quantile_accuracy = 0;
  std::uint64_t count = 0; // vectors folded
  double weight_sum = 0;   // their weights' sum (count when unweighted)
  std::uint64_t skipped_nonfinite = 0;
  std::int64_t dims = 0;
  int key_axis = -1;
  // The PCK curve behind auc_pck: thresholds and the fraction under each (empty without it).
  std::vector<double> auc_thresholds, auc_curve;

  bool has(std::string_view metric) const;
  // Throw InvalidArgument when the metric was not requested (naming the requested ones).
  double value(std::string_view metric) const;
  const std::vector<double>& per_key_values(std::string_view metric) const;
  const std::vector<double>& by_axis_values(std::string_view metric) const;

private:
  std::size_t index_of(std::string_view metric) const;
};

// ---- the evaluator -----------------------------------------------------------------------------

namespace detail {
class GeoBackend;
}

class GeometryEvaluator final : public AnyEvaluator {
public:
  explicit GeometryEvaluator(GeometrySpec spec, Device device = auto_select_device());
  ~GeometryEvaluator() override;
  GeometryEvaluator(GeometryEvaluator&&) noexcept;
  GeometryEvaluator& operator=(GeometryEvaluator&&) noexcept;
  GeometryEvaluator(const GeometryEvaluator&) = delete;
  GeometryEvaluator& operator=(const GeometryEvaluator&) = delete;

  // pred and target of one shape [batch, ...] with the vector axis (with mode_axis, pred has the
  // K modes after the batch axis); `mask` (visibility) and `weight` of the targets' shape
  // without the vector axis, or a prefix of it. A masked vector, or one of weight 0, is left out
  // of the errors and of its sample's alignment.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
              StreamHandle stream = nullptr) override;
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream = nullptr) override;
  // With a normalizer (PCKh): a float tensor of the mask's shapes ([N]: one per sample), finite
  // and > 0; pck@T and auc_pck count a vector whose error / normalizer is under T. `weight` may
  // be empty. The first update decides whether this evaluator's PCK is normalized
  // (GeometrySpec::pck_normalized); later ones must agree.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, const TensorView& normalizer,
              StreamHandle stream = nullptr);
  // The inputs by name: "normalizer".
  void update_with(const TensorView& pred, const TensorView& target, const TensorView& mask,
                   const TensorView& weight, const NamedViews& inputs,
                   StreamHandle stream = nullptr) override;
  GeometryReport compute(StreamHandle stream = nullptr);
  void reset(StreamHandle stream = nullptr) override;
  void keep_until_done(std::shared_ptr<void> owner) override;
  State state(StreamHandle stream = nullptr) override;
  // Exact: merged states give bitwise the record of one evaluator that saw every batch.
  void merge(const State& other, StreamHandle stream = nullptr) override;

  const GeometrySpec& spec() const;
  Device device() const override;
  std::uint64_t batches() const override;
  Family family() const override { return kGeometryFamily; }
  AnyReport compute_any(StreamHandle stream = nullptr) override;
  void check_shapes(const std::vector<std::int64_t>& pred,
                    const std::vector<std::int64_t>& target) const override;

private:
  std::unique_ptr<detail::GeoBackend> backend_;
};

// What a geometry state records, read without an evaluator: a spec that merges it.
GeometrySpec geometry_state_spec(const State& state);

} // namespace gpueval
