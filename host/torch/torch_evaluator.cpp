// TorchMetrics: any family's evaluator on tensors, and the registry of the families' report
// dicts.
#include "gpueval/torch_evaluator.hpp"

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "torch_common.hpp"

#ifdef GPUEVAL_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace gpueval::torch_adapter {

void register_builtin_dicts(); // host/torch/families.cpp

namespace {

std::map<Family, std::function<TensorDict(const AnyReport&)>>& dicts() {
  static std::map<Family, std::function<TensorDict(const AnyReport&)>> registry;
  return registry;
}

DType to_dtype(const torch::Tensor& t, const char* name) {
  switch (t.scalar_type()) {
  case torch::kHalf:
    return DType::f16;
  case torch::kBFloat16:
    return DType::bf16;
  case torch::kFloat:
    return DType::f32;
  case torch::kDouble:
    return DType::f64;
  case torch::kChar:
    return DType::i8;
  case torch::kShort:
    return DType::i16;
  case torch::kInt:
    return DType::i32;
  case torch::kLong:
    return DType::i64;
  case torch::kByte:
    return DType::u8;
  case torch::kBool:
    return DType::boolean;
  default:
    TORCH_CHECK(false, "gpueval: ", name, " has dtype ", t.scalar_type(),
                ", which is not supported (float16, bfloat16, float32, float64, integers, bool)");
  }
  return DType::f32;
}

TensorView view_of(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() <= kMaxRank, "gpueval: ", name, " has ", t.dim(), " dimensions; at most ",
              kMaxRank, " are supported");
  TensorView v;
  v.data = t.data_ptr();
  v.dtype = to_dtype(t, name);
  v.rank = static_cast<int>(t.dim());
  for (int i = 0; i < v.rank; ++i) {
    v.shape[i] = t.size(i);
    v.strides[i] = t.stride(i);
  }
  v.device = t.is_cuda() ? DeviceKind::cuda : DeviceKind::cpu;
  v.device_index = t.is_cuda() ? t.get_device() : 0;
  return v;
}

} // namespace

Device to_gpueval_device(const torch::Device& d, int threads) {
  if (d.is_cpu()) {
    return Device::cpu(threads);
  }
  TORCH_CHECK(d.is_cuda(), "gpueval: device ", d.str(), " is not supported (cpu or cuda)");
  return Device::cuda(d.has_index() ? d.index() : 0);
}

torch::Tensor counts(const std::vector<std::uint64_t>& v) {
  std::vector<std::int64_t> c(v.begin(), v.end());
  return torch::tensor(c, torch::dtype(torch::kLong));
}

torch::Tensor count(std::uint64_t v) {
  return torch::tensor(static_cast<std::int64_t>(v), torch::dtype(torch::kLong));
}

TorchMetrics::TorchMetrics(const std::string& task, const Options& options, torch::Device device,
                           int threads)
    : device_(device), evaluator_(checked([&] {
        return make_evaluator(task, options, to_gpueval_device(device, threads));
      })) {}

TorchMetrics::TorchMetrics(std::unique_ptr<AnyEvaluator> evaluator, torch::Device device)
    : device_(device), evaluator_(std::move(evaluator)) {}

