#include "core/registry.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "core/state_blob.hpp"
#include "gpueval/error.hpp"

namespace gpueval::detail {

namespace {

struct Registries {
  std::vector<FamilyEntry> families;
  std::map<std::pair<std::type_index, DeviceKind>, std::function<void*(Device)>> backends;
  std::optional<CudaLayer> cuda;
};

Registries& raw() {
  static Registries r;
  return r;
}

// The registries, filled by the composition root on first use.
Registries& registries() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtins(); });
  return raw();
}

std::string task_list() {
  std::string out;
  for (const FamilyEntry& f : registries().families) {
    for (const std::string& t : f.description.tasks) {
      out += (out.empty() ? "" : ", ") + t;
    }
  }
  return out;
}

} // namespace

void register_family(FamilyEntry entry) {
  Registries& r = raw();
  for (const FamilyEntry& f : r.families) {
    GPUEVAL_EXPECTS(f.description.tag != entry.description.tag &&
                        f.description.name != entry.description.name,
                    "internal: two families registered as " + entry.description.name);
    for (const std::string& t : entry.description.tasks) {
      GPUEVAL_EXPECTS(std::find(f.description.tasks.begin(), f.description.tasks.end(), t) ==
                          f.description.tasks.end(),
                      "internal: task " + t + " registered by two families");
    }
  }
  r.families.push_back(std::move(entry));
}

const std::vector<FamilyEntry>& family_entries() {
  return registries().families;
}

const FamilyEntry& family_entry_of_task(std::string_view task) {
  for (const FamilyEntry& f : registries().families) {
    for (const std::string& t : f.description.tasks) {
      if (t == task) {
        return f;
      }
    }
  }
  throw InvalidArgument("unknown task '" + std::string(task) + "'; the tasks are " + task_list());
}

const FamilyEntry& family_entry_of_tag(Family tag) {
  for (const FamilyEntry& f : registries().families) {
    if (f.description.tag == tag) {
      return f;
    }
  }
  throw StateError("state blob is of metric family " + std::to_string(static_cast<unsigned>(tag)) +
                   ", which this gpueval does not know");
}

// ---- backends --------------------------------------------------------------------------------

void register_backend(std::type_index interface, DeviceKind kind,
                      std::function<void*(Device)> factory) {
  raw().backends[{interface, kind}] = std::move(factory);
}

void register_cuda_layer(CudaLayer layer) {
  raw().cuda = std::move(layer);
}

namespace {

constexpr const char* kNoCuda = "this gpueval was built without CUDA (GPUEVAL_CUDA=OFF)";

std::string device_name(Device d) {
  return d.kind == DeviceKind::cpu ? "cpu" : "cuda:" + std::to_string(d.index);
}

} // namespace

int cuda_device_count(std::string* why_none) {
  const Registries& r = registries();
  if (!r.cuda) {
    if (why_none != nullptr) {
      *why_none = kNoCuda;
    }
    return 0;
  }
  return r.cuda->device_count(why_none);
}

bool cuda_backend_available() {
  return registries().cuda.has_value();
}

std::unique_ptr<DeviceStaging> make_device_staging(int index, int slots, int buffers,
                                                   const std::uint64_t* capacity) {
  const Registries& r = registries();
  if (!r.cuda) {
    throw CudaError("device cuda:" + std::to_string(index) + " is not usable: " + kNoCuda);
  }
  return r.cuda->staging(index, slots, buffers, capacity);
}

void* make_backend_raw(std::type_index interface, Device device, std::string_view family) {
  require_usable(device);
  const Registries& r = registries();
  const auto it = r.backends.find({interface, device.kind});
  if (it == r.backends.end()) {
    throw CudaError("device " + device_name(device) + " is not usable: this gpueval has no " +
                    std::string(family) + " backend for it" +
                    (r.cuda ? std::string() : std::string(" (") + kNoCuda + ")"));
  }
  return it->second(device);
}

} // namespace gpueval::detail

namespace gpueval {

std::string cuda_versions() {
  const detail::Registries& r = detail::registries();
  return r.cuda ? r.cuda->versions() : std::string("built without CUDA");
}

void AnyEvaluator::update_with(const TensorView& pred, const TensorView& target,
                               const TensorView& mask, const TensorView& weight,
                               const NamedViews& inputs, StreamHandle stream) {
  if (inputs.empty()) {
    if (weight.data != nullptr || weight.rank > 0) {
      update(pred, target, mask, weight, stream);
    } else {
      update(pred, target, mask, stream);
    }
    return;
  }
  detail::refuse_input(family(), inputs.front().first);
}

namespace detail {

void refuse_input(Family tag, const std::string& name) {
  const FamilyDescription& f = family_entry_of_tag(tag).description;
  std::string names;
  for (const OptionInfo& in : f.inputs) {
    names += (names.empty() ? "" : ", ") + in.name;
  }
  throw InvalidArgument("the " + f.name + " family takes no input '" + name +
                        "' (its inputs beside pred, target, mask and weight: " +
                        (names.empty() ? std::string("none") : names) + ")");
}

} // namespace detail

std::vector<FamilyDescription> families() {
  std::vector<FamilyDescription> out;
  for (const detail::FamilyEntry& f : detail::family_entries()) {
    out.push_back(f.description);
  }
  return out;
}

FamilyDescription family_of_task(std::string_view task) {
  return detail::family_entry_of_task(task).description;
}

FamilyDescription family_of_tag(Family tag) {
  return detail::family_entry_of_tag(tag).description;
}

std::unique_ptr<AnyEvaluator> make_evaluator(std::string_view task, const Options& options,
                                             Device device) {
  return detail::family_entry_of_task(task).make(task, options, device, nullptr);
}

Family state_family(const State& state) {
  return detail::open_state(state).header.family;
}

std::unique_ptr<AnyEvaluator> evaluator_for_state(const State& state, std::string_view metrics,
                                                  Device device, const Options& report_options) {
  return detail::family_entry_of_tag(state_family(state))
      .from_state(state, metrics, device, report_options);
}

} // namespace gpueval
