// The classification family for Python: its report crosses as JSON (every value round-trips: 17
// digits; gpueval.ClassificationReport reads it), its metric table and what a state records. The
// evaluator is the generic one (evaluator.cpp).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "binding.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"

namespace gpueval::python {

void bind_classification(nb::module_& m) {
  // The report as (JSON, curves): the binary ROC and PR curves (up to 6,000 numbers) cross as
  // float64 arrays, not as JSON text to parse, which took most of a per-step ev()'s time.
  register_report(kClassificationFamily, [](const AnyReport& any) {
    ClassificationReport r = *any.as<ClassificationReport>();
    nb::dict curves;
    const auto take = [&](const char* name, std::vector<double>& v) {
      if (!v.empty()) {
        curves[name] = to_numpy(v);
        v.clear();
      }
    };
    take("roc_fpr", r.roc_fpr);
    take("roc_tpr", r.roc_tpr);
    take("roc_threshold", r.roc_threshold);
    take("pr_recall", r.pr_recall);
    take("pr_precision", r.pr_precision);
    take("pr_threshold", r.pr_threshold);
    return nb::make_tuple(r.to_json(), curves);
  });
  m.def(
      "classification_metric_table",
      [] {
        std::vector<std::tuple<std::string, bool, std::string>> out;
        for (int i = 0; i < kNumClassMetrics; ++i) {
          const ClassMetricInfo& info = class_metric_info(static_cast<ClassMetric>(i));
          out.emplace_back(std::string(info.name), info.opt_in, std::string(info.description));
        }
        return out;
      },
      "Every classification metric as (name, opt_in, description), in report order.");
  m.def(
      "inspect_classification_state",
      [](const nb::bytes& blob) {
        const ClassificationSpec s = classification_spec_of(state_of(blob));
        nb::dict d;
        d["task"] = std::string(class_task_name(s.task));
        d["num_classes"] = s.num_classes;
        d["scores"] = std::string(s.scores == ScoreKind::logits ? "logits" : "probabilities");
        d["pred"] = std::string(s.pred == PredKind::scores ? "scores" : "labels");
        d["threshold"] = s.threshold;
        d["class_axis"] = s.class_axis;
        d["top_k"] = s.top_k;
        d["ignore_index"] = s.ignore_index;
        d["bins"] = s.bins;
        d["beta"] = s.beta; // the state's per-sample F-beta's, else the default
        d["nan_policy"] = std::string(nan_policy_name(s.nan_policy));
        d["invalid"] = std::string(invalid_policy_name(s.invalid));
        d["sample_shape"] = s.sample_shape;
        d["histogram_budget"] = s.histogram_budget;
        if (s.by_axis) {
          d["by_axis"] = *s.by_axis;
        } else {
          d["by_axis"] = nb::none();
        }
        if (s.confusion_matrix) {
          d["confusion_matrix"] = *s.confusion_matrix;
        } else {
          d["confusion_matrix"] = nb::none();
        }
        return d;
      },
      nb::arg("state"), "The spec a classification state was made with.");
}

} // namespace gpueval::python
