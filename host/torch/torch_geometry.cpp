// The geometry family on tensors: TorchGeometryEvaluator, its report as tensors, and the
// TorchScript class torch.classes.gpueval.Geometry (the methods of Evaluator).
#include <torch/custom_class.h>
#include <torch/script.h>

#include "gpueval/torch_geometry.hpp"
#include "torch_common.hpp"

namespace gpueval::torch_adapter {

TorchGeometryEvaluator::TorchGeometryEvaluator(GeometrySpec spec, torch::Device device, int threads)
    : TorchGeometryEvaluator(make_typed<GeometryEvaluator>(std::move(spec), device, threads),
                             device) {}

TorchGeometryEvaluator::TorchGeometryEvaluator(std::unique_ptr<GeometryEvaluator> evaluator,
                                               torch::Device device)
    : evaluator_(evaluator.get()), metrics_(std::move(evaluator), device) {}

GeometryReport TorchGeometryEvaluator::compute() {
  return *metrics_.compute().as<GeometryReport>();
}

TensorDict TorchGeometryEvaluator::compute_dict() {
  return report_to_dict(compute());
}

TensorDict report_to_dict(const GeometryReport& r) {
  TensorDict d;
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    d.insert(r.names[i], scalar(r.values[i]));
    d.insert("per_key/" + r.names[i], doubles(r.per_key[i]));
  }
  d.insert("per_key/count", counts(r.per_key_count));
  if (r.by_axis_index >= 0) { // per index of the breakdown axis
    d.insert("by_axis/count", counts(r.by_axis_count));
    for (std::size_t i = 0; i < r.names.size(); ++i) {
      d.insert("by_axis/" + r.names[i], doubles(r.by_axis[i]));
    }
  }
  if (r.spec.mode_axis) {
    d.insert("samples", count(r.samples));
    d.insert("samples_with_final", count(r.samples_with_final));
  }
  if (!r.auc_curve.empty()) {
    d.insert("pck_curve/thresholds", doubles(r.auc_thresholds));
    d.insert("pck_curve/pck", doubles(r.auc_curve));
  }
  d.insert("count", count(r.count));
  d.insert("skipped_nonfinite", count(r.skipped_nonfinite));
  d.insert("weight_sum", torch::tensor(r.weight_sum, torch::dtype(torch::kDouble)));
  return d;
}

void register_geometry_dict() {
  register_report_dict(kGeometryFamily,
                       [](const AnyReport& r) { return report_to_dict(*r.as<GeometryReport>()); });
}

namespace {

// torch.classes.gpueval.Geometry(metrics, vector_axis, key_axis, pck_thresholds, nan_policy,
// device, threads): the family's options, parsed by the family (GeometrySpec::from_options).
struct ScriptGeometry : torch::CustomClassHolder {
  ScriptGeometry(const std::string& metrics, std::int64_t vector_axis,
                 c10::optional<std::int64_t> key_axis, const std::string& pck_thresholds,
                 const std::string& nan_policy, const std::string& device, std::int64_t threads)
      : ev("geometry", options(metrics, vector_axis, key_axis, pck_thresholds, nan_policy),
           torch::Device(device), static_cast<int>(threads)) {}

  static Options options(const std::string& metrics, std::int64_t vector_axis,
                         c10::optional<std::int64_t> key_axis, const std::string& pck_thresholds,
                         const std::string& nan_policy) {
    Options o{{"metrics", metrics},
              {"vector_axis", std::to_string(vector_axis)},
              {"nan_policy", nan_policy}};
    if (key_axis.has_value()) {
      o["key_axis"] = std::to_string(*key_axis);
    }
    if (!pck_thresholds.empty()) {
      o["pck_thresholds"] = pck_thresholds;
    }
    return o;
  }

  TorchMetrics ev;
};

} // namespace

TORCH_LIBRARY_FRAGMENT(gpueval, m) {
  auto c = m.class_<ScriptGeometry>("Geometry");
  c.def(torch::init<std::string, std::int64_t, c10::optional<std::int64_t>, std::string,
                    std::string, std::string, std::int64_t>());
  def_evaluator_methods(c);
}

} // namespace gpueval::torch_adapter
