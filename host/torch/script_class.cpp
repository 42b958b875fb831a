// The TorchScript custom class torch.classes.gpueval.Evaluator, so that a Python trainer can
// torch.classes.load_library() this library and use gpueval with no separate binding:
//
//   torch.classes.load_library("libgpueval_torch.so")
//   ev = torch.classes.gpueval.Evaluator("default", "-1", None, "skip", "cpu", 0)
//   ev.update(pred, target, None)       # every batch
//   metrics = ev.compute()              # Dict[str, Tensor]; ev.compute_json() for the report
//   blob = ev.state()                   # uint8 tensor: all-gather it, then ev.merge(other)
//
// and torch.classes.gpueval.Classifier for the classification family (same methods).
#include <torch/custom_class.h>
#include <torch/script.h>

#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/torch_evaluator.hpp"

namespace gpueval::torch_adapter {

namespace {

RegressionSpec make_spec(const std::string& metrics, const std::string& channel_axis,
                         c10::optional<std::int64_t> by_axis, const std::string& nan_policy) {
  RegressionSpec spec;
  try {
    spec.metrics = parse_metric_list(metrics);
    spec.nan_policy = parse_nan_policy(nan_policy);
    if (channel_axis == "none") {
      spec.channel_axis.reset();
    } else {
      TORCH_CHECK(channel_axis == "-1", "gpueval: channel_axis '", channel_axis,
                  "' is not supported: \"-1\" (the last axis) or \"none\"");
    }
    if (by_axis.has_value()) {
      spec.by_axis = static_cast<int>(*by_axis);
    }
    spec.validate();
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
  return spec;
}

struct ScriptEvaluator : torch::CustomClassHolder {
  ScriptEvaluator(const std::string& metrics, const std::string& channel_axis,
                  c10::optional<std::int64_t> by_axis, const std::string& nan_policy,
                  const std::string& device, std::int64_t threads)
      : ev(make_spec(metrics, channel_axis, by_axis, nan_policy), torch::Device(device),
           static_cast<int>(threads)) {}

  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask) {
    ev.update(pred, target, mask);
  }
  c10::Dict<std::string, torch::Tensor> compute() { return ev.compute_dict(); }
  std::string compute_json() { return ev.compute().to_json(); }
  void reset() { ev.reset(); }
  torch::Tensor state() { return ev.state(); }
  void merge(const torch::Tensor& state) { ev.merge(state); }

  TorchEvaluator ev;
};

ClassificationSpec make_class_spec(const std::string& task, std::int64_t num_classes,
                                   const std::string& metrics, const std::string& scores,
                                   double threshold, std::int64_t class_axis, std::int64_t top_k,
                                   c10::optional<std::int64_t> ignore_index, std::int64_t bins,
                                   double beta, const std::string& nan_policy) {
  ClassificationSpec spec;
  try {
    spec.task = parse_class_task(task);
    spec.num_classes = num_classes;
    spec.set_metrics(metrics);
    TORCH_CHECK(scores == "probabilities" || scores == "logits", "gpueval: scores '", scores,
                "' is not probabilities or logits");
    spec.scores = scores == "logits" ? ScoreKind::logits : ScoreKind::probabilities;
    spec.threshold = threshold;
    spec.class_axis = static_cast<int>(class_axis);
    spec.top_k = static_cast<int>(top_k);
    if (ignore_index.has_value()) {
      spec.ignore_index = *ignore_index;
    }
    spec.bins = static_cast<int>(bins);
    spec.beta = beta;
    spec.nan_policy = parse_nan_policy(nan_policy);
    spec.validate();
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
  return spec;
}

struct ScriptClassifier : torch::CustomClassHolder {
  ScriptClassifier(const std::string& task, std::int64_t num_classes, const std::string& metrics,
                   const std::string& scores, double threshold, std::int64_t class_axis,
                   std::int64_t top_k, c10::optional<std::int64_t> ignore_index, std::int64_t bins,
                   double beta, const std::string& nan_policy, const std::string& device,
                   std::int64_t threads)
      : ev(make_class_spec(task, num_classes, metrics, scores, threshold, class_axis, top_k,
                           ignore_index, bins, beta, nan_policy),
           torch::Device(device), static_cast<int>(threads)) {}

  void update(const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask) {
    ev.update(pred, target, mask);
  }
  c10::Dict<std::string, torch::Tensor> compute() { return ev.compute_dict(); }
  std::string compute_json() { return ev.compute().to_json(); }
  void reset() { ev.reset(); }
  torch::Tensor state() { return ev.state(); }
  void merge(const torch::Tensor& state) { ev.merge(state); }

  TorchClassificationEvaluator ev;
};

} // namespace

TORCH_LIBRARY(gpueval, m) {
  m.class_<ScriptEvaluator>("Evaluator")
      .def(torch::init<std::string, std::string, c10::optional<std::int64_t>, std::string,
                       std::string, std::int64_t>())
      .def("update", &ScriptEvaluator::update)
      .def("compute", &ScriptEvaluator::compute)
      .def("compute_json", &ScriptEvaluator::compute_json)
      .def("reset", &ScriptEvaluator::reset)
      .def("state", &ScriptEvaluator::state)
      .def("merge", &ScriptEvaluator::merge);
  // torch.classes.gpueval.Classifier(task, num_classes, metrics, scores, threshold, class_axis,
  //                                   top_k, ignore_index, bins, beta, nan_policy, device, threads)
  m.class_<ScriptClassifier>("Classifier")
      .def(torch::init<std::string, std::int64_t, std::string, std::string, double, std::int64_t,
                       std::int64_t, c10::optional<std::int64_t>, std::int64_t, double, std::string,
                       std::string, std::int64_t>())
      .def("update", &ScriptClassifier::update)
      .def("compute", &ScriptClassifier::compute)
      .def("compute_json", &ScriptClassifier::compute_json)
      .def("reset", &ScriptClassifier::reset)
      .def("state", &ScriptClassifier::state)
      .def("merge", &ScriptClassifier::merge);
}

} // namespace gpueval::torch_adapter
