// A geometry batch: pred, target, mask, weight and normalizer checked against each other, the
// device and the sample shape; one of the vector-less shape's prefix broadcast to all of it.
#include <string>

#include "core/options.hpp"
#include "geometry/backend.hpp"
#include "gpueval/error.hpp"

namespace gpueval::detail {

namespace {

// `v` (a mask, weight or normalizer) as a view of the vector-less shape of pred: its axes must be a
// prefix of that shape; the axes it lacks get stride 0.
TensorView over_vectors(const TensorView& v, const char* name, const TensorView& target,
                        int vector_axis) {
  const TensorView& pred = target; // the shape a mask or weight covers: the targets'

  TensorView out = v;
  std::int64_t shape[kMaxRank];
  int rank = 0;
  for (int a = 0; a < pred.rank; ++a) {
    if (a != vector_axis) {
      shape[rank++] = pred.shape[a];
    }
  }
  bool prefix = v.rank <= rank;
  for (int i = 0; prefix && i < v.rank; ++i) {
    prefix = v.shape[i] == shape[i];
  }
  GPUEVAL_EXPECTS(prefix, std::string(name) + " " + shape_string(v.shape, v.rank) +
                              " does not fit pred " + shape_string(pred.shape, pred.rank) + ": a " +
                              name + " has pred's shape without the vector axis, " +
                              shape_string(shape, rank) + ", or a prefix of it");
  out.rank = rank;
  for (int i = 0; i < rank; ++i) {
    out.shape[i] = shape[i];
    out.strides[i] = i < v.rank ? v.strides[i] : 0;
  }
  return out;
}

} // namespace

std::string bad_geo_weight_message(std::uint64_t batch, std::int64_t vector, double value) {
  // NaN: the device found it (it records where, not the value).
  const std::string is =
      value == value ? " is " + option_text(value) : " is negative or not finite";
  return "batch " + std::to_string(batch) + ": the weight of vector " + std::to_string(vector) +
         is + "; a weight is finite and >= 0 (0 leaves the vector out, as a mask does)";
}

std::string bad_geo_normalizer_message(std::uint64_t batch, std::int64_t vector, double value) {
  const std::string is = value == value ? " is " + option_text(value) : " is not finite or not > 0";
  return "batch " + std::to_string(batch) + ": the normalizer of vector " + std::to_string(vector) +
         is + "; a normalizer (the head size, a box's size) is finite and > 0";
}

GeoBatch validate_geo_batch(const TensorView& pred, const TensorView& target,
                            const TensorView& mask, const TensorView& weight,
                            const TensorView& normalizer,
                            const std::vector<std::int64_t>& sample_shape,
                            const GeoLayoutInfo& info, Device device) {
  check_view(pred, "pred", device);
  check_view(target, "target", device);
  // With modes, pred is [N, K, ...] against target [N, ...]: pred without its axis 1 is the
  // target's shape.
  const int skip = info.modes ? 1 : 0;
  bool same_shape =
      pred.rank == target.rank + skip && pred.rank >= 1 + skip && pred.shape[0] == target.shape[0];
  for (int i = 1; same_shape && i < target.rank; ++i) {
    same_shape = pred.shape[i + skip] == target.shape[i];
  }
  GPUEVAL_EXPECTS(same_shape, "pred " + shape_string(pred.shape, pred.rank) + " and target " +
                                  shape_string(target.shape, target.rank) +
                                  (info.modes ? " do not fit: with mode_axis 1 pred is [N, K] "
                                                "followed by the target's shape without N"
                                              : " differ in shape"));
  bool same_sample = static_cast<std::size_t>(target.rank - 1) == sample_shape.size();
  for (int i = 1; same_sample && i < target.rank; ++i) {
    same_sample = target.shape[i] == sample_shape[static_cast<std::size_t>(i - 1)];
  }
  GPUEVAL_EXPECTS(same_sample,
                  "batch " + shape_string(target.shape, target.rank) + " has sample shape " +
                      shape_string(target.shape + 1, target.rank - 1) +
                      ", but this evaluator's is " +
                      shape_string(sample_shape.data(), static_cast<int>(sample_shape.size())) +
                      " (fixed by the spec or the first batch)");
  if (info.modes) {
    GPUEVAL_EXPECTS(pred.shape[1] >= 1 && pred.shape[1] <= kMaxGeoModes,
                    "pred has " + std::to_string(pred.shape[1]) + " modes along axis 1; 1 to " +
                        std::to_string(kMaxGeoModes));
  }
  for (const TensorView* v : {&pred, &target}) {
    GPUEVAL_EXPECTS(dtype_is_float(v->dtype),
                    std::string(v == &pred ? "pred" : "target") + " has dtype " +
                        std::string(dtype_name(v->dtype)) +
                        "; geometry reads float vectors (convert with .float())");
  }
  GeoBatch b;
  b.pred = pred;
  b.target = target;
  b.rows = target.shape[0];
  b.modes = info.modes ? pred.shape[1] : 0;
  if (mask.data != nullptr || mask.rank > 0) {
    check_view(mask, "mask", device);
    GPUEVAL_EXPECTS(!dtype_is_float(mask.dtype),
                    "mask has dtype " + std::string(dtype_name(mask.dtype)) +
                        "; a mask is bool or an integer type (nonzero = include)");
    b.mask = over_vectors(mask, "mask", target, info.vector_axis);
  }
  if (weight.data != nullptr || weight.rank > 0) {
    check_view(weight, "weight", device);
    GPUEVAL_EXPECTS(dtype_is_float(weight.dtype),
                    "weight has dtype " + std::string(dtype_name(weight.dtype)) +
                        "; a weight is a float type (a bool or integer tensor is a mask: pass it "
                        "as mask=)");
    b.weight = over_vectors(weight, "weight", target, info.vector_axis);
    b.user_weight = weight;
  }
  if (normalizer.data != nullptr || normalizer.rank > 0) {
    check_view(normalizer, "normalizer", device);
    GPUEVAL_EXPECTS(dtype_is_float(normalizer.dtype),
                    "normalizer has dtype " + std::string(dtype_name(normalizer.dtype)) +
                        "; a normalizer is a float type (convert with .float())");
    b.normalizer = over_vectors(normalizer, "normalizer", target, info.vector_axis);
  }
  return b;
}

} // namespace gpueval::detail
