// The regression family's registration: its tag, task, options, and how the engine makes its
// evaluators (from options, or from a state).
#include "regression/family.hpp"

#include "core/registry.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"

namespace gpueval::regression {

void register_family() {
  detail::FamilyEntry f;
  f.description = {"regression", kRegressionFamily, {"regression"}, RegressionSpec::option_infos()};
  f.make = [](std::string_view, const Options& options, Device device,
              const detail::InputShapes* first) -> std::unique_ptr<AnyEvaluator> {
    RegressionSpec spec = RegressionSpec::from_options(options);
    if (first != nullptr && !first->target.empty()) {
      spec.sample_shape.assign(first->target.begin() + 1, first->target.end());
      spec.validate();
    }
    return std::make_unique<RegressionEvaluator>(std::move(spec), device);
  };
  f.from_state = [](const State& state, std::string_view metrics, Device device,
                    const Options& report_options) -> std::unique_ptr<AnyEvaluator> {
    GPUEVAL_EXPECTS(report_options.empty(),
                    "option '" +
                        (report_options.empty() ? std::string() : report_options.begin()->first) +
                        "' is not a regression report option: a regression state fixes its spec "
                        "(--metrics chooses the reported metrics)");
    const std::vector<Metric> named =
        metrics.empty() ? std::vector<Metric>{} : parse_metric_list(metrics);
    return std::make_unique<RegressionEvaluator>(inspect_state(state).spec(named), device);
  };
  detail::register_family(std::move(f));
}

} // namespace gpueval::regression
