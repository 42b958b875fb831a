// The regression family on tensors: TorchEvaluator, its report as tensors, and the TorchScript
// class torch.classes.gpueval.Evaluator:
//
//   torch.classes.load_library("libgpueval_torch.so")
//   ev = torch.classes.gpueval.Evaluator("default", "-1", None, "skip", "cpu", 0)
//   ev.update(pred, target, None)       # every batch
//   metrics = ev.compute()              # Dict[str, Tensor]; ev.compute_json() for the report
//   blob = ev.state()                   # uint8 tensor: all-gather it, then ev.merge(other)
#include <torch/custom_class.h>
#include <torch/script.h>

#include "gpueval/torch_regression.hpp"
#include "torch_common.hpp"

namespace gpueval::torch_adapter {

TorchEvaluator::TorchEvaluator(RegressionSpec spec, torch::Device device, int threads)
    : TorchEvaluator(make_typed<RegressionEvaluator>(std::move(spec), device, threads), device) {}

TorchEvaluator::TorchEvaluator(std::unique_ptr<RegressionEvaluator> evaluator, torch::Device device)
    : evaluator_(evaluator.get()), metrics_(std::move(evaluator), device) {}

void TorchEvaluator::update(const torch::Tensor& pred, const torch::Tensor& target,
                            const c10::optional<torch::Tensor>& mask,
                            const c10::optional<torch::Tensor>& weight) {
  TORCH_CHECK(!pred.defined() || !target.defined() || pred.sizes() == target.sizes(),
              "gpueval: pred has shape ", pred.sizes(), " but target has shape ", target.sizes());
  metrics_.update(pred, target, mask, weight);
}

Report TorchEvaluator::compute() {
  return *metrics_.compute().as<Report>();
}

TensorDict TorchEvaluator::compute_dict() {
  return report_to_dict(compute());
}

TensorDict report_to_dict(const Report& r) {
  TensorDict d;
  for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
    const std::string name(metric_name(r.spec.metrics[i]));
    d.insert(name, scalar(r.headline[i]));
    d.insert("flat/" + name, scalar(r.flat[i]));
    d.insert("per_channel/" + name, doubles(r.per_channel[i]));
    if (r.by_axis_index >= 0) {
      d.insert("by_axis/" + name, doubles(r.by_axis[i]));
    }
    if (r.spec.metrics[i] == Metric::r2) {
      d.insert("variance_weighted/r2", scalar(r.variance_weighted_r2));
    }
    if (r.spec.metrics[i] == Metric::explained_variance) {
      d.insert("variance_weighted/explained_variance",
               scalar(r.variance_weighted_explained_variance));
    }
  }
  d.insert("per_channel/count", counts(r.per_channel_count));
  d.insert("count", count(r.count));
  d.insert("weight_sum", torch::tensor(r.weight_sum, torch::dtype(torch::kDouble)));
  d.insert("skipped_nonfinite", count(r.skipped_nonfinite));
  return d;
}

void register_regression_dict() {
  register_report_dict(kRegressionFamily,
                       [](const AnyReport& r) { return report_to_dict(*r.as<Report>()); });
}

namespace {

// torch.classes.gpueval.Evaluator(metrics, channel_axis, by_axis, nan_policy, device, threads):
// the family's options, parsed by the family (RegressionSpec::from_options).
struct ScriptEvaluator : torch::CustomClassHolder {
  ScriptEvaluator(const std::string& metrics, const std::string& channel_axis,
                  c10::optional<std::int64_t> by_axis, const std::string& nan_policy,
                  const std::string& device, std::int64_t threads)
      : ev(checked([&] {
             return RegressionSpec::from_options(
                 options(metrics, channel_axis, by_axis, nan_policy));
           }),
           torch::Device(device), static_cast<int>(threads)) {}

  static Options options(const std::string& metrics, const std::string& channel_axis,
                         c10::optional<std::int64_t> by_axis, const std::string& nan_policy) {
    Options o{{"metrics", metrics}, {"channel_axis", channel_axis}, {"nan_policy", nan_policy}};
    if (by_axis.has_value()) {
      o["by_axis"] = std::to_string(*by_axis);
    }
    return o;
  }

  TorchEvaluator ev;
};

} // namespace

TORCH_LIBRARY_FRAGMENT(gpueval, m) {
  auto c = m.class_<ScriptEvaluator>("Evaluator");
  c.def(torch::init<std::string, std::string, c10::optional<std::int64_t>, std::string, std::string,
                    std::int64_t>());
  def_evaluator_methods(c);
}

} // namespace gpueval::torch_adapter
