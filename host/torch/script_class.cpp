// The TorchScript custom class torch.classes.gpueval.Metrics: any family, by task and options, so
// that a Python trainer can torch.classes.load_library() this library and use gpueval with no
// separate binding:
//
//   torch.classes.load_library("libgpueval_torch.so")
//   ev = torch.classes.gpueval.Metrics("multiclass", {"num_classes": "10"}, "cpu", 0)
//   ev.update(pred, target, None)       # every batch
//   metrics = ev.compute()              # Dict[str, Tensor]; ev.compute_json() for the report
//   blob = ev.state()                   # uint8 tensor: all-gather it, then ev.merge(other)
//
// Each family may add its own typed class beside it, in its own file (host/torch/torch_<family>).
#include <torch/custom_class.h>
#include <torch/script.h>

#include "gpueval/torch_evaluator.hpp"
#include "torch_common.hpp"

namespace gpueval::torch_adapter {

namespace {

Options options_of(const c10::Dict<std::string, std::string>& d) {
  Options o;
  for (const auto& entry : d) {
    o[entry.key()] = entry.value();
  }
  return o;
}

struct ScriptMetrics : torch::CustomClassHolder {
  ScriptMetrics(const std::string& task, const c10::Dict<std::string, std::string>& options,
                const std::string& device, std::int64_t threads)
      : ev(task, options_of(options), torch::Device(device), static_cast<int>(threads)) {}

  TorchMetrics ev;
};

} // namespace

TORCH_LIBRARY(gpueval, m) {
  auto c = m.class_<ScriptMetrics>("Metrics");
  c.def(torch::init<std::string, c10::Dict<std::string, std::string>, std::string, std::int64_t>());
  def_evaluator_methods(c);
}

} // namespace gpueval::torch_adapter
