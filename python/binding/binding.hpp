// What the gpueval._core extension's files share: array import, the generic evaluator's report
// conversion, and the bindings' entry points.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "gpueval/family.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::python {

namespace nb = nanobind;

// Any array nanobind imports without a copy: an object with __dlpack__, a DLPack capsule (how
// CUDA arrays arrive, exported on the update's stream by the Python layer), or a buffer.
// Read-only arrays (np.load(..., mmap_mode="r")) are fine: gpueval never writes to its inputs.
using Array = nb::ndarray<nb::ro>;

// A view of `array` for the C++ API: pointer, dtype, shape and strides (in elements), device.
// Throws InvalidArgument naming `name` for a dtype or device gpueval does not read.
TensorView view_of(const Array& array, const char* name);

// An evaluator's lock, always taken with the GIL released: a thread that waits for it never
// holds the GIL, so the thread that holds it may take the GIL (to drop the inputs of an update
// that has run on the device, see keep_inputs) without a deadlock.
class Locked {
public:
  explicit Locked(std::mutex& m) : lock_(m) {}

private:
  nb::gil_scoped_release unlocked_; // first: the GIL goes before the lock is taken
  std::lock_guard<std::mutex> lock_;
};

// A reference to an update's arrays (the DLPack capsules' tensors stay alive while it lives),
// for AnyEvaluator::keep_until_done on CUDA: a producer on another stream (JAX, an explicit
// stream=) may reuse its memory as soon as its last reference goes. Dropping it takes the GIL
// itself (nanobind releases arrays under a GIL guard).
std::shared_ptr<void> keep_inputs(const Array& pred, const Array& target,
                                  const std::optional<Array>& mask,
                                  const std::optional<Array>& weight);

// Owned numpy arrays of C++ results.
nb::ndarray<nb::numpy, double> to_numpy(const std::vector<double>& values);
nb::ndarray<nb::numpy, double> to_numpy(const std::vector<std::vector<double>>& rows,
                                        std::size_t columns);
nb::ndarray<nb::numpy, std::uint64_t> to_numpy(const std::vector<std::uint64_t>& values);

// A state blob from Python bytes, and a stream handle from Python's integer.
State state_of(const nb::bytes& blob);
inline StreamHandle stream_of(std::uintptr_t s) {
  return reinterpret_cast<StreamHandle>(s);
}

// How the generic evaluator's compute() hands a family's report to Python (the family's bound
// report class, or its JSON text): each family registers one (families.cpp calls them).
using ReportToPython = std::function<nb::object(const AnyReport&)>;
void register_report(Family family, ReportToPython convert);

// gpueval._core.Evaluator (any family, by task and options), families(), state_family().
void bind_evaluator(nb::module_& m);
// Every family's own parts (defined by families.cpp, the binding's registration).
void bind_families(nb::module_& m);
void bind_shards(nb::module_& m); // binding/shards.cpp, with GPUEVAL_PY_SHARDS

} // namespace gpueval::python
