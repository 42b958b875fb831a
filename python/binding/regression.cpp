// The regression family for Python: its report (gpueval._core.Report, which gpueval.Report
// wraps), its metric table and what a state records. The evaluator is the generic one
// (evaluator.cpp).
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "binding.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"
#include "gpueval/state.hpp"
#include "gpueval/version.hpp"

namespace gpueval::python {

namespace {

std::optional<nb::ndarray<nb::numpy, double>> by_axis_values(const Report& r) {
  if (r.by_axis_index < 0) {
    return std::nullopt;
  }
  return to_numpy(r.by_axis, r.by_axis_count.size());
}

nb::dict inspect(const nb::bytes& blob) {
  const StateInfo info = inspect_state(state_of(blob));
  nb::dict d;
  std::vector<std::string> metrics;
  for (Metric metric : metrics_for_groups(info.groups)) {
    metrics.emplace_back(metric_name(metric));
  }
  d["metrics"] = metrics;
  d["statistics"] = group_names(info.groups);
  d["nan_policy"] = std::string(nan_policy_name(info.nan_policy));
  d["channel_axis"] = info.channel_axis;
  d["by_axis"] = info.by_axis;
  d["sample_shape"] = info.sample_shape;
  d["keys"] = info.keys;
  d["batches"] = info.batches;
  d["count"] = info.count;
  d["quantile_alpha"] = info.quantile_alpha;
  return d;
}

} // namespace

void bind_regression(nb::module_& m) {
  // Result arrays own copies of the report's values (the default for properties would tie them
  // to the report object instead).
  constexpr auto kOwned = nb::rv_policy::move;
  nb::class_<Report>(m, "Report", "The C++ report; gpueval.Report wraps it.")
      .def_prop_ro("metrics",
                   [](const Report& r) {
                     std::vector<std::string> out;
                     for (Metric metric : r.spec.metrics) {
                       out.emplace_back(metric_name(metric));
                     }
                     return out;
                   })
      .def_ro("device", &Report::device)
      .def_ro("count", &Report::count)
      .def_ro("weight_sum", &Report::weight_sum)
      .def_ro("skipped_nonfinite", &Report::skipped_nonfinite)
      .def_ro("channels", &Report::channels)
      .def_prop_ro(
          "headline", [](const Report& r) { return to_numpy(r.headline); }, kOwned)
      .def_prop_ro(
          "flat", [](const Report& r) { return to_numpy(r.flat); }, kOwned)
      .def_ro("variance_weighted_r2", &Report::variance_weighted_r2)
      .def_ro("variance_weighted_explained_variance", &Report::variance_weighted_explained_variance)
      .def_prop_ro(
          "per_channel",
          [](const Report& r) { return to_numpy(r.per_channel, r.per_channel_count.size()); },
          kOwned)
      .def_prop_ro(
          "per_channel_count", [](const Report& r) { return to_numpy(r.per_channel_count); },
          kOwned)
      .def_prop_ro("by_axis", &by_axis_values, kOwned)
      .def_prop_ro(
          "by_axis_per_channel",
          [](const Report& r) -> std::optional<nb::ndarray<nb::numpy, double>> {
            if (r.by_axis_index < 0) {
              return std::nullopt;
            }
            return to_numpy(r.by_axis_per_channel,
                            r.by_axis_count.size() * static_cast<std::size_t>(r.channels));
          },
          kOwned)
      .def_prop_ro(
          "by_axis_count", [](const Report& r) { return to_numpy(r.by_axis_count); }, kOwned)
      .def_prop_ro("by_axis_index",
                   [](const Report& r) {
                     return r.by_axis_index < 0 ? std::nullopt
                                                : std::optional<int>(r.by_axis_index);
                   })
      .def_prop_ro("channel_axis", [](const Report& r) { return r.spec.channel_axis; })
      .def_prop_ro("nan_policy",
                   [](const Report& r) { return std::string(nan_policy_name(r.spec.nan_policy)); })
      .def_prop_ro("quantile_alpha", [](const Report& r) { return r.spec.quantile_alpha; })
      .def_ro("quantile_accuracy", &Report::quantile_accuracy)
      .def_ro("quantile_bits", &Report::quantile_bits)
      .def_ro("elapsed_s", &Report::elapsed_s)
      .def_ro("bytes_read", &Report::bytes_read)
      .def_prop_ro("version", [](const Report&) { return std::string(kVersion); })
      .def("to_json", &Report::to_json, "The JSON object of schema gpueval.report/1.");

  register_report(kRegressionFamily,
                  [](const AnyReport& r) { return nb::cast(*r.as<RegressionReport>()); });

  m.def(
      "regression_metrics",
      [](const Options& options) {
        std::vector<std::string> names;
        for (Metric metric : RegressionSpec::from_options(options).metrics) {
          names.emplace_back(metric_name(metric));
        }
        return names;
      },
      nb::arg("options"),
      "The metric names the options select, in report order; ValueError for options the engine "
      "would refuse.");
  m.def("inspect_state", &inspect, nb::arg("state"),
        "What a state blob records: the metrics it can report, the statistics, axes, nan "
        "policy, sample shape, keys, batches and pairs.");
  m.def(
      "metric_table",
      [] {
        std::vector<std::tuple<std::string, bool, std::string>> out;
        for (const MetricInfo& info : metric_table()) {
          out.emplace_back(std::string(info.name), info.opt_in, std::string(info.description));
        }
        return out;
      },
      "Every regression metric as (name, opt_in, description), in report order.");
}

} // namespace gpueval::python
