// The families' registry: reports of any family, and evaluators rebuilt from a state. Adding a
// family adds its case here.
#include "gpueval/family.hpp"

#include "core/state_blob.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/evaluator.hpp"
#include "gpueval/metrics.hpp"
#include "gpueval/report.hpp"

namespace gpueval {

AnyReport::AnyReport(Report report)
    : family_(Family::regression), regression_(std::make_shared<Report>(std::move(report))) {}

AnyReport::AnyReport(ClassificationReport report)
    : family_(Family::classification),
      classification_(std::make_shared<ClassificationReport>(std::move(report))) {}

std::string AnyReport::to_json() const {
  return regression_ ? regression_->to_json() : classification_->to_json();
}

void AnyReport::set_io(double elapsed_s, std::uint64_t bytes_read) {
  if (regression_) {
    regression_->elapsed_s = elapsed_s;
    regression_->bytes_read = bytes_read;
  } else {
    classification_->elapsed_s = elapsed_s;
    classification_->bytes_read = bytes_read;
  }
}

void AnyReport::set_device(std::string device) {
  if (regression_) {
    regression_->device = std::move(device);
  } else {
    classification_->device = std::move(device);
  }
}

Family state_family(const State& state) {
  return detail::open_state(state).header.family;
}

std::unique_ptr<AnyEvaluator> evaluator_for_state(const State& state, std::string_view metrics,
                                                  Device device) {
  switch (state_family(state)) {
  case Family::regression: {
    const std::vector<Metric> named =
        metrics.empty() ? std::vector<Metric>{} : parse_metric_list(metrics);
    return std::make_unique<Evaluator>(inspect_state(state).spec(named), device);
  }
  case Family::classification: {
    ClassificationSpec spec = classification_spec_of(state);
    spec.set_metrics(metrics.empty() ? "default" : metrics);
    if (spec.sample_shape.empty()) {
      spec.pred = PredKind::auto_detect; // configured by the merge
    }
    return std::make_unique<ClassificationEvaluator>(std::move(spec), device);
  }
  }
  throw StateError("state of an unknown metric family");
}

} // namespace gpueval
