#include "gpueval/torch_evaluator.hpp"
#include "gpueval/error.hpp"

#include <string>
#include <vector>

#ifdef GPUEVAL_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace gpueval::torch_adapter {

namespace {

Device to_gpueval_device(const torch::Device& d, int threads) {
  if (d.is_cpu()) {
    return Device::cpu(threads);
  }
  TORCH_CHECK(d.is_cuda(), "gpueval: device ", d.str(), " is not supported (cpu or cuda)");
  return Device::cuda(d.has_index() ? d.index() : 0);
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

torch::Tensor doubles(const std::vector<double>& v) {
  return torch::tensor(v, torch::dtype(torch::kDouble));
}

torch::Tensor counts(const std::vector<std::uint64_t>& v) {
  std::vector<std::int64_t> c(v.begin(), v.end());
  return torch::tensor(c, torch::dtype(torch::kLong));
}

Evaluator make_evaluator(RegressionSpec spec, const torch::Device& device, int threads) {
  try {
    return Evaluator(std::move(spec), to_gpueval_device(device, threads));
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
}

} // namespace

TorchEvaluator::TorchEvaluator(RegressionSpec spec, torch::Device device, int threads)
    : device_(device), evaluator_(make_evaluator(std::move(spec), device, threads)) {}

namespace {

void update_on(AnyEvaluator& ev, const torch::Device& device, const torch::Tensor& pred,
               const torch::Tensor& target, const c10::optional<torch::Tensor>& mask) {
  TORCH_CHECK(pred.defined() && target.defined(), "gpueval: pred and target must be defined");
  TORCH_CHECK(pred.device() == target.device(), "gpueval: pred is on ", pred.device(),
              " but target is on ", target.device());
  TORCH_CHECK(pred.device().type() == device.type() && (device.is_cpu() || !device.has_index() ||
                                                        pred.device().index() == device.index()),
              "gpueval: the tensors are on ", pred.device(), " but this evaluator runs on ",
              device);
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
  const TensorView p = view_of(pred, "pred");
  const TensorView t = view_of(target, "target");
  const TensorView m = mask.has_value() && mask->defined() ? view_of(*mask, "mask") : TensorView{};
  try {
#ifdef GPUEVAL_TORCH_CUDA
    if (pred.is_cuda()) {
      const c10::cuda::CUDAGuard guard(pred.device());
      ev.update(p, t, m, at::cuda::getCurrentCUDAStream().stream());
      // The tensors stay referenced until the device has run the update (the caller may switch
      // streams before the caching allocator would otherwise see their memory as free).
      struct Inputs {
        torch::Tensor pred, target;
        c10::optional<torch::Tensor> mask;
      };
      ev.keep_until_done(std::make_shared<Inputs>(Inputs{pred, target, mask}));
      return;
    }
#endif
    ev.update(p, t, m);
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
}

// On CUDA, enqueued on the current stream (later updates on any stream wait for it).
void reset_on(AnyEvaluator& ev, const torch::Device& device) {
#ifdef GPUEVAL_TORCH_CUDA
  if (device.is_cuda()) {
    const c10::cuda::CUDAGuard guard(device);
    ev.reset(at::cuda::getCurrentCUDAStream().stream());
    return;
  }
#endif
  (void)device;
  ev.reset();
}

torch::Tensor state_of(AnyEvaluator& ev) {
  State s;
  try {
    s = ev.state();
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
  torch::Tensor out = torch::empty({static_cast<std::int64_t>(s.bytes.size())}, torch::kUInt8);
  std::memcpy(out.data_ptr(), s.bytes.data(), s.bytes.size());
  return out;
}

void merge_into(AnyEvaluator& ev, const torch::Tensor& state) {
  TORCH_CHECK(state.scalar_type() == torch::kUInt8 && state.dim() == 1,
              "gpueval: a state is a 1-d uint8 tensor (from state()), not ", state.scalar_type(),
              " ", state.sizes());
  const torch::Tensor cpu = state.to(torch::kCPU).contiguous();
  State s;
  s.bytes.assign(cpu.data_ptr<std::uint8_t>(), cpu.data_ptr<std::uint8_t>() + cpu.numel());
  try {
    ev.merge(s);
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
}

} // namespace

void TorchEvaluator::update(const torch::Tensor& pred, const torch::Tensor& target,
                            const c10::optional<torch::Tensor>& mask) {
  TORCH_CHECK(!pred.defined() || !target.defined() || pred.sizes() == target.sizes(),
              "gpueval: pred has shape ", pred.sizes(), " but target has shape ", target.sizes());
  update_on(evaluator_, device_, pred, target, mask);
}

Report TorchEvaluator::compute() {
  try {
    return evaluator_.compute();
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
  return {};
}

c10::Dict<std::string, torch::Tensor> report_to_dict(const Report& r) {
  c10::Dict<std::string, torch::Tensor> d;
  for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
    const std::string name(metric_name(r.spec.metrics[i]));
    d.insert(name, torch::tensor(r.headline[i], torch::dtype(torch::kDouble)));
    d.insert("flat/" + name, torch::tensor(r.flat[i], torch::dtype(torch::kDouble)));
    d.insert("per_channel/" + name, doubles(r.per_channel[i]));
    if (r.by_axis_index >= 0) {
      d.insert("by_axis/" + name, doubles(r.by_axis[i]));
    }
    if (r.spec.metrics[i] == Metric::r2) {
      d.insert("variance_weighted/r2",
               torch::tensor(r.variance_weighted_r2, torch::dtype(torch::kDouble)));
    }
    if (r.spec.metrics[i] == Metric::explained_variance) {
      d.insert("variance_weighted/explained_variance",
               torch::tensor(r.variance_weighted_explained_variance, torch::dtype(torch::kDouble)));
    }
  }
  d.insert("per_channel/count", counts(r.per_channel_count));
  d.insert("count", torch::tensor(static_cast<std::int64_t>(r.count), torch::dtype(torch::kLong)));
  d.insert("skipped_nonfinite", torch::tensor(static_cast<std::int64_t>(r.skipped_nonfinite),
                                              torch::dtype(torch::kLong)));
  return d;
}

c10::Dict<std::string, torch::Tensor> TorchEvaluator::compute_dict() {
  return report_to_dict(compute());
}

void TorchEvaluator::reset() {
  reset_on(evaluator_, device_);
}

torch::Tensor TorchEvaluator::state() {
  return state_of(evaluator_);
}

void TorchEvaluator::merge(const torch::Tensor& state) {
  merge_into(evaluator_, state);
}

// ---- classification ---------------------------------------------------------------------------

namespace {

ClassificationEvaluator make_classifier(ClassificationSpec spec, const torch::Device& device,
                                        int threads) {
  try {
    return ClassificationEvaluator(std::move(spec), to_gpueval_device(device, threads));
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
}

torch::Tensor count_tensor(const std::vector<std::uint64_t>& v) {
  std::vector<std::int64_t> c(v.begin(), v.end());
  return torch::tensor(c, torch::dtype(torch::kLong));
}

} // namespace

TorchClassificationEvaluator::TorchClassificationEvaluator(ClassificationSpec spec,
                                                           torch::Device device, int threads)
    : device_(device), evaluator_(make_classifier(std::move(spec), device, threads)) {}

void TorchClassificationEvaluator::update(const torch::Tensor& pred, const torch::Tensor& target,
                                          const c10::optional<torch::Tensor>& mask) {
  update_on(evaluator_, device_, pred, target, mask);
}

ClassificationReport TorchClassificationEvaluator::compute() {
  try {
    return evaluator_.compute();
  } catch (const gpueval::Error& e) {
    TORCH_CHECK(false, "gpueval: ", e.what());
  }
  return {};
}

c10::Dict<std::string, torch::Tensor> report_to_dict(const ClassificationReport& r) {
  c10::Dict<std::string, torch::Tensor> d;
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    d.insert(r.names[i], torch::tensor(r.values[i], torch::dtype(torch::kDouble)));
  }
  d.insert("per_class/support", count_tensor(r.support));
  for (std::size_t i = 0; i < r.per_class_names.size(); ++i) {
    d.insert("per_class/" + r.per_class_names[i], doubles(r.per_class[i]));
  }
  if (!r.confusion_matrix.empty()) {
    d.insert("confusion_matrix", count_tensor(r.confusion_matrix).reshape({r.classes, r.classes}));
  }
  if (!r.calibration_count.empty()) {
    d.insert("calibration/count", count_tensor(r.calibration_count));
    d.insert("calibration/confidence", doubles(r.calibration_confidence));
    d.insert("calibration/accuracy", doubles(r.calibration_accuracy));
  }
  d.insert("count", torch::tensor(static_cast<std::int64_t>(r.count), torch::dtype(torch::kLong)));
  d.insert("skipped_invalid",
           torch::tensor(static_cast<std::int64_t>(r.skipped_invalid), torch::dtype(torch::kLong)));
  return d;
}

c10::Dict<std::string, torch::Tensor> TorchClassificationEvaluator::compute_dict() {
  return report_to_dict(compute());
}

void TorchClassificationEvaluator::reset() {
  reset_on(evaluator_, device_);
}

torch::Tensor TorchClassificationEvaluator::state() {
  return state_of(evaluator_);
}

void TorchClassificationEvaluator::merge(const torch::Tensor& state) {
  merge_into(evaluator_, state);
}

} // namespace gpueval::torch_adapter
