// A classification batch: shapes checked against the spec (the class axis), described as
// samples with strides for the backends.
#include "classification/internal.hpp"
#include "core/options.hpp"

#include <string>

#include "gpueval/error.hpp"

namespace gpueval {

namespace classification {

int normalise_axis(int axis, int rank, const char* what) {
  const int a = axis < 0 ? axis + rank : axis;
  GPUEVAL_EXPECTS(a >= 1 && a < rank, std::string(what) + " " + std::to_string(axis) +
                                          " is not an axis after the " +
                                          "batch axis of a tensor of rank " + std::to_string(rank));
  return a;
}

std::vector<std::int64_t> dims(const TensorView& v) {
  return std::vector<std::int64_t>(v.shape, v.shape + v.rank);
}

std::string shape_of(const std::vector<std::int64_t>& s) {
  return detail::shape_string(s.data(), static_cast<int>(s.size()));
}

// Shapes of a batch: which axis of the predictions is the class axis (-1: none), given the
// targets' shape. Throws InvalidArgument naming both shapes.
int class_axis_of(const ClassificationSpec& spec, bool scores,
                  const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& target) {
  const std::string both = "pred " + shape_of(pred) + " and target " + shape_of(target);
  GPUEVAL_EXPECTS(!target.empty(), "target " + shape_of(target) + " has no batch axis");
  if (spec.task == ClassTask::multiclass && scores) {
    GPUEVAL_EXPECTS(pred.size() == target.size() + 1,
                    both + ": multiclass scores have one more axis than the targets, the class "
                           "axis");
    const int a = normalise_axis(spec.class_axis, static_cast<int>(pred.size()), "class_axis");
    GPUEVAL_EXPECTS(pred[static_cast<std::size_t>(a)] == spec.num_classes,
                    both + ": the class axis " + std::to_string(a) + " has " +
                        std::to_string(pred[static_cast<std::size_t>(a)]) + " entries, not " +
                        "num_classes " + std::to_string(spec.num_classes));
    std::vector<std::int64_t> rest = pred;
    rest.erase(rest.begin() + a);
    GPUEVAL_EXPECTS(rest == target, both + " do not fit: without its class axis " +
                                        std::to_string(a) + ", pred has shape " + shape_of(rest));
    return a;
  }
  GPUEVAL_EXPECTS(pred == target, both + " differ in shape");
  if (spec.task == ClassTask::multilabel) {
    const int a = normalise_axis(spec.class_axis, static_cast<int>(target.size()), "class_axis");
    GPUEVAL_EXPECTS(target[static_cast<std::size_t>(a)] == spec.num_classes,
                    both + ": the label axis " + std::to_string(a) + " has " +
                        std::to_string(target[static_cast<std::size_t>(a)]) +
                        " entries, not num_classes " + std::to_string(spec.num_classes));
    return a;
  }
  return -1;
}

bool detect_scores(const ClassificationSpec& spec, const TensorView& pred,
                   const TensorView& target) {
  if (spec.pred != PredKind::auto_detect) {
    return spec.pred == PredKind::scores;
  }
  if (spec.task == ClassTask::multiclass) {
    // Labels have the targets' shape and an integer dtype. Float predictions of the targets'
    // shape are scores with one-hot (or probabilistic) targets, or labels stored as floats:
    // scoring them as labels would drop every sample, so ask which.
    GPUEVAL_EXPECTS(
        pred.rank != target.rank || !dtype_is_float(pred.dtype),
        "multiclass predictions " + shape_of(dims(pred)) + " (" +
            std::string(dtype_name(pred.dtype)) +
            ") have the targets' shape: scores need targets "
            "of class indices without the class axis (one-hot targets: target.argmax(1)); float "
            "labels need pred='labels'");
    return pred.rank == target.rank + 1;
  }
  return dtype_is_float(pred.dtype);
}

detail::ClassBatch describe_batch(const detail::ClassBackend& b, const TensorView& pred,
                                  const TensorView& target, const TensorView& mask,
                                  const TensorView& weight) {
  const Device device = b.device();
  detail::check_view(pred, "pred", device);
  detail::check_view(target, "target", device);
  const std::vector<std::int64_t> ps = dims(pred), ts = dims(target);
  const int a = class_axis_of(b.spec, b.pred_scores, ps, ts);
  const std::vector<std::int64_t> sample(ts.begin() + 1, ts.end());
  GPUEVAL_EXPECTS(sample == b.sample_shape, "target " + shape_of(ts) + " has sample shape " +
                                                shape_of(sample) + ", but this evaluator's is " +
                                                shape_of(b.sample_shape) +
                                                " (fixed by the spec or the first batch)");
  detail::ClassBatch cb;
  cb.pred = pred;
  cb.target = target;
  cb.pred_scores = b.pred_scores;
  if (mask.data != nullptr || mask.rank > 0) {
    detail::check_view(mask, "mask", device);
    GPUEVAL_EXPECTS(!dtype_is_float(mask.dtype),
                    "mask has dtype " + std::string(dtype_name(mask.dtype)) +
                        "; a mask is bool or an integer type (nonzero = include)");
    bool prefix = mask.rank <= target.rank;
    for (int i = 0; prefix && i < mask.rank; ++i) {
      prefix = mask.shape[i] == target.shape[i];
    }
    GPUEVAL_EXPECTS(prefix, "mask " + shape_of(dims(mask)) + " does not fit target " +
                                shape_of(ts) + ": a mask has the target's shape or a prefix of it");
    cb.mask = mask;
  }
  const bool multilabel = b.spec.task == ClassTask::multilabel;
  if (weight.data != nullptr || weight.rank > 0) {
    detail::check_view(weight, "weight", device);
    GPUEVAL_EXPECTS(dtype_is_float(weight.dtype),
                    "weight has dtype " + std::string(dtype_name(weight.dtype)) +
                        "; a weight is a float type (a bool or integer tensor is a mask: pass it "
                        "as mask=, or convert it with .float())");
    bool prefix = weight.rank <= target.rank;
    for (int i = 0; prefix && i < weight.rank; ++i) {
      prefix = weight.shape[i] == target.shape[i];
    }
    GPUEVAL_EXPECTS(prefix, "weight " + shape_of(dims(weight)) + " does not fit target " +
                                shape_of(ts) +
                                ": a weight has the target's shape or a prefix of it");
    GPUEVAL_EXPECTS(!multilabel || weight.rank <= a,
                    "weight " + shape_of(dims(weight)) + " covers the label axis of target " +
                        shape_of(ts) +
                        ": multilabel weights are per sample (the target's shape up to the "
                        "label axis), as scikit-learn's sample_weight");
    cb.weight = weight;
  }
  std::int64_t element = 1;
  std::int64_t element_stride[kMaxRank];
  for (int d = target.rank - 1; d >= 0; --d) {
    element_stride[d] = element;
    element *= target.shape[d];
  }
  cb.samples = 1;
  for (int d = 0; d < target.rank; ++d) {
    const std::int64_t mstride = d < mask.rank && cb.has_mask() ? mask.strides[d] : 0;
    if (multilabel && d == a) {
      cb.target_class_stride = target.strides[d];
      cb.pred_class_stride = pred.strides[d];
      cb.mask_class_stride = mstride;
      cb.element_class_stride = element_stride[d];
      continue;
    }
    // The prediction axis of target axis d: scores have the class axis inserted at a.
    const int pd = (b.pred_scores && b.spec.task == ClassTask::multiclass && d >= a) ? d + 1 : d;
    cb.shape[cb.axes] = target.shape[d];
    cb.target_stride[cb.axes] = target.strides[d];
    cb.pred_stride[cb.axes] = pred.strides[pd];
    cb.mask_stride[cb.axes] = mstride;
    cb.weight_stride[cb.axes] = d < weight.rank && cb.has_weight() ? weight.strides[d] : 0;
    cb.element_stride[cb.axes] = element_stride[d];
    cb.samples *= target.shape[d];
    ++cb.axes;
  }
  if (b.pred_scores && b.spec.task == ClassTask::multiclass) {
    cb.pred_class_stride = pred.strides[a];
  }
  return cb;
}

} // namespace classification

namespace detail {

std::string bad_class_weight_message(std::uint64_t batch, std::int64_t element, double value,
                                     std::int64_t target_element) {
  std::string where = "batch " + std::to_string(batch);
  if (element >= 0) {
    where += ", weight element " + std::to_string(element) + " is " + option_text(value);
  } else if (target_element >= 0) {
    where += ", the weight of target element " + std::to_string(target_element);
  }
  return where + ": a classification sample weight is 0 or within [2^-24, 2^32), masked or not "
                 "(0 leaves the sample out, as a mask does; only the weights' ratios change the "
                 "metrics, so scale large weights down and tiny ones up: the fixed point would "
                 "round a weight under 2^-24 to fewer than 40 bits)";
}

} // namespace detail

} // namespace gpueval
