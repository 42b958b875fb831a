// The classification family's registration: its tag, tasks, options, and how the engine makes
// its evaluators (from options, fitted to the first input, or from a state).
#include "classification/family.hpp"

#include "classification/internal.hpp"
#include "core/registry.hpp"
#include "gpueval/classification.hpp"

namespace gpueval::classification {

void register_family() {
  detail::FamilyEntry f;
  f.description = {"classification",
                   kClassificationFamily,
                   {"binary", "multiclass", "multilabel"},
                   ClassificationSpec::option_infos()};
  f.make = [](std::string_view task, const Options& options, Device device,
              const detail::InputShapes* first) -> std::unique_ptr<AnyEvaluator> {
    ClassificationSpec spec = ClassificationSpec::from_options(task, options);
    if (first != nullptr && !first->target.empty()) {
      // Ready before any batch, so that a part of a fanned-out run with no file still has a
      // state that merges: the targets' sample shape, the scores' dtype, and whether the
      // predictions are scores (multiclass scores have one more axis, the class axis).
      spec.sample_shape.assign(first->target.begin() + 1, first->target.end());
      if (!spec.score_dtype) {
        spec.score_dtype = first->pred_dtype;
      }
      if (spec.pred == PredKind::auto_detect) {
        const bool scores = spec.task == ClassTask::multiclass
                                ? first->pred.size() == first->target.size() + 1
                                : dtype_is_float(first->pred_dtype);
        spec.pred = scores ? PredKind::scores : PredKind::labels;
      }
    }
    return std::make_unique<ClassificationEvaluator>(std::move(spec), device);
  };
  f.from_state = [](const State& state, std::string_view metrics, Device device,
                    const Options& report_options) -> std::unique_ptr<AnyEvaluator> {
    ClassificationSpec spec = classification_spec_of(state);
    spec.set_metrics(metrics.empty() ? "default" : metrics);
    apply_report_options(spec, report_options);
    if (spec.sample_shape.empty()) {
      spec.pred = PredKind::auto_detect; // configured by the merge
    }
    return std::make_unique<ClassificationEvaluator>(std::move(spec), device);
  };
  detail::register_family(std::move(f));
}

} // namespace gpueval::classification
