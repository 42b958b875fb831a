// The regression family on tensors: TorchEvaluator, a typed TorchMetrics.
//
//   gpueval::torch_adapter::TorchEvaluator ev(spec, torch::kCPU);   // or torch::Device("cuda:0")
//   ev.update(pred, target);
//   auto metrics = ev.compute_dict();   // {"r2": scalar, "per_channel/r2": [C], ...}
#pragma once

#include "gpueval/regression.hpp"
#include "gpueval/torch_evaluator.hpp"

namespace gpueval::torch_adapter {

class TorchEvaluator {
public:
  TorchEvaluator(RegressionSpec spec, torch::Device device = torch::kCPU, int threads = 0);

  // pred and target: the same shape (see TorchMetrics::update).
  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask = c10::nullopt,
              const c10::optional<torch::Tensor>& weight = c10::nullopt);
  Report compute();
  // Headline values as 0-d float64 tensors under their metric names; "flat/<m>",
  // "per_channel/<m>" ([C] float64), "per_channel/count" ([C] int64), "by_axis/<m>",
  // "variance_weighted/r2", "count", "skipped_nonfinite".
  TensorDict compute_dict();
  void reset() { metrics_.reset(); }
  torch::Tensor state() { return metrics_.state(); }
  void merge(const torch::Tensor& state) { metrics_.merge(state); }

  const RegressionSpec& spec() const { return evaluator_->spec(); }
  torch::Device device() const { return metrics_.device(); }

private:
  TorchEvaluator(std::unique_ptr<RegressionEvaluator> evaluator, torch::Device device);
  RegressionEvaluator* evaluator_; // owned by metrics_

  TorchMetrics metrics_;
};

// A Report as tensors (what compute_dict returns).
TensorDict report_to_dict(const Report& report);

} // namespace gpueval::torch_adapter