void TorchMetrics::update(const torch::Tensor& pred, const torch::Tensor& target,
                          const c10::optional<torch::Tensor>& mask,
                          const c10::optional<torch::Tensor>& weight,
                          const std::vector<std::pair<std::string, torch::Tensor>>& inputs) {
  TORCH_CHECK(pred.defined() && target.defined(), "gpueval: pred and target must be defined");
  TORCH_CHECK(pred.device() == target.device(), "gpueval: pred is on ", pred.device(),
              " but target is on ", target.device());
  TORCH_CHECK(pred.device().type() == device_.type() && (device_.is_cpu() || !device_.has_index() ||
                                                         pred.device().index() == device_.index()),
              "gpueval: the tensors are on ", pred.device(), " but this evaluator runs on ",
              device_);
  if (mask.has_value() && mask->defined()) {
    TORCH_CHECK(mask->device() == pred.device(), "gpueval: mask is on ", mask->device(),
                " but pred is on ", pred.device());
    TORCH_CHECK(!mask->is_floating_point(), "gpueval: mask has dtype ", mask->scalar_type(),
                "; a mask is bool or an integer type (nonzero = include)");
    const auto ms = mask->sizes();
    const auto ts = target.sizes();
    TORCH_CHECK(ms.size() >= 1 && ms.size() <= ts.size() &&
                    std::equal(ms.begin(), ms.end(), ts.begin()),
                "gpueval: mask has shape ", ms, ", which does not fit target ", ts,
                ": a mask has the target's shape or a prefix of it");
  }
  const bool weighted = weight.has_value() && weight->defined();
  if (weighted) {
    TORCH_CHECK(weight->device() == pred.device(), "gpueval: weight is on ", weight->device(),
                " but pred is on ", pred.device());
  }
  const TensorView p = view_of(pred, "pred");
  const TensorView t = view_of(target, "target");
  const TensorView m = mask.has_value() && mask->defined() ? view_of(*mask, "mask") : TensorView{};
  const TensorView w = weighted ? view_of(*weight, "weight") : TensorView{};
  NamedViews named;
  for (const auto& [name, tensor] : inputs) {
    TORCH_CHECK(tensor.defined(), "gpueval: input '", name, "' is undefined");
    TORCH_CHECK(tensor.device() == pred.device(), "gpueval: ", name, " is on ", tensor.device(),
                " but pred is on ", pred.device());
    named.emplace_back(name, view_of(tensor, name.c_str()));
  }
  // The engine checks the weight's dtype, shape and values (the family's rules, one message).
  const auto update = [&](StreamHandle stream) {
    if (!named.empty()) {
      evaluator_->update_with(p, t, m, w, named, stream);
    } else if (weighted) {
      evaluator_->update(p, t, m, w, stream);
    } else {
      evaluator_->update(p, t, m, stream);
    }
  };
  checked([&] {
#ifdef GPUEVAL_TORCH_CUDA
    if (pred.is_cuda()) {
      const c10::cuda::CUDAGuard guard(pred.device());
      update(at::cuda::getCurrentCUDAStream().stream());
      // The tensors stay referenced until the device has run the update (the caller may switch
      // streams before the caching allocator would otherwise see their memory as free).
      struct Inputs {
        torch::Tensor pred, target;
        c10::optional<torch::Tensor> mask, weight;
        std::vector<std::pair<std::string, torch::Tensor>> inputs;
      };
      evaluator_->keep_until_done(
          std::make_shared<Inputs>(Inputs{pred, target, mask, weight, inputs}));
      return;
    }
#endif
    update(nullptr);
  });
}

AnyReport TorchMetrics::compute() {
  return checked([&] { return evaluator_->compute_any(); });
}

TensorDict TorchMetrics::compute_dict() {
  return report_to_dict(compute());
}

void TorchMetrics::reset() {
#ifdef GPUEVAL_TORCH_CUDA
  if (device_.is_cuda()) {
    const c10::cuda::CUDAGuard guard(device_);
    checked([&] { evaluator_->reset(at::cuda::getCurrentCUDAStream().stream()); });
    return;
  }
#endif
  checked([&] { evaluator_->reset(); });
}

torch::Tensor TorchMetrics::state() {
  const State s = checked([&] { return evaluator_->state(); });
  torch::Tensor out = torch::empty({static_cast<std::int64_t>(s.bytes.size())}, torch::kUInt8);
  std::memcpy(out.data_ptr(), s.bytes.data(), s.bytes.size());
  return out;
}

void TorchMetrics::merge(const torch::Tensor& state) {
  TORCH_CHECK(state.scalar_type() == torch::kUInt8 && state.dim() == 1,
              "gpueval: a state is a 1-d uint8 tensor (from state()), not ", state.scalar_type(),
              " ", state.sizes());
  const torch::Tensor cpu = state.to(torch::kCPU).contiguous();
  State s;
  s.bytes.assign(cpu.data_ptr<std::uint8_t>(), cpu.data_ptr<std::uint8_t>() + cpu.numel());
  checked([&] { evaluator_->merge(s); });
}

void register_report_dict(Family family, std::function<TensorDict(const AnyReport&)> convert) {
  dicts()[family] = std::move(convert);
}

TensorDict report_to_dict(const AnyReport& report) {
  static std::once_flag once;
  std::call_once(once, register_builtin_dicts);
  const auto it = dicts().find(report.family());
  TORCH_CHECK(it != dicts().end(), "gpueval: the LibTorch adapter has no tensors for family '",
              family_of_tag(report.family()).name, "' (host/torch/families.cpp registers them)");
  return it->second(report);
}

} // namespace gpueval::torch_adapter
