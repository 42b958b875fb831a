// The geometry family for Python: its report crosses as JSON (gpueval.GeometryReport reads it),
// its metric table and what a state records. The evaluator is the generic one (evaluator.cpp).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <tuple>
#include <vector>

#include "binding.hpp"
#include "gpueval/geometry.hpp"

namespace gpueval::python {

void bind_geometry(nb::module_& m) {
  register_report(kGeometryFamily, [](const AnyReport& any) { return nb::cast(any.to_json()); });
  m.def(
      "geometry_metric_table",
      [] {
        std::vector<std::tuple<std::string, bool, std::string>> out;
        for (const GeoMetricInfo& info : geo_metric_table()) {
          out.emplace_back(std::string(info.name), false, std::string(info.description));
        }
        return out;
      },
      "Every geometry metric as (name, opt_in, description), in report order.");
  m.def(
      "inspect_geometry_state",
      [](const nb::bytes& blob) {
        const GeometrySpec s = geometry_state_spec(state_of(blob));
        nb::dict d;
        std::vector<std::string> metrics;
        for (GeoMetric metric : s.metrics) {
          metrics.emplace_back(geo_metric_name(metric));
        }
        d["metrics"] = metrics;
        d["vector_axis"] = s.vector_axis;
        d["key_axis"] = s.key_axis;
        d["time_axis"] = s.time_axis;
        d["mode_axis"] = s.mode_axis;
        d["by_axis"] = s.by_axis;
        d["miss_threshold"] = s.miss_threshold;
        d["quantile_alpha"] = s.quantile_alpha;
        d["sample_axes"] = std::vector<int>(s.sample_axes.begin(), s.sample_axes.end());
        d["pck_thresholds"] = s.pck_thresholds;
        d["auc_max"] = s.auc_max;
        d["auc_steps"] = s.auc_steps;
        d["outlier_abs"] = s.outlier_abs;
        d["outlier_rel"] = s.outlier_rel;
        d["nan_policy"] = std::string(nan_policy_name(s.nan_policy));
        d["sample_shape"] = s.sample_shape;
        return d;
      },
      nb::arg("state"), "The spec a geometry state was made with.");
}

} // namespace gpueval::python
