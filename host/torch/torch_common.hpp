// What the adapter's files share: devices and tensors as the engine sees them, engine errors as
// c10::Error, and tensors of report values.
#pragma once

#include <torch/custom_class.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/error.hpp"
#include "gpueval/torch_evaluator.hpp"

namespace gpueval::torch_adapter {

Device to_gpueval_device(const torch::Device& d, int threads);

// f() with gpueval's errors raised as c10::Error ("gpueval: ..."), as every adapter call reports.
template <class F> auto checked(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
  throw; // unreachable: TORCH_CHECK(false) throws
}

// An evaluator of type E (a family's) for `device`, with engine errors as c10::Error.
template <class E, class Spec>
std::unique_ptr<E> make_typed(Spec spec, const torch::Device& device, int threads) {
  return checked(
      [&] { return std::make_unique<E>(std::move(spec), to_gpueval_device(device, threads)); });
}

inline torch::Tensor doubles(const std::vector<double>& v) {
  return torch::tensor(v, torch::dtype(torch::kDouble));
}
inline torch::Tensor scalar(double v) {
  return torch::tensor(v, torch::dtype(torch::kDouble));
}
torch::Tensor counts(const std::vector<std::uint64_t>& v);
torch::Tensor count(std::uint64_t v);

// The methods every TorchScript class of the adapter has, over its member `ev` (a TorchMetrics
// or a family's typed evaluator): update, compute (the tensors), compute_json, reset, state,
// merge.
template <class S> void def_evaluator_methods(torch::class_<S>& c) {
  using Self = const c10::intrusive_ptr<S>&;
  c.def("update",
        [](Self self, const torch::Tensor& pred, const torch::Tensor& target,
           const c10::optional<torch::Tensor>& mask) { self->ev.update(pred, target, mask); })
      // TorchScript methods take no default arguments here: the weighted form has its own name.
      .def("update_weighted",
           [](Self self, const torch::Tensor& pred, const torch::Tensor& target,
              const c10::optional<torch::Tensor>& mask,
              const torch::Tensor& weight) { self->ev.update(pred, target, mask, weight); })
      .def("compute", [](Self self) { return self->ev.compute_dict(); })
      .def("compute_json", [](Self self) { return self->ev.compute().to_json(); })
      .def("reset", [](Self self) { self->ev.reset(); })
      .def("state", [](Self self) { return self->ev.state(); })
      .def("merge", [](Self self, const torch::Tensor& state) { self->ev.merge(state); });
  // The family's own inputs by name (FamilyDescription::inputs), with an optional weight: on
  // the classes over any family's TorchMetrics.
  if constexpr (std::is_same_v<decltype(S::ev), TorchMetrics>) {
    c.def("update_with",
          [](Self self, const torch::Tensor& pred, const torch::Tensor& target,
             const c10::optional<torch::Tensor>& mask, const c10::optional<torch::Tensor>& weight,
             const c10::Dict<std::string, torch::Tensor>& inputs) {
            std::vector<std::pair<std::string, torch::Tensor>> named;
            for (const auto& entry : inputs) {
              named.emplace_back(entry.key(), entry.value());
            }
            self->ev.update(pred, target, mask, weight, named);
          });
  }
}

} // namespace gpueval::torch_adapter
