// The registries every front end works through: the metric families (what gpu-eval, the state
// files, Python and the LibTorch adapter ask a family for) and the backends (which backend of a
// family runs on which device). Families and backends register in their own files; the
// composition root (host/registration.cpp) calls those registrations once, so that nothing in
// the engine names a family or a backend.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "core/staging.hpp"
#include "gpueval/dtype.hpp"
#include "gpueval/family.hpp"

namespace gpueval::detail {

// What a reader knows of the first input before any batch (gpu-eval reads every shard's header
// first): the shapes (batch axis included) and dtypes. A family fits its evaluator to them, so
// that a part of a fanned-out run with no file still has a state that merges.
struct InputShapes {
  std::vector<std::int64_t> pred, target;
  DType pred_dtype = DType::f32, target_dtype = DType::f32;
};

// A family as the engine sees it.
struct FamilyEntry {
  FamilyDescription description;
  // An evaluator for `task` (one of description.tasks) from options, on `device`, fitted to the
  // first input when `first` is given. Throws InvalidArgument naming the option or the task.
  std::function<std::unique_ptr<AnyEvaluator>(std::string_view task, const Options& options,
                                              Device device, const InputShapes* first)>
      make;
  // An evaluator that merges `state` (its spec, with `metrics` and the options that shape only
  // the report; see evaluator_for_state).
  std::function<std::unique_ptr<AnyEvaluator>(const State& state, std::string_view metrics,
                                              Device device, const Options& report_options)>
      from_state;
};

// Registers a family; refuses a second family with the same tag, name or task.
void register_family(FamilyEntry entry);
// Every family, in registration order (the composition root registers them on first use).
const std::vector<FamilyEntry>& family_entries();
const FamilyEntry& family_entry_of_task(std::string_view task);
const FamilyEntry& family_entry_of_tag(Family tag);
// Throws InvalidArgument: family `tag` takes no input `name` (AnyEvaluator::update_with), naming
// the inputs it takes (its FamilyDescription::inputs).
[[noreturn]] void refuse_input(Family tag, const std::string& name);

// ---- backends --------------------------------------------------------------------------------

// Registers how to make a backend of interface `interface` (a family's backend class) for
// devices of `kind`. A factory returns a new object of that interface (owned by the caller).
void register_backend(std::type_index interface, DeviceKind kind,
                      std::function<void*(Device)> factory);
void* make_backend_raw(std::type_index interface, Device device, std::string_view family);

// The backend of interface B for `device`, after the device checks (require_usable). Throws
// CudaError naming the reason when the device is not usable or this build has no backend for it.
template <class B> std::unique_ptr<B> make_backend_for(Device device, std::string_view family) {
  return std::unique_ptr<B>(static_cast<B*>(make_backend_raw(typeid(B), device, family)));
}

// What a CUDA build registers beside its backends: the device probe, the runtime's versions and
// gpu-eval's staging ring.
struct CudaLayer {
  std::function<int(std::string* why_none)> device_count;
  std::function<std::string()> versions;
  std::function<std::unique_ptr<DeviceStaging>(int index, int slots, int buffers,
                                               const std::uint64_t* capacity)>
      staging;
};
void register_cuda_layer(CudaLayer layer);

// The number of usable CUDA devices: 0 on any CUDA runtime error, and in a build without CUDA
// (`why_none` says which).
int cuda_device_count(std::string* why_none);
// Whether this build has the CUDA backends (auto selection uses CUDA only then).
bool cuda_backend_available();
// gpu-eval's pinned staging ring on CUDA device `index`; CudaError without CUDA.
std::unique_ptr<DeviceStaging> make_device_staging(int index, int slots, int buffers,
                                                   const std::uint64_t* capacity);

// Defined by the composition root (host/registration.cpp): registers every family and backend
// this build has. Called once, before the first use of a registry.
void register_builtins();

} // namespace gpueval::detail
