// The classification family for Python: gpueval._core.ClassificationEvaluator over the C++
// ClassificationEvaluator. Its report crosses as JSON (every value round-trips: 17 digits); the
// Python ClassificationReport reads it.
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
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"

namespace gpueval::python {

namespace {

ClassificationSpec make_spec(const std::string& task, std::int64_t num_classes,
                             const std::string& metrics, const std::string& scores,
                             const std::string& pred, double threshold, int class_axis, int top_k,
                             std::optional<std::int64_t> ignore_index, int bins, double beta,
                             const std::string& nan_policy,
                             std::optional<std::vector<std::int64_t>> sample_shape,
                             std::int64_t histogram_budget) {
  ClassificationSpec spec;
  spec.task = parse_class_task(task);
  spec.num_classes = spec.task == ClassTask::binary && num_classes == 0 ? 2 : num_classes;
  spec.set_metrics(metrics);
  GPUEVAL_EXPECTS(scores == "probabilities" || scores == "logits",
                  "scores must be 'probabilities' or 'logits', not '" + scores + "'");
  spec.scores = scores == "logits" ? ScoreKind::logits : ScoreKind::probabilities;
  GPUEVAL_EXPECTS(pred == "auto" || pred == "scores" || pred == "labels",
                  "pred must be 'auto', 'scores' or 'labels', not '" + pred + "'");
  spec.pred = pred == "scores"   ? PredKind::scores
              : pred == "labels" ? PredKind::labels
                                 : PredKind::auto_detect;
  spec.threshold = threshold;
  spec.class_axis = class_axis;
  spec.top_k = top_k;
  spec.ignore_index = ignore_index;
  spec.bins = bins;
  spec.beta = beta;
  spec.nan_policy = parse_nan_policy(nan_policy);
  if (sample_shape) {
    spec.sample_shape = *sample_shape;
  }
  GPUEVAL_EXPECTS(histogram_budget > 0, "histogram_budget must be a positive number of bytes");
  spec.histogram_budget = histogram_budget;
  spec.validate();
  return spec;
}

StreamHandle stream_of(std::uintptr_t s) {
  return reinterpret_cast<StreamHandle>(s);
}

class PyClassification {
public:
  PyClassification(const std::string& task, std::int64_t num_classes, const std::string& metrics,
                   const std::string& scores, const std::string& pred, double threshold,
                   int class_axis, int top_k, std::optional<std::int64_t> ignore_index, int bins,
                   double beta, const std::string& nan_policy, const std::string& device,
                   int threads, std::optional<std::vector<std::int64_t>> sample_shape,
                   std::int64_t histogram_budget)
      : ev_(make_spec(task, num_classes, metrics, scores, pred, threshold, class_axis, top_k,
                      ignore_index, bins, beta, nan_policy, std::move(sample_shape),
                      histogram_budget),
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

  std::string compute_json(std::uintptr_t stream, const std::optional<std::string>& label) {
    ClassificationReport r;
    {
      const Locked lock(mu_);
      r = ev_.compute(stream_of(stream));
    }
    if (label) {
      r.device = *label;
    }
    return r.to_json();
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
    State s;
    const auto* b = static_cast<const std::uint8_t*>(blob.data());
    s.bytes.assign(b, b + blob.size());
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
  ClassificationEvaluator ev_;
  bool cuda_ = ev_.device().kind == DeviceKind::cuda; // after ev_: initialised from it
};

} // namespace

void bind_classification(nb::module_& m) {
  nb::class_<PyClassification>(m, "ClassificationEvaluator",
                               "The C++ evaluator; gpueval.Classification wraps it.")
      .def(nb::init<const std::string&, std::int64_t, const std::string&, const std::string&,
                    const std::string&, double, int, int, std::optional<std::int64_t>, int, double,
                    const std::string&, const std::string&, int,
                    std::optional<std::vector<std::int64_t>>, std::int64_t>(),
           nb::arg("task"), nb::arg("num_classes"), nb::arg("metrics"), nb::arg("scores"),
           nb::arg("pred"), nb::arg("threshold"), nb::arg("class_axis"), nb::arg("top_k"),
           nb::arg("ignore_index").none(), nb::arg("bins"), nb::arg("beta"), nb::arg("nan_policy"),
           nb::arg("device"), nb::arg("threads"), nb::arg("sample_shape").none(),
           nb::arg("histogram_budget"))
      .def("update", &PyClassification::update, nb::arg("pred"), nb::arg("target"),
           nb::arg("mask").none(), nb::arg("stream"))
      .def("compute_json", &PyClassification::compute_json, nb::arg("stream"),
           nb::arg("device_label") = nb::none())
      .def("reset", &PyClassification::reset, nb::arg("stream"))
      .def("state", &PyClassification::state, nb::arg("stream"))
      .def("merge", &PyClassification::merge, nb::arg("state"), nb::arg("stream"))
      .def_prop_ro("batches", &PyClassification::batches)
      .def_prop_ro("device", &PyClassification::device);

  m.def(
      "check_classification_spec",
      [](const std::string& task, std::int64_t num_classes, const std::string& metrics,
         const std::string& scores, const std::string& pred, double threshold, int class_axis,
         int top_k, std::optional<std::int64_t> ignore_index, int bins, double beta,
         const std::string& nan_policy, std::optional<std::vector<std::int64_t>> sample_shape,
         std::int64_t histogram_budget) {
        (void)make_spec(task, num_classes, metrics, scores, pred, threshold, class_axis, top_k,
                        ignore_index, bins, beta, nan_policy, std::move(sample_shape),
                        histogram_budget);
      },
      nb::arg("task"), nb::arg("num_classes"), nb::arg("metrics"), nb::arg("scores"),
      nb::arg("pred"), nb::arg("threshold"), nb::arg("class_axis"), nb::arg("top_k"),
      nb::arg("ignore_index").none(), nb::arg("bins"), nb::arg("beta"), nb::arg("nan_policy"),
      nb::arg("sample_shape").none(), nb::arg("histogram_budget"),
      "ValueError for a classification spec the engine would refuse. Makes no evaluator.");
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
        State st;
        const auto* b = static_cast<const std::uint8_t*>(blob.data());
        st.bytes.assign(b, b + blob.size());
        const ClassificationSpec s = classification_spec_of(st);
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
        d["nan_policy"] = std::string(nan_policy_name(s.nan_policy));
        d["sample_shape"] = s.sample_shape;
        d["histogram_budget"] = s.histogram_budget;
        return d;
      },
      nb::arg("state"), "The spec a classification state was made with.");
  m.def(
      "state_family",
      [](const nb::bytes& blob) {
        State s;
        const auto* b = static_cast<const std::uint8_t*>(blob.data());
        s.bytes.assign(b, b + blob.size());
        return state_family(s) == Family::regression ? "regression" : "classification";
      },
      nb::arg("state"), "The metric family of a state blob.");
}

} // namespace gpueval::python
