// gpueval._core.Evaluator: one C++ evaluator of any family, made from a task and the family's
// options (text, as gpueval/family.hpp's Options), with a lock; and what Python asks of the
// registry (the families, a state's family). Conversions and locking only: everything Pythonic
// (defaults, device resolution, streams, the reports) lives in python/gpueval/.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "binding.hpp"
#include "gpueval/error.hpp"

namespace gpueval::python {

namespace {

std::map<Family, ReportToPython>& converters() {
  static std::map<Family, ReportToPython> registry;
  return registry;
}

Device parse_device(const std::string& text, int threads) {
  Device d = Device::parse(text);
  if (d.kind == DeviceKind::cpu) {
    GPUEVAL_EXPECTS(threads >= 0, "threads must be 0 (one per hardware thread) or more, not " +
                                      std::to_string(threads));
    d.threads = threads;
  }
  return d;
}

// One evaluator, with a lock: the GIL is released while it works, and two Python threads must
// not update one evaluator at once.
class PyEvaluator {
public:
  PyEvaluator(const std::string& task, const Options& options, const std::string& device,
              int threads)
      : ev_(make_evaluator(task, options, parse_device(device, threads))),
        cuda_(ev_->device().kind == DeviceKind::cuda) {}

  // `inputs`: the family's own inputs by name (AnyEvaluator::update_with), in order.
  void update(const Array& pred, const Array& target, const std::optional<Array>& mask,
              const std::optional<Array>& weight, std::uintptr_t stream,
              const std::vector<std::pair<std::string, Array>>& inputs) {
    const TensorView p = view_of(pred, "pred");
    const TensorView t = view_of(target, "target");
    const TensorView m = mask ? view_of(*mask, "mask") : TensorView{};
    const TensorView w = weight ? view_of(*weight, "weight") : TensorView{};
    NamedViews named;
    for (const auto& [name, array] : inputs) {
      named.emplace_back(name, view_of(array, name.c_str()));
    }
    // On CUDA the arrays stay referenced until the device has run the update.
    std::shared_ptr<void> keep = nullptr;
    if (cuda_) {
      keep = keep_inputs(pred, target, mask, weight);
      if (!inputs.empty()) {
        struct WithInputs {
          std::shared_ptr<void> base;
          std::vector<std::pair<std::string, Array>> inputs;
        };
        keep = std::make_shared<WithInputs>(WithInputs{std::move(keep), inputs});
      }
    }
    const Locked lock(mu_);
    if (!named.empty()) {
      ev_->update_with(p, t, m, w, named, stream_of(stream));
    } else if (weight) {
      ev_->update(p, t, m, w, stream_of(stream));
    } else {
      ev_->update(p, t, m, stream_of(stream));
    }
    if (keep) {
      ev_->keep_until_done(std::move(keep));
    }
  }

  // The family's report for Python; `device_label` replaces its device description (a join of
  // several ranks).
  nb::object compute(std::uintptr_t stream, const std::optional<std::string>& device_label) {
    std::optional<AnyReport> r;
    {
      const Locked lock(mu_);
      r = ev_->compute_any(stream_of(stream));
    }
    if (device_label) {
      r->set_device(*device_label);
    }
    const auto it = converters().find(r->family());
    GPUEVAL_EXPECTS(it != converters().end(), "the binding has no report conversion for family '" +
                                                  family_of_tag(r->family()).name +
                                                  "' (python/binding/families.cpp)");
    return it->second(*r);
  }

  // Enqueued on `stream` (CUDA); later operations on any stream wait for it on the device.
  void reset(std::uintptr_t stream) {
    const Locked lock(mu_);
    ev_->reset(stream_of(stream));
  }

  nb::bytes state(std::uintptr_t stream) {
    State s;
    {
      const Locked lock(mu_);
      s = ev_->state(stream_of(stream));
    }
    return nb::bytes(reinterpret_cast<const char*>(s.bytes.data()), s.bytes.size());
  }

  void merge(const nb::bytes& blob, std::uintptr_t stream) {
    const State s = state_of(blob);
    const Locked lock(mu_);
    ev_->merge(s, stream_of(stream));
  }

  std::uint64_t batches() {
    const Locked lock(mu_);
    return ev_->batches();
  }

  std::string device() {
    const Locked lock(mu_);
    return ev_->device().describe();
  }

  bool is_cuda() const { return cuda_; }

private:
  std::mutex mu_;
  std::unique_ptr<AnyEvaluator> ev_;
  bool cuda_;
};

} // namespace

State state_of(const nb::bytes& blob) {
  State s;
  const auto* p = static_cast<const std::uint8_t*>(blob.data());
  s.bytes.assign(p, p + blob.size());
  return s;
}

void register_report(Family family, ReportToPython convert) {
  converters()[family] = std::move(convert);
}

void bind_evaluator(nb::module_& m) {
  nb::class_<PyEvaluator>(m, "Evaluator",
                          "The C++ evaluator of any family; gpueval's evaluator classes wrap it.")
      .def(nb::init<const std::string&, const Options&, const std::string&, int>(), nb::arg("task"),
           nb::arg("options"), nb::arg("device"), nb::arg("threads"))
      .def("update", &PyEvaluator::update, nb::arg("pred"), nb::arg("target"),
           nb::arg("mask").none(), nb::arg("weight").none(), nb::arg("stream"),
           nb::arg("inputs") = std::vector<std::pair<std::string, Array>>{})
      .def("compute", &PyEvaluator::compute, nb::arg("stream"),
           nb::arg("device_label") = nb::none())
      .def("reset", &PyEvaluator::reset, nb::arg("stream"))
      .def("state", &PyEvaluator::state, nb::arg("stream"))
      .def("merge", &PyEvaluator::merge, nb::arg("state"), nb::arg("stream"))
      .def_prop_ro("batches", &PyEvaluator::batches)
      .def_prop_ro("device", &PyEvaluator::device)
      .def_prop_ro("is_cuda", &PyEvaluator::is_cuda);

  m.def(
      "check_options",
      [](const std::string& task, const Options& options) {
        (void)make_evaluator(task, options, Device::cpu(1));
      },
      nb::arg("task"), nb::arg("options"),
      "ValueError for a task or options the engine would refuse. Allocates no device memory.");
  m.def(
      "families",
      [] {
        std::vector<std::tuple<std::string, std::vector<std::string>,
                               std::vector<std::tuple<std::string, std::string, std::string>>>>
            out;
        for (const FamilyDescription& f : families()) {
          std::vector<std::tuple<std::string, std::string, std::string>> options;
          for (const OptionInfo& o : f.options) {
            options.emplace_back(o.name, o.help, o.default_value);
          }
          out.emplace_back(f.name, f.tasks, std::move(options));
        }
        return out;
      },
      "Every family as (name, tasks, options), options as (name, help, default).");
  m.def(
      "state_family",
      [](const nb::bytes& blob) { return family_of_tag(state_family(state_of(blob))).name; },
      nb::arg("state"), "The name of the metric family a state blob was made by.");
}

} // namespace gpueval::python
