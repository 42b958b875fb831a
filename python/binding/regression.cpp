// The regression family for Python: gpueval._core.Evaluator over the C++ Evaluator, and the
// Report it returns. Conversions and locking only; everything Pythonic (defaults, device
// resolution, streams, the Report's dicts) lives in python/gpueval/.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "binding.hpp"
#include "gpueval/error.hpp"
#include "gpueval/evaluator.hpp"
#include "gpueval/metrics.hpp"
#include "gpueval/state.hpp"
#include "gpueval/version.hpp"

namespace gpueval::python {

namespace {

RegressionSpec make_spec(const std::string& metrics, std::optional<int> channel_axis,
                         std::optional<int> by_axis, const std::string& nan_policy,
                         std::optional<std::vector<std::int64_t>> sample_shape,
                         double quantile_alpha) {
  RegressionSpec spec;
  spec.quantile_alpha = quantile_alpha;
  spec.metrics = parse_metric_list(metrics);
  spec.channel_axis = channel_axis;
  spec.by_axis = by_axis;
  spec.nan_policy = parse_nan_policy(nan_policy);
  if (sample_shape) {
    spec.sample_shape = *sample_shape;
  }
  spec.validate();
  return spec;
}

StreamHandle stream_of(std::uintptr_t s) {
  return reinterpret_cast<StreamHandle>(s);
}

State state_of(const nb::bytes& blob) {
  State s;
  const auto* p = static_cast<const std::uint8_t*>(blob.data());
  s.bytes.assign(p, p + blob.size());
  return s;
}

// One C++ Evaluator, with a lock: the GIL is released while it works, and two Python threads
// must not update one evaluator at once.
class PyEvaluator {
public:
  PyEvaluator(const std::string& metrics, std::optional<int> channel_axis,
              std::optional<int> by_axis, const std::string& nan_policy, const std::string& device,
              int threads, std::optional<std::vector<std::int64_t>> sample_shape,
              double quantile_alpha)
      : ev_(make_spec(metrics, channel_axis, by_axis, nan_policy, std::move(sample_shape),
                      quantile_alpha),
            parse_device(device, threads)) {}

  void update(const Array& pred, const Array& target, const std::optional<Array>& mask,
              std::uintptr_t stream) {
    const TensorView p = view_of(pred, "pred");
    const TensorView t = view_of(target, "target");
    const TensorView m = mask ? view_of(*mask, "mask") : TensorView{};
    // On CUDA the arrays stay referenced until the device has run the update.
    std::shared_ptr<void> inputs = cuda_ ? keep_inputs(pred, target, mask) : nullptr;
    const Locked lock(mu_);
    ev_.update(p, t, m, stream_of(stream));
    if (inputs) {
      ev_.keep_until_done(std::move(inputs));
    }
  }

  // `device_label` replaces the report's device description (a join of several ranks).
  Report compute(std::uintptr_t stream, const std::optional<std::string>& device_label) {
    Report r;
    {
      const Locked lock(mu_);
      r = ev_.compute(stream_of(stream));
    }
    if (device_label) {
      r.device = *device_label;
    }
    return r;
  }

  // Enqueued on `stream` (CUDA); later operations on any stream wait for it on the device.
  void reset(std::uintptr_t stream) {
    const Locked lock(mu_);
    ev_.reset(stream_of(stream));
  }

  nb::bytes state(std::uintptr_t stream) {
    State s;
    {
      const Locked lock(mu_);
      s = ev_.state(stream_of(stream));
    }
    return nb::bytes(reinterpret_cast<const char*>(s.bytes.data()), s.bytes.size());
  }

  void merge(const nb::bytes& blob, std::uintptr_t stream) {
    const State s = state_of(blob);
    const Locked lock(mu_);
    ev_.merge(s, stream_of(stream));
  }

  std::uint64_t batches() {
    const Locked lock(mu_);
    return ev_.batches();
  }

  std::string device() {
    const Locked lock(mu_);
    return ev_.device().describe();
  }

  bool is_cuda() {
    const Locked lock(mu_);
    return ev_.device().kind == DeviceKind::cuda;
  }

  std::vector<std::string> metrics() {
    const Locked lock(mu_);
    std::vector<std::string> out;
    for (Metric metric : ev_.spec().metrics) {
      out.emplace_back(metric_name(metric));
    }
    return out;
  }

private:
  static Device parse_device(const std::string& text, int threads) {
    Device d = Device::parse(text);
    if (d.kind == DeviceKind::cpu) {
      GPUEVAL_EXPECTS(threads >= 0, "threads must be 0 (one per hardware thread) or more, not " +
                                        std::to_string(threads));
      d.threads = threads;
    }
    return d;
  }

  std::mutex mu_;
  Evaluator ev_;
  bool cuda_ = ev_.device().kind == DeviceKind::cuda; // after ev_: initialised from it
};

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

  nb::class_<PyEvaluator>(m, "Evaluator", "The C++ evaluator; gpueval.Regression wraps it.")
      .def(nb::init<const std::string&, std::optional<int>, std::optional<int>, const std::string&,
                    const std::string&, int, std::optional<std::vector<std::int64_t>>, double>(),
           nb::arg("metrics"), nb::arg("channel_axis").none(), nb::arg("by_axis").none(),
           nb::arg("nan_policy"), nb::arg("device"), nb::arg("threads"),
           nb::arg("sample_shape").none(), nb::arg("quantile_alpha"))
      .def("update", &PyEvaluator::update, nb::arg("pred"), nb::arg("target"),
           nb::arg("mask").none(), nb::arg("stream"))
      .def("compute", &PyEvaluator::compute, nb::arg("stream"),
           nb::arg("device_label") = nb::none())
      .def("reset", &PyEvaluator::reset, nb::arg("stream"))
      .def("state", &PyEvaluator::state, nb::arg("stream"))
      .def("merge", &PyEvaluator::merge, nb::arg("state"), nb::arg("stream"))
      .def_prop_ro("batches", &PyEvaluator::batches)
      .def_prop_ro("device", &PyEvaluator::device)
      .def_prop_ro("is_cuda", &PyEvaluator::is_cuda)
      .def_prop_ro("metrics", &PyEvaluator::metrics);

  m.def(
      "check_spec",
      [](const std::string& metrics, std::optional<int> channel_axis, std::optional<int> by_axis,
         const std::string& nan_policy, std::optional<std::vector<std::int64_t>> sample_shape,
         double quantile_alpha) {
        const RegressionSpec spec = make_spec(metrics, channel_axis, by_axis, nan_policy,
                                              std::move(sample_shape), quantile_alpha);
        std::vector<std::string> names;
        for (Metric metric : spec.metrics) {
          names.emplace_back(metric_name(metric));
        }
        return names;
      },
      nb::arg("metrics"), nb::arg("channel_axis").none(), nb::arg("by_axis").none(),
      nb::arg("nan_policy"), nb::arg("sample_shape").none(), nb::arg("quantile_alpha"),
      "The spec's metric names; ValueError for a spec the engine would refuse. Makes no "
      "evaluator.");
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
