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
  outlier_rate, // fraction with e > outlier_abs and e > outlier_rel |t| (KITTI Fl-all)
};
inline constexpr int kNumGeoMetrics = 10;

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
inline constexpr int kMaxPckThresholds = 64;
inline constexpr int kMaxAucSteps = 1001;
inline constexpr std::int64_t kMaxGeoKeys = std::int64_t{1} << 16;

// ---- what to compute -------------------------------------------------------------------------

struct GeometrySpec {
  // Metrics to report, in report order; empty: the default set, every metric the inputs
  // support (pa_mpjpe when vectors have at most 3 components; pck when thresholds are given).
  std::vector<GeoMetric> metrics;
  // The axis of the batch tensor that holds a vector's components (>= 1 or negative from the
  // end; -1: [N, J, 3] poses; 1: [N, 2, H, W] flow).
  int vector_axis = -1;
  // An axis of the batch tensor (not the batch or vector axis) whose index is a key with its own
  // metrics (the joint of [N, J, 3]); std::nullopt: one key.
  std::optional<int> key_axis;
  std::vector<double> pck_thresholds; // each > 0, increasing
  // auc_pck: the PCK curve at auc_steps thresholds 0, ..., auc_max (3DPCK's 0..150 mm in 31).
  double auc_max = 150;
  int auc_steps = 31;
  double outlier_abs = 3.0, outlier_rel = 0.05;
  NanPolicy nan_policy = NanPolicy::skip;
  // One sample's shape (the batch tensor's without its batch axis); empty: from the first update.
  std::vector<std::int64_t> sample_shape;

  // Throws InvalidArgument naming what is wrong (a metric listed twice, pck without thresholds,
  // thresholds not positive and increasing, a bad AUC grid, axes that do not fit the shape).
  void validate() const;
  // The metrics for vectors of `dims` components (resolves the default set).
  std::vector<GeoMetric> resolved_metrics(std::int64_t dims) const;

  // Options: metrics, vector_axis, key_axis, pck_thresholds, auc_max, auc_steps, outlier_abs,
  // outlier_rel, nan_policy, sample_shape.
  static GeometrySpec from_options(const Options& options);
  Options to_options() const;
  static const std::vector<OptionInfo>& option_infos();
};

// How a sample shape maps to vectors and keys (axes of the batch tensor, normalised).
struct GeoLayoutInfo {
  int vector_axis = 0;      // >= 1
  int key_axis = -1;        // -1: none
  std::int64_t dims = 0;    // components of a vector
  std::int64_t vectors = 0; // vectors of a sample (every axis but the batch and vector axes)
  std::int64_t keys = 1;

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
  // per_key[i][k]: metric names[i] over key k's vectors (one key without key_axis).
  std::vector<std::vector<double>> per_key;
  std::vector<std::uint64_t> per_key_count;
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

  // pred and target of one shape [batch, ...] with the vector axis; `mask` (visibility) and
  // `weight` of that shape without the vector axis, or a prefix of it. A masked vector, or one
  // of weight 0, is left out of the errors and of its sample's alignment.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
              StreamHandle stream = nullptr) override;
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream = nullptr) override;
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
