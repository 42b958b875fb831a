// The classification family's CUDA backend against its CPU backend: the statistics are integers,
// so the two must agree bit for bit (every metric, the confusion matrix, the calibration bins).
// Label `gpu`; skipped without a device (a failure under GPUEVAL_REQUIRE_GPU=1). Tests named
// *Small* run under compute-sanitizer in scripts/gpu-check.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "gpu_test.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"

namespace gpueval {
namespace {

template <class T> class Device1D {
public:
  explicit Device1D(const std::vector<T>& host, std::size_t byte_offset = 0) : off_(byte_offset) {
    GPUEVAL_CUDA_TRY(cudaMalloc(&p_, host.size() * sizeof(T) + byte_offset + 16));
    GPUEVAL_CUDA_TRY(cudaMemcpy(static_cast<unsigned char*>(p_) + byte_offset, host.data(),
                                host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~Device1D() { GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(p_)); }
  Device1D(const Device1D&) = delete;
  Device1D& operator=(const Device1D&) = delete;
  const void* get() const { return static_cast<const unsigned char*>(p_) + off_; }

private:
  void* p_ = nullptr;
  std::size_t off_;
};

TensorView view(const void* p, DType t, std::vector<std::int64_t> shape, bool cuda) {
  return TensorView::contiguous(p, t, shape.data(), static_cast<int>(shape.size()),
                                cuda ? DeviceKind::cuda : DeviceKind::cpu, 0);
}

// Everything but the device line.
std::string values(ClassificationReport r) {
  r.device.clear();
  return r.to_json();
}

struct Case {
  ClassTask task;
  std::int64_t classes;
  bool logits;
  bool labels;
  bool mask;
};

void check_parity(const Case& c, std::int64_t n, std::uint64_t seed, std::size_t misalign = 0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u;
  const std::int64_t per = c.task == ClassTask::binary ? 1 : c.classes;
  std::vector<float> pred(static_cast<std::size_t>(n * per));
  std::vector<std::int64_t> target(
      static_cast<std::size_t>(c.task == ClassTask::multilabel ? n * per : n));
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(n));
  for (float& p : pred) {
    p = c.logits ? static_cast<float>(2 * z(g)) : static_cast<float>(u(g));
  }
  for (std::int64_t& t : target) {
    t = static_cast<std::int64_t>(u(g) * (c.task == ClassTask::multiclass ? c.classes : 2));
  }
  if (c.labels) {
    for (std::size_t i = 0; i < pred.size(); ++i) {
      pred[i] = static_cast<float>(target[i % target.size()] ^ (u(g) < 0.2 ? 1 : 0));
    }
  }
  for (std::uint8_t& m : mask) {
    m = u(g) < 0.8;
  }
  if (!c.labels) {
    pred[3] = NAN; // an invalid score, skipped and counted by both
  }
  ClassificationSpec spec;
  spec.task = c.task;
  spec.num_classes = c.classes;
  spec.all_metrics = true;
  spec.scores = c.logits ? ScoreKind::logits : ScoreKind::probabilities;
  spec.top_k = c.task == ClassTask::multiclass && !c.labels ? 2 : 0;
  const bool multi = c.task != ClassTask::binary;
  std::vector<std::int64_t> pshape = {n};
  if (multi && !c.labels) {
    pshape.push_back(c.classes);
  }
  if (c.task == ClassTask::multilabel && c.labels) {
    pshape.push_back(c.classes);
  }
  std::vector<std::int64_t> tshape = {n};
  if (c.task == ClassTask::multilabel) {
    tshape.push_back(c.classes);
  }
  if (c.labels && c.task == ClassTask::multiclass) {
    pred.resize(static_cast<std::size_t>(n));
  }
  std::vector<std::int32_t> pred_labels(pred.size(), 0);
  if (c.labels) {
    std::copy(pred.begin(), pred.end(), pred_labels.begin());
  }
  const DType pdt = c.labels ? DType::i32 : DType::f32;
  const void* host_pred = c.labels ? static_cast<const void*>(pred_labels.data()) : pred.data();
  ClassificationEvaluator cpu(spec, Device::cpu(2));
  ClassificationEvaluator gpu(spec, Device::cuda(0));
  Device1D<float> dp(pred, misalign);
  Device1D<std::int32_t> dl(pred_labels);
  Device1D<std::int64_t> dt(target);
  Device1D<std::uint8_t> dm(mask);
  const TensorView hm = c.mask ? view(mask.data(), DType::u8, {n}, false) : TensorView{};
  const TensorView gm = c.mask ? view(dm.get(), DType::u8, {n}, true) : TensorView{};
  cpu.update(view(host_pred, pdt, pshape, false), view(target.data(), DType::i64, tshape, false),
             hm);
  gpu.update(view(c.labels ? dl.get() : dp.get(), pdt, pshape, true),
             view(dt.get(), DType::i64, tshape, true), gm);
  EXPECT_EQ(values(gpu.compute()), values(cpu.compute()))
      << class_task_name(c.task) << " C=" << c.classes;
  // The states are bitwise the same (records and auroc histograms), and cross backends: the
  // GPU's state merges into the CPU evaluator and back.
  EXPECT_EQ(gpu.state().bytes, cpu.state().bytes) << class_task_name(c.task) << " C=" << c.classes;
  ClassificationEvaluator both(spec, Device::cpu(1));
  both.merge(gpu.state());
  both.merge(cpu.state());
  gpu.merge(cpu.state());
  EXPECT_EQ(values(both.compute()), values(gpu.compute()));
}

TEST(CudaClassification, SmallParityWithCpuForEveryTask) {
  GPUEVAL_REQUIRE_DEVICE();
  check_parity({ClassTask::binary, 2, false, false, false}, 1000, 1);
  check_parity({ClassTask::binary, 2, true, false, true}, 1000, 2);
  check_parity({ClassTask::binary, 2, false, true, false}, 1000, 3);
  check_parity({ClassTask::multiclass, 10, false, false, true}, 2000, 4);
  check_parity({ClassTask::multiclass, 10, true, false, false}, 2000, 5);
  check_parity({ClassTask::multiclass, 7, false, true, false}, 2000, 6);
  check_parity({ClassTask::multilabel, 5, false, false, true}, 1000, 7);
  check_parity({ClassTask::multilabel, 5, true, false, false}, 1000, 8);
}

TEST(CudaClassification, SmallMisalignedScores) {
  GPUEVAL_REQUIRE_DEVICE();
  check_parity({ClassTask::multiclass, 6, false, false, false}, 1000, 9, 1);
}

TEST(CudaClassification, LargeRecordsAndManySamples) {
  GPUEVAL_REQUIRE_DEVICE();
  // 1000 classes: the record (1M words) does not fit shared memory; global atomics instead.
  check_parity({ClassTask::multiclass, 1000, true, false, false}, 5000, 10);
  check_parity({ClassTask::binary, 2, false, false, true}, 3000000, 11);
}

TEST(CudaClassification, SmallNanPolicyErrorNamesTheFirstInvalidSample) {
  GPUEVAL_REQUIRE_DEVICE();
  ClassificationSpec spec;
  spec.nan_policy = NanPolicy::error;
  ClassificationEvaluator gpu(spec, Device::cuda(0));
  std::vector<float> p(100, 0.5f);
  p[42] = 2.0f;
  p[77] = NAN;
  std::vector<std::int64_t> t(100, 1);
  Device1D<float> dp(p);
  Device1D<std::int64_t> dt(t);
  gpu.update(view(dp.get(), DType::f32, {100}, true), view(dt.get(), DType::i64, {100}, true));
  try {
    (void)gpu.compute();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.batch, 0u);
    EXPECT_EQ(e.element, 42u);
  }
}

} // namespace
} // namespace gpueval
