// The classification family on tensors: TorchClassificationEvaluator, a typed TorchMetrics.
//
//   gpueval::ClassificationSpec spec;  spec.task = gpueval::ClassTask::multiclass;
//   spec.num_classes = 10;
//   TorchClassificationEvaluator ev(spec, torch::kCUDA);
//   ev.update(logits, labels);          // [N, C, ...] scores or [N, ...] labels; int targets
//   auto m = ev.compute_dict();         // {"accuracy": 0-d, "f1_macro": 0-d,
//                                       //  "per_class/f1": [C], "confusion_matrix": [C, C], ...}
#pragma once

#include "gpueval/classification.hpp"
#include "gpueval/torch_evaluator.hpp"

namespace gpueval::torch_adapter {

class TorchClassificationEvaluator {
public:
  TorchClassificationEvaluator(ClassificationSpec spec, torch::Device device = torch::kCPU,
                               int threads = 0);
  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask = c10::nullopt,
              const c10::optional<torch::Tensor>& weight = c10::nullopt) {
    metrics_.update(pred, target, mask, weight);
  }
  ClassificationReport compute();
  // Metrics as 0-d float64 tensors under their report names; "per_class/<m>" ([C] float64),
  // "per_class/support" ([C] int64), "confusion_matrix" ([C, C] int64), "calibration/count",
  // "calibration/confidence", "calibration/accuracy", with spec.by_axis "by_axis/count" ([L]
  // int64) and "by_axis/<m>" ([L] float64), "count", "skipped_invalid".
  TensorDict compute_dict();
  void reset() { metrics_.reset(); }
  torch::Tensor state() { return metrics_.state(); }
  void merge(const torch::Tensor& state) { metrics_.merge(state); }

  const ClassificationSpec& spec() const { return evaluator_->spec(); }
  torch::Device device() const { return metrics_.device(); }

private:
  TorchClassificationEvaluator(std::unique_ptr<ClassificationEvaluator> evaluator,
                               torch::Device device);
  ClassificationEvaluator* evaluator_; // owned by metrics_

  TorchMetrics metrics_;
};

TensorDict report_to_dict(const ClassificationReport& report);

} // namespace gpueval::torch_adapter
