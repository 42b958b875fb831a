// The geometry family on tensors: TorchGeometryEvaluator, a typed TorchMetrics.
//
//   gpueval::GeometrySpec spec;  spec.key_axis = 1;       // [N, J, 3] poses, per joint
//   TorchGeometryEvaluator ev(spec, torch::kCPU);
//   ev.update(pred, target);
//   auto m = ev.compute_dict();   // {"mpjpe": 0-d, "pa_mpjpe": 0-d, "per_key/mpjpe": [J], ...}
#pragma once

#include "gpueval/geometry.hpp"
#include "gpueval/torch_evaluator.hpp"

namespace gpueval::torch_adapter {

class TorchGeometryEvaluator {
public:
  TorchGeometryEvaluator(GeometrySpec spec, torch::Device device = torch::kCPU, int threads = 0);
  // pred and target: [N, ..., D] with the spec's vector axis; mask, weight and normalizer
  // (PCKh: pck and auc_pck divide each error by it; every update or none) of that shape without
  // the vector axis, or a prefix of it.
  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask = c10::nullopt,
              const c10::optional<torch::Tensor>& weight = c10::nullopt,
              const c10::optional<torch::Tensor>& normalizer = c10::nullopt) {
    if (normalizer.has_value() && normalizer->defined()) {
      metrics_.update(pred, target, mask, weight, {{"normalizer", *normalizer}});
    } else {
      metrics_.update(pred, target, mask, weight);
    }
  }
  GeometryReport compute();
  // Metrics as 0-d float64 tensors under their report names; "per_key/<m>" ([K] float64),
  // "per_key/count" ([K] int64), "pck_curve/thresholds" and "pck_curve/pck" with auc_pck,
  // "count", "skipped_nonfinite", "weight_sum".
  TensorDict compute_dict();
  void reset() { metrics_.reset(); }
  torch::Tensor state() { return metrics_.state(); }
  void merge(const torch::Tensor& state) { metrics_.merge(state); }

  const GeometrySpec& spec() const { return evaluator_->spec(); }
  torch::Device device() const { return metrics_.device(); }

private:
  TorchGeometryEvaluator(std::unique_ptr<GeometryEvaluator> evaluator, torch::Device device);
  GeometryEvaluator* evaluator_; // owned by metrics_

  TorchMetrics metrics_;
};

TensorDict report_to_dict(const GeometryReport& report);

} // namespace gpueval::torch_adapter
