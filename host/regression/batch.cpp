// A regression batch: pred, target and mask checked against each other, the device and the
// sample shape, and described for the backends.
#include <string>

#include "core/options.hpp"
#include "gpueval/error.hpp"
#include "regression/backend.hpp"

namespace gpueval::detail {

namespace {

// A mask or weight of the tensor's shape or a prefix of it: how many consecutive elements share
// one of its values.
std::int64_t prefix_cover(const TensorView& v, const char* name, const TensorView& pred,
                          std::int64_t elements) {
  bool prefix = v.rank <= pred.rank;
  for (int i = 0; prefix && i < v.rank; ++i) {
    prefix = v.shape[i] == pred.shape[i];
  }
  GPUEVAL_EXPECTS(prefix, std::string(name) + " " + shape_string(v.shape, v.rank) +
                              " does not fit pred " + shape_string(pred.shape, pred.rank) + ": a " +
                              name + " has the tensor's shape or a prefix of it");
  std::int64_t cover = 1;
  for (int i = v.rank; i < pred.rank; ++i) {
    cover *= pred.shape[i];
  }
  return elements == 0 ? 1 : cover;
}

} // namespace

std::string bad_weight_message(std::uint64_t batch, std::int64_t element, double value) {
  std::string where = "batch " + std::to_string(batch) + ": a weight";
  if (element >= 0) {
    where = "batch " + std::to_string(batch) + ", weight element " + std::to_string(element) +
            " is " + option_text(value);
  }
  return where + ": a sample weight is finite and >= 0, masked or not (0 leaves the sample out, "
                 "as a mask does; float64 subnormals are refused)";
}

Batch validate_batch(const TensorView& pred, const TensorView& target, const TensorView& mask,
                     const TensorView& weight, const std::vector<std::int64_t>& sample_shape,
                     const KeyLayout& layout, Device device) {
  check_view(pred, "pred", device);
  check_view(target, "target", device);
  bool same_shape = pred.rank == target.rank;
  for (int i = 0; same_shape && i < pred.rank; ++i) {
    same_shape = pred.shape[i] == target.shape[i];
  }
  GPUEVAL_EXPECTS(same_shape, "pred " + shape_string(pred.shape, pred.rank) + " and target " +
                                  shape_string(target.shape, target.rank) + " differ in shape");
  bool same_sample = static_cast<std::size_t>(pred.rank - 1) == sample_shape.size();
  for (int i = 1; same_sample && i < pred.rank; ++i) {
    same_sample = pred.shape[i] == sample_shape[static_cast<std::size_t>(i - 1)];
  }
  GPUEVAL_EXPECTS(same_sample,
                  "batch " + shape_string(pred.shape, pred.rank) + " has sample shape " +
                      shape_string(pred.shape + 1, pred.rank - 1) + ", but this evaluator's is " +
                      shape_string(sample_shape.data(), static_cast<int>(sample_shape.size())) +
                      " (fixed by the spec or the first batch)");

  Batch b;
  b.pred = pred;
  b.target = target;
  b.keys = layout.keys;
  b.elements = pred.numel();
  b.rows = b.elements / layout.keys;
  if (mask.data != nullptr || mask.rank > 0) {
    check_view(mask, "mask", device);
    GPUEVAL_EXPECTS(!dtype_is_float(mask.dtype),
                    "mask has dtype " + std::string(dtype_name(mask.dtype)) +
                        "; a mask is bool or an integer type (nonzero = include)");
    b.mask = mask;
    b.mask_cover = prefix_cover(mask, "mask", pred, b.elements);
  }
  if (weight.data != nullptr || weight.rank > 0) {
    check_view(weight, "weight", device);
    GPUEVAL_EXPECTS(dtype_is_float(weight.dtype),
                    "weight has dtype " + std::string(dtype_name(weight.dtype)) +
                        "; a weight is a float type (a bool or integer tensor is a mask: pass it "
                        "as mask=, or convert it with .float())");
    b.weight = weight;
    b.weight_cover = prefix_cover(weight, "weight", pred, b.elements);
  }
  return b;
}

} // namespace gpueval::detail
