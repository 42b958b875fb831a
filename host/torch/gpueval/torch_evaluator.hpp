// gpueval for LibTorch trainers: evaluators that take torch::Tensor, zero-copy.
//
//   gpueval::torch_adapter::TorchMetrics ev("multiclass", {{"num_classes", "10"}}, torch::kCUDA);
//   ev.update(logits, labels);          // every batch; CUDA: on the current stream, no sync
//   auto metrics = ev.compute_dict();   // {"accuracy": 0-d, "per_class/f1": [C], ...}
//
// TorchMetrics is any family, by task and options (gpueval/family.hpp); each family also has its
// typed evaluator (TorchEvaluator for regression, TorchClassificationEvaluator,
// TorchGeometryEvaluator), included below.
// Inputs are checked with TORCH_CHECK (c10::Error naming both sides of a mismatch). CPU tensors
// go to the CPU backend; a CPU tensor given to a CUDA evaluator, or the reverse, is an error.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpueval/family.hpp"

namespace gpueval::torch_adapter {

// A report as named tensors: headline values as 0-d float64 tensors under their metric names,
// and the family's breakdowns under "<breakdown>/<name>" (each family's header lists its keys).
using TensorDict = c10::Dict<std::string, torch::Tensor>;

class TorchMetrics {
public:
  // An evaluator for `task` from the family's options. `device`: where the tensors will live.
  // CPU: `threads` workers (0: one per core).
  TorchMetrics(const std::string& task, const Options& options, torch::Device device = torch::kCPU,
               int threads = 0);
  TorchMetrics(std::unique_ptr<AnyEvaluator> evaluator, torch::Device device);

  // pred and target on the evaluator's device, any strides; mask optional (bool/uint8, the
  // target's shape or a prefix of it). CUDA tensors: the device is guarded and the update is
  // enqueued on the current CUDA stream, so it orders with the trainer's kernels; the tensors
  // stay referenced until the device has run it. weight optional: a float tensor of the mask's
  // shapes, finite and >= 0 (scikit-learn's sample_weight; see the family's update).
  // inputs: the family's own inputs by name (AnyEvaluator::update_with,
  // FamilyDescription::inputs), on the tensors' device.
  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask = c10::nullopt,
              const c10::optional<torch::Tensor>& weight = c10::nullopt,
              const std::vector<std::pair<std::string, torch::Tensor>>& inputs = {});
  AnyReport compute();
  TensorDict compute_dict();
  // On CUDA, enqueued on the current stream (later updates on any stream wait for it).
  void reset();
  // The epoch state as a 1-d uint8 tensor (all-gather it across ranks, then merge()).
  torch::Tensor state();
  void merge(const torch::Tensor& state);

  torch::Device device() const { return device_; }
  AnyEvaluator& evaluator() { return *evaluator_; }

private:
  torch::Device device_;
  std::unique_ptr<AnyEvaluator> evaluator_;
};

// Any family's report as tensors (what compute_dict returns).
TensorDict report_to_dict(const AnyReport& report);

// How a family's report becomes tensors: each family registers one (host/torch/families.cpp).
void register_report_dict(Family family, std::function<TensorDict(const AnyReport&)> convert);

} // namespace gpueval::torch_adapter

// Each family's typed evaluator.
#include "gpueval/torch_classification.hpp"
#include "gpueval/torch_geometry.hpp"
#include "gpueval/torch_regression.hpp"
