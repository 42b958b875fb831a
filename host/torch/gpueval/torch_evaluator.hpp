// gpueval for LibTorch trainers: an Evaluator that takes torch::Tensor, zero-copy.
//
//   gpueval::torch_adapter::TorchEvaluator ev(spec, torch::kCPU);   // or torch::Device("cuda:0")
//   ev.update(pred, target);            // every batch; CUDA: on the current stream, no sync
//   auto metrics = ev.compute_dict();   // {"r2": scalar, "per_channel/r2": [C], ...}
//
// Inputs are checked with TORCH_CHECK (c10::Error naming both sides of a mismatch). CPU tensors
// go to the CPU backend; a CPU tensor given to a CUDA evaluator, or the reverse, is an error.
#pragma once

#include <torch/torch.h>

#include <string>

#include "gpueval/classification.hpp"
#include "gpueval/evaluator.hpp"

namespace gpueval::torch_adapter {

class TorchEvaluator {
public:
  // `device`: where the tensors will live. CPU: `threads` workers (0: one per core).
  TorchEvaluator(RegressionSpec spec, torch::Device device = torch::kCPU, int threads = 0);

  // pred and target: same shape and device, any strides; mask optional (bool/uint8, the
  // tensor's shape or a prefix of it). CUDA tensors: the device is guarded and the update is
  // enqueued on the current CUDA stream, so it orders with the trainer's kernels.
  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask = c10::nullopt);

  Report compute();
  // Headline values as 0-d float64 tensors under their metric names; "flat/<m>",
  // "per_channel/<m>" ([C] float64), "per_channel/count" ([C] int64), "by_axis/<m>",
  // "variance_weighted/r2", "count", "skipped_nonfinite".
  c10::Dict<std::string, torch::Tensor> compute_dict();
  void reset();
  // The epoch state as a 1-d uint8 tensor (all-gather it across ranks, then merge()).
  torch::Tensor state();
  void merge(const torch::Tensor& state);

  const RegressionSpec& spec() const { return evaluator_.spec(); }
  torch::Device device() const { return device_; }

private:
  torch::Device device_;
  Evaluator evaluator_;
};

// A Report as tensors (what compute_dict returns).
c10::Dict<std::string, torch::Tensor> report_to_dict(const Report& report);

// The classification family (gpueval/classification.hpp) on tensors, as TorchEvaluator:
//
//   gpueval::ClassificationSpec spec;  spec.task = gpueval::ClassTask::multiclass;
//   spec.num_classes = 10;
//   TorchClassificationEvaluator ev(spec, torch::kCUDA);
//   ev.update(logits, labels);          // [N, C, ...] scores or [N, ...] labels; int targets
//   auto m = ev.compute_dict();         // {"accuracy": 0-d, "f1_macro": 0-d,
//                                       //  "per_class/f1": [C], "confusion_matrix": [C, C], ...}
class TorchClassificationEvaluator {
public:
  TorchClassificationEvaluator(ClassificationSpec spec, torch::Device device = torch::kCPU,
                               int threads = 0);
  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask = c10::nullopt);
  ClassificationReport compute();
  // Metrics as 0-d float64 tensors under their report names; "per_class/<m>" ([C] float64),
  // "per_class/support" ([C] int64), "confusion_matrix" ([C, C] int64), "calibration/count",
  // "calibration/confidence", "calibration/accuracy", "count", "skipped_invalid".
  c10::Dict<std::string, torch::Tensor> compute_dict();
  void reset();
  torch::Tensor state();
  void merge(const torch::Tensor& state);

  const ClassificationSpec& spec() const { return evaluator_.spec(); }
  torch::Device device() const { return device_; }

private:
  torch::Device device_;
  ClassificationEvaluator evaluator_;
};

c10::Dict<std::string, torch::Tensor> report_to_dict(const ClassificationReport& report);

} // namespace gpueval::torch_adapter
