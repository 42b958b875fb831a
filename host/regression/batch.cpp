// A regression batch: pred, target and mask checked against each other, the device and the
// sample shape, and described for the backends.
#include <string>

#include "gpueval/error.hpp"
#include "regression/backend.hpp"

namespace gpueval::detail {

Batch validate_batch(const TensorView& pred, const TensorView& target, const TensorView& mask,
                     const std::vector<std::int64_t>& sample_shape, const KeyLayout& layout,
                     Device device) {
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
    bool prefix = mask.rank <= pred.rank;
    for (int i = 0; prefix && i < mask.rank; ++i) {
      prefix = mask.shape[i] == pred.shape[i];
    }
    GPUEVAL_EXPECTS(prefix, "mask " + shape_string(mask.shape, mask.rank) + " does not fit pred " +
                                shape_string(pred.shape, pred.rank) +
                                ": a mask has the tensor's shape or a prefix of it");
    b.mask = mask;
    b.mask_cover = 1;
    for (int i = mask.rank; i < pred.rank; ++i) {
      b.mask_cover *= pred.shape[i];
    }
    if (b.elements == 0) {
      b.mask_cover = 1;
    }
  }
  return b;
}

} // namespace gpueval::detail
