// The classification family on tensors: TorchClassificationEvaluator, its report as tensors, and
// the TorchScript class torch.classes.gpueval.Classifier (the methods of Evaluator).
#include <torch/custom_class.h>
#include <torch/script.h>

#include "gpueval/torch_classification.hpp"
#include "torch_common.hpp"

namespace gpueval::torch_adapter {

TorchClassificationEvaluator::TorchClassificationEvaluator(ClassificationSpec spec,
                                                           torch::Device device, int threads)
    : TorchClassificationEvaluator(
          make_typed<ClassificationEvaluator>(std::move(spec), device, threads), device) {}

TorchClassificationEvaluator::TorchClassificationEvaluator(
    std::unique_ptr<ClassificationEvaluator> evaluator, torch::Device device)
    : evaluator_(evaluator.get()), metrics_(std::move(evaluator), device) {}

ClassificationReport TorchClassificationEvaluator::compute() {
  return *metrics_.compute().as<ClassificationReport>();
}

TensorDict TorchClassificationEvaluator::compute_dict() {
  return report_to_dict(compute());
}

TensorDict report_to_dict(const ClassificationReport& r) {
  TensorDict d;
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    d.insert(r.names[i], scalar(r.values[i]));
  }
  // Weighted reports: the weight sums behind the metrics, as float64, in place of the counts.
  const auto sums = [&](const std::vector<std::uint64_t>& n, const std::vector<double>& w) {
    return r.weighted ? doubles(w) : counts(n);
  };
  d.insert("per_class/support", sums(r.support, r.weight_sums.support));
  for (std::size_t i = 0; i < r.per_class_names.size(); ++i) {
    d.insert("per_class/" + r.per_class_names[i], doubles(r.per_class[i]));
  }
  if (!r.confusion_matrix.empty()) {
    d.insert(
        "confusion_matrix",
        sums(r.confusion_matrix, r.weight_sums.confusion_matrix).reshape({r.classes, r.classes}));
  }
  if (!r.calibration_count.empty()) {
    d.insert("calibration/count", sums(r.calibration_count, r.weight_sums.calibration_count));
    d.insert("calibration/confidence", doubles(r.calibration_confidence));
    d.insert("calibration/accuracy", doubles(r.calibration_accuracy));
  }
  if (r.by_axis_index >= 0) { // per index of the breakdown axis
    d.insert("by_axis/count", sums(r.by_axis_count, r.by_axis_weight));
    for (std::size_t i = 0; i < r.by_axis_names.size(); ++i) {
      d.insert("by_axis/" + r.by_axis_names[i], doubles(r.by_axis[i]));
    }
  }
  d.insert("count", count(r.count));
  d.insert("skipped_invalid", count(r.skipped_invalid));
  d.insert("weight_sum", torch::tensor(r.weight_sum, torch::dtype(torch::kDouble)));
  return d;
}

void register_classification_dict() {
  register_report_dict(kClassificationFamily, [](const AnyReport& r) {
    return report_to_dict(*r.as<ClassificationReport>());
  });
}

namespace {

// torch.classes.gpueval.Classifier(task, num_classes, metrics, scores, threshold, class_axis,
//                                   top_k, ignore_index, bins, beta, nan_policy, device, threads):
// the family's options, parsed by the family (ClassificationSpec::from_options).
struct ScriptClassifier : torch::CustomClassHolder {
  ScriptClassifier(const std::string& task, std::int64_t num_classes, const std::string& metrics,
                   const std::string& scores, double threshold, std::int64_t class_axis,
                   std::int64_t top_k, c10::optional<std::int64_t> ignore_index, std::int64_t bins,
                   double beta, const std::string& nan_policy, const std::string& device,
                   std::int64_t threads)
      : ev(task,
           options(num_classes, metrics, scores, threshold, class_axis, top_k, ignore_index, bins,
                   beta, nan_policy),
           torch::Device(device), static_cast<int>(threads)) {}

  static Options options(std::int64_t num_classes, const std::string& metrics,
                         const std::string& scores, double threshold, std::int64_t class_axis,
                         std::int64_t top_k, c10::optional<std::int64_t> ignore_index,
                         std::int64_t bins, double beta, const std::string& nan_policy) {
    Options o{{"num_classes", std::to_string(num_classes)},
              {"metrics", metrics},
              {"scores", scores},
              {"threshold", detail_text(threshold)},
              {"class_axis", std::to_string(class_axis)},
              {"top_k", std::to_string(top_k)},
              {"bins", std::to_string(bins)},
              {"beta", detail_text(beta)},
              {"nan_policy", nan_policy}};
    if (ignore_index.has_value()) {
      o["ignore_index"] = std::to_string(*ignore_index);
    }
    return o;
  }
  // 17 significant digits: the double round-trips through the option text.
  static std::string detail_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }

  TorchMetrics ev;
};

} // namespace

TORCH_LIBRARY_FRAGMENT(gpueval, m) {
  auto c = m.class_<ScriptClassifier>("Classifier");
  c.def(torch::init<std::string, std::int64_t, std::string, std::string, double, std::int64_t,
                    std::int64_t, c10::optional<std::int64_t>, std::int64_t, double, std::string,
                    std::string, std::int64_t>());
  def_evaluator_methods(c);
}

} // namespace gpueval::torch_adapter
