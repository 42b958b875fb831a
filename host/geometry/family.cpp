// The geometry family's registration: its tag, task, options, and how the engine makes its
// evaluators (from options, fitted to the first input, or from a state).
#include "geometry/family.hpp"

#include "core/registry.hpp"
#include "gpueval/error.hpp"
#include "gpueval/geometry.hpp"

namespace gpueval::geometry {

void register_family() {
  detail::FamilyEntry f;
  f.description = {
      "geometry",
      kGeometryFamily,
      {"geometry"},
      GeometrySpec::option_infos(),
      {{"normalizer", "per-sample scale of the PCK thresholds (PCKh: the head size)"}}};
  f.make = [](std::string_view, const Options& options, Device device,
              const detail::InputShapes* first) -> std::unique_ptr<AnyEvaluator> {
    GeometrySpec spec = GeometrySpec::from_options(options);
    if (first != nullptr && !first->target.empty()) {
      spec.sample_shape.assign(first->target.begin() + 1, first->target.end());
      spec.validate();
    }
    return std::make_unique<GeometryEvaluator>(std::move(spec), device);
  };
  f.from_state = [](const State& state, std::string_view metrics, Device device,
                    const Options& report_options) -> std::unique_ptr<AnyEvaluator> {
    GPUEVAL_EXPECTS(report_options.empty(),
                    "option '" +
                        (report_options.empty() ? std::string() : report_options.begin()->first) +
                        "' is not a geometry report option: a geometry state fixes its spec");
    GeometrySpec spec = geometry_state_spec(state);
    GPUEVAL_EXPECTS(metrics.empty() || metrics == "default",
                    "a geometry state reports the metrics it was made with; --metrics is not "
                    "taken for it");
    return std::make_unique<GeometryEvaluator>(std::move(spec), device);
  };
  detail::register_family(std::move(f));
}

} // namespace gpueval::geometry
