// The geometry family's backend interface, and what a batch is for its backends.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common.hpp"
#include "core/skeleton.hpp"
#include "gpueval/geometry.hpp"
#include "gpueval/ops/geometry.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::detail {

// A batch that passed validate_geo_batch. mask, weight and normalizer are views of the
// vector-less shape (pred's without the vector axis): one given as a prefix of it is broadcast
// over the rest with zero strides, so a backend reads each at a vector's coordinates.
struct GeoBatch {
  TensorView pred;
  TensorView target;
  TensorView mask;   // data == nullptr: none
  TensorView weight; // data == nullptr: none (every weight 1)
  TensorView user_weight;
  TensorView normalizer; // data == nullptr: none (pck compares the errors themselves)
  std::int64_t rows = 0;
  std::int64_t modes = 0;  // mode_axis: the predictions' K (pred is [rows, K, target's sample])
  std::uint64_t index = 0; // batches folded before this one
  bool has_mask() const { return mask.data != nullptr; }
  bool has_weight() const { return weight.data != nullptr; }
  bool has_normalizer() const { return normalizer.data != nullptr; }
};

// The geometry family's backend (CPU, CUDA), behind GeometryEvaluator.
class GeoBackend : public BackendBase {
public:
  // Called once, before the first update or merge, with the fields below set: allocate here.
  virtual void configure() = 0;
  virtual void update(const GeoBatch& batch, StreamHandle stream) = 0;
  // The first vector whose weight is negative or not finite (or whose normalizer is not finite
  // and > 0), as (batch, vector), for a backend that finds it on the device (CUDA); the CPU
  // refuses such a batch in update().
  virtual NonFiniteLocation bad_weight(StreamHandle stream) {
    (void)stream;
    return {};
  }
  virtual NonFiniteLocation bad_normalizer(StreamHandle stream) {
    (void)stream;
    return {};
  }
  // The epoch's records: info.records() records of layout.words words, record-major.
  virtual std::vector<std::uint64_t> words(StreamHandle stream) = 0;
  // Replaces the epoch state (a merge adds the records on the host).
  virtual void load(const std::vector<std::uint64_t>& words, NonFiniteLocation where,
                    StreamHandle stream) = 0;
  // The error sketch (quantile metrics only): ops::sketch::buckets(bits) counts of every folded
  // vector's error. sketch() synchronises; load_sketch replaces it.
  virtual std::vector<std::uint64_t> sketch(StreamHandle stream) = 0;
  virtual void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle stream) = 0;
  int sketch_bits = 0; // 0: no sketch

  GeometrySpec spec;
  GeoLayoutInfo info;
  std::vector<GeoMetric> metrics; // resolved for info.dims
  ops::GeoLayout layout;
  ops::GeoParams params() const {
    ops::GeoParams p;
    p.pck = spec.pck_thresholds.data();
    p.auc_step = spec.auc_max / (spec.auc_steps - 1);
    p.outlier_abs = spec.outlier_abs;
    p.outlier_rel = spec.outlier_rel;
    p.miss_threshold = spec.miss_threshold;
    return p;
  }
  bool needs(GeoMetric m) const {
    for (GeoMetric x : metrics) {
      if (x == m) {
        return true;
      }
    }
    return false;
  }
};

// The record's layout for these metrics: the PCK thresholds' sums only with pck, the AUC grid only
// with auc_pck.
inline ops::GeoLayout geo_layout(const GeometrySpec& spec, const std::vector<GeoMetric>& metrics) {
  bool pck = false, auc = false;
  for (GeoMetric m : metrics) {
    pck = pck || m == GeoMetric::pck;
    auc = auc || m == GeoMetric::auc_pck;
  }
  return ops::GeoLayout::make(pck ? static_cast<int>(spec.pck_thresholds.size()) : 0,
                              auc ? spec.auc_steps : 0);
}

// Checks pred/target/mask/weight/normalizer against each other, the device and the sample shape.
GeoBatch validate_geo_batch(const TensorView& pred, const TensorView& target,
                            const TensorView& mask, const TensorView& weight,
                            const TensorView& normalizer,
                            const std::vector<std::int64_t>& sample_shape,
                            const GeoLayoutInfo& info, Device device);

// The error a negative or non-finite weight raises: batch `batch`, the weight of vector `vector`
// (over the batch's vectors, C order) and its value.
std::string bad_geo_weight_message(std::uint64_t batch, std::int64_t vector, double value);
// The same for a normalizer that is not finite and > 0.
std::string bad_geo_normalizer_message(std::uint64_t batch, std::int64_t vector, double value);

// The report from the epoch's records (host/geometry/metrics.cpp).
GeometryReport build_geo_report(const GeoBackend& b, const std::vector<std::uint64_t>& words,
                                const std::vector<std::uint64_t>& sketch);

// The state's payload and back (host/geometry/state.cpp).
State encode_geo_state(const GeoBackend& b, const std::vector<std::uint64_t>& words,
                       const std::vector<std::uint64_t>& sketch, NonFiniteLocation where);
struct DecodedGeoState {
  GeometrySpec spec; // with the sample shape and the resolved metrics
  std::uint64_t batches = 0;
  NonFiniteLocation first_nonfinite;
  std::vector<std::uint64_t> words;
  std::vector<std::uint64_t> sketch; // dense; empty without quantile metrics
};
DecodedGeoState decode_geo_state(const State& state);

} // namespace gpueval::detail
