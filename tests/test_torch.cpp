// The LibTorch adapter on CPU tensors: the same numbers as the core API, every dtype and layout,
// and c10::Error naming both sides of every mismatch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "gpueval/geometry.hpp"
#include "gpueval/regression.hpp"
#include "gpueval/torch_evaluator.hpp"

namespace gpueval {
namespace {

using torch_adapter::TorchEvaluator;

std::string core_json(const RegressionSpec& spec, const torch::Tensor& p, const torch::Tensor& t,
                      const c10::optional<torch::Tensor>& m = c10::nullopt) {
  // The core API on contiguous copies of the same values.
  const torch::Tensor pc = p.contiguous(), tc = t.contiguous();
  Evaluator ev(spec, Device::cpu(2));
  auto view = [](const torch::Tensor& x, DType d) {
    std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end());
    return TensorView::contiguous(x.data_ptr(), d, shape.data(), static_cast<int>(shape.size()));
  };
  const auto dtype = [](const torch::Tensor& x) {
    return x.scalar_type() == torch::kHalf       ? DType::f16
           : x.scalar_type() == torch::kBFloat16 ? DType::bf16
           : x.scalar_type() == torch::kDouble   ? DType::f64
                                                 : DType::f32;
  };
  torch::Tensor mc;
  if (m) {
    mc = m->contiguous();
  }
  ev.update(view(pc, dtype(pc)), view(tc, dtype(tc)), m ? view(mc, DType::boolean) : TensorView{});
  Report r = ev.compute();
  return r.to_json();
}

TEST(Torch, SameNumbersAsTheCoreApi) {
  torch::manual_seed(0);
  RegressionSpec spec;
  spec.metrics = all_metrics();
  const torch::Tensor t = torch::randn({16, 50, 20}).abs();
  const torch::Tensor p = t + 0.1 * torch::randn_like(t);
  for (auto dt : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    TorchEvaluator ev(spec, torch::kCPU, 2);
    ev.update(p.to(dt), t.to(dt));
    EXPECT_EQ(ev.compute().to_json(), core_json(spec, p.to(dt), t.to(dt))) << dt;
  }
  // bf16 predictions with f32 targets (autocast's usual pair)
  TorchEvaluator mixed(spec, torch::kCPU, 2);
  mixed.update(p.to(torch::kBFloat16), t);
  EXPECT_EQ(mixed.compute().to_json(), core_json(spec, p.to(torch::kBFloat16), t));
}

TEST(Torch, NonContiguousSlicedAndMasked) {
  torch::manual_seed(1);
  RegressionSpec spec;
  const torch::Tensor big_t = torch::randn({8, 30, 24});
  const torch::Tensor big_p = big_t + 0.2 * torch::randn_like(big_t);
  // Sliced along the middle axis and every other channel: no axis contiguous but the first.
  const torch::Tensor p = big_p.index(
      {torch::indexing::Slice(), torch::indexing::Slice(3, 20), torch::indexing::Slice(0, 24, 2)});
  const torch::Tensor t = big_t.index(
      {torch::indexing::Slice(), torch::indexing::Slice(3, 20), torch::indexing::Slice(0, 24, 2)});
  ASSERT_FALSE(p.is_contiguous());
  const torch::Tensor mask = torch::rand({8, 17}) > 0.2;
  TorchEvaluator ev(spec, torch::kCPU, 2);
  ev.update(p, t, mask);
  EXPECT_EQ(ev.compute().to_json(), core_json(spec, p, t, mask));
  // A transposed batch: [C, B] viewed as [B, C].
  const torch::Tensor pt = torch::randn({12, 40}).t(), tt = torch::randn({12, 40}).t();
  TorchEvaluator ev2(spec, torch::kCPU, 2);
  ev2.update(pt, tt);
  EXPECT_EQ(ev2.compute().to_json(), core_json(spec, pt, tt));
}

// Sample weights through the adapter: the core API's numbers, weight_sum in the dict, a 0/1
// weight equal to the mask, and the engine's errors for a bad weight.
TEST(Torch, WeightsAsTheCoreApi) {
  torch::manual_seed(4);
  RegressionSpec spec;
  const torch::Tensor t = torch::randn({30, 7, 4}) + 10;
  const torch::Tensor p = t + 0.3 * torch::randn_like(t);
  const torch::Tensor w = torch::rand({30}) * 3;
  TorchEvaluator ev(spec, torch::kCPU, 2);
  ev.update(p, t, c10::nullopt, w);
  Evaluator core(spec, Device::cpu(2));
  const torch::Tensor pc = p.contiguous(), tc = t.contiguous();
  core.update(TensorView::contiguous(pc.data_ptr(), DType::f32, {30, 7, 4}),
              TensorView::contiguous(tc.data_ptr(), DType::f32, {30, 7, 4}), {},
              TensorView::contiguous(w.data_ptr(), DType::f32, {30}));
  EXPECT_EQ(ev.compute().to_json(), core.compute().to_json());
  EXPECT_NEAR(ev.compute_dict().at("weight_sum").item<double>(),
              28.0 * w.to(torch::kDouble).sum().item<double>(),
              1e-9 * 28.0 * w.to(torch::kDouble).sum().item<double>());
  const torch::Tensor keep = torch::rand({30}) > 0.3;
  TorchEvaluator masked(spec, torch::kCPU, 2), weighted(spec, torch::kCPU, 2);
  masked.update(p, t, keep);
  weighted.update(p, t, c10::nullopt, keep.to(torch::kFloat));
  EXPECT_EQ(weighted.compute().to_json(), masked.compute().to_json());
  torch::Tensor bad = w.clone();
  bad[3] = -1;
  try {
    ev.update(p, t, c10::nullopt, bad);
    ADD_FAILURE() << "no error for a negative weight";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight element 3 is -1"), std::string::npos) << e.what();
  }
}

TEST(Torch, DictAndStateMerge) {
  RegressionSpec spec;
  spec.by_axis = 1;
  const torch::Tensor t = torch::randn({10, 6, 3});
  const torch::Tensor p = t * 0.9;
  TorchEvaluator a(spec), b(spec), whole(spec);
  a.update(p.slice(0, 0, 4), t.slice(0, 0, 4));
  b.update(p.slice(0, 4), t.slice(0, 4));
  whole.update(p, t);
  a.merge(b.state()); // what ranks do after an all-gather of the uint8 states
  const auto da = a.compute_dict(), dw = whole.compute_dict();
  EXPECT_NEAR(da.at("r2").item<double>(), dw.at("r2").item<double>(), 1e-12);
  EXPECT_EQ(da.at("count").item<std::int64_t>(), 180);
  EXPECT_EQ(da.at("per_channel/r2").sizes(), torch::IntArrayRef({3}));
  EXPECT_EQ(da.at("by_axis/mse").sizes(), torch::IntArrayRef({6}));
  EXPECT_EQ(da.at("per_channel/count").scalar_type(), torch::kLong);
  EXPECT_TRUE(da.contains("variance_weighted/r2"));
}

template <class F> std::string torch_error(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "(no error)";
}

TEST(Torch, ErrorsNameBothSides) {
  TorchEvaluator ev(RegressionSpec{});
  const torch::Tensor x = torch::randn({4, 5});
  EXPECT_NE(torch_error([&] {
              ev.update(x, torch::randn({4, 6}));
            }).find("pred has shape [4, 5] but target has shape [4, 6]"),
            std::string::npos);
  EXPECT_NE(torch_error([&] {
              ev.update(x.to(torch::kComplexFloat), x.to(torch::kComplexFloat));
            }).find("not supported"),
            std::string::npos);
  EXPECT_NE(torch_error([&] {
              ev.update(x, x, torch::ones({3}, torch::kBool));
            }).find("does not fit target [4, 5]"),
            std::string::npos);
  EXPECT_NE(torch_error([&] { ev.update(x, x, torch::ones({4})); }).find("mask has dtype Float"),
            std::string::npos);
  ev.update(x, x);
  EXPECT_NE(torch_error([&] {
              ev.update(torch::randn({4, 6}), torch::randn({4, 6}));
            }).find("sample shape [6], but this evaluator's is [5]"),
            std::string::npos);
  EXPECT_NE(torch_error([&] { ev.merge(torch::zeros({10})); }).find("1-d uint8 tensor"),
            std::string::npos);
  EXPECT_NE(torch_error([&] { ev.merge(torch::zeros({10}, torch::kUInt8)); }).find("truncated"),
            std::string::npos);
  EXPECT_NE(torch_error([] {
              TorchEvaluator cuda(RegressionSpec{}, torch::Device("cuda:0"));
            }).find("cuda:0"),
            std::string::npos);
}

} // namespace
} // namespace gpueval

namespace gpueval {
namespace {

TEST(Torch, ClassificationSameNumbersAsTheCoreApi) {
  torch::manual_seed(3);
  ClassificationSpec spec;
  spec.task = ClassTask::multiclass;
  spec.num_classes = 5;
  spec.top_k = 2;
  spec.scores = ScoreKind::logits;
  spec.by_axis = 1; // the transposed view's axis 1: positions from strided samples
  const torch::Tensor logits = torch::randn({64, 5, 3, 2});
  const torch::Tensor labels = torch::randint(0, 5, {64, 3, 2});
  torch_adapter::TorchClassificationEvaluator ev(spec, torch::kCPU, 2);
  ev.update(logits.transpose(2, 3), labels.transpose(1, 2)); // strided views
  ClassificationEvaluator core(spec, Device::cpu(1));
  const torch::Tensor lc = logits.transpose(2, 3).contiguous();
  const torch::Tensor tc = labels.transpose(1, 2).contiguous();
  core.update(TensorView::contiguous(lc.data_ptr(), DType::f32, {64, 5, 2, 3}),
              TensorView::contiguous(tc.data_ptr(), DType::i64, {64, 2, 3}));
  ClassificationReport a = ev.compute(), b = core.compute();
  a.device.clear();
  b.device.clear();
  EXPECT_EQ(a.to_json(), b.to_json());
  const auto d = ev.compute_dict();
  EXPECT_EQ(d.at("confusion_matrix").sizes(), (std::vector<std::int64_t>{5, 5}));
  EXPECT_EQ(d.at("accuracy").item<double>(), b.value("accuracy"));
  EXPECT_EQ(d.at("per_class/f1").numel(), 5);
  EXPECT_EQ(d.at("by_axis/count").sizes(), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(d.at("by_axis/top_k_accuracy")[1].item<double>(),
            b.by_axis_values("top_k_accuracy")[1]);
  // States as uint8 tensors merge exactly.
  torch_adapter::TorchClassificationEvaluator twice(spec, torch::kCPU, 1);
  twice.merge(ev.state());
  twice.merge(ev.state());
  EXPECT_EQ(twice.compute().count, 2 * b.count);
  EXPECT_NE(torch_error([&] {
              ev.update(torch::randn({4, 6}), torch::zeros({4}, torch::kLong));
            }).find("the class axis 1 has 6 entries, not num_classes 5"),
            std::string::npos);
}

// Classification weights through the adapter: the core API's numbers, weight sums in the dict.
TEST(Torch, ClassificationWeightsAsTheCoreApi) {
  torch::manual_seed(5);
  ClassificationSpec spec;
  spec.task = ClassTask::multiclass;
  spec.num_classes = 4;
  spec.scores = ScoreKind::logits;
  const torch::Tensor logits = torch::randn({50, 4});
  const torch::Tensor labels = torch::randint(0, 4, {50});
  const torch::Tensor w = torch::rand({50}) * 2;
  torch_adapter::TorchClassificationEvaluator ev(spec, torch::kCPU, 2);
  ev.update(logits, labels, c10::nullopt, w);
  ClassificationEvaluator core(spec, Device::cpu(1));
  core.update(TensorView::contiguous(logits.data_ptr(), DType::f32, {50, 4}),
              TensorView::contiguous(labels.data_ptr(), DType::i64, {50}), {},
              TensorView::contiguous(w.data_ptr(), DType::f32, {50}));
  ClassificationReport a = ev.compute(), b = core.compute();
  a.device.clear();
  b.device.clear();
  EXPECT_EQ(a.to_json(), b.to_json());
  ASSERT_TRUE(b.weighted);
  const auto d = ev.compute_dict();
  EXPECT_EQ(d.at("confusion_matrix").scalar_type(), torch::kDouble);
  EXPECT_EQ(d.at("confusion_matrix").sum().item<double>(), b.weight_sum);
  EXPECT_NEAR(d.at("weight_sum").item<double>(), w.to(torch::kDouble).sum().item<double>(), 1e-5);
}

// TorchMetrics: any family by task and options, the numbers of the family's own evaluator.
TEST(Torch, AnyFamilyByTaskAndOptions) {
  torch::manual_seed(4);
  const torch::Tensor logits = torch::randn({40, 5, 3});
  const torch::Tensor labels = torch::randint(0, 5, {40, 3});
  torch_adapter::TorchMetrics any(
      "multiclass", {{"num_classes", "5"}, {"scores", "logits"}, {"top_k", "2"}}, torch::kCPU, 2);
  any.update(logits, labels);
  ClassificationSpec spec;
  spec.task = ClassTask::multiclass;
  spec.num_classes = 5;
  spec.top_k = 2;
  spec.scores = ScoreKind::logits;
  torch_adapter::TorchClassificationEvaluator typed(spec, torch::kCPU, 2);
  typed.update(logits, labels);
  EXPECT_EQ(any.compute().to_json(), typed.compute().to_json());
  EXPECT_EQ(any.compute_dict().at("top_k_accuracy").item<double>(),
            typed.compute().value("top_k_accuracy"));
  torch_adapter::TorchMetrics regression("regression", {{"by_axis", "1"}}, torch::kCPU, 1);
  regression.update(torch::randn({8, 6, 2}), torch::randn({8, 6, 2}));
  EXPECT_EQ(regression.compute_dict().at("by_axis/mse").numel(), 6);
  EXPECT_NE(torch_error([] {
              torch_adapter::TorchMetrics bad("multiclass", {{"num_classes", "5"}, {"k", "2"}});
            }).find("'k' is not an option of classification"),
            std::string::npos);
}

TEST(Torch, GeometryDictPerJoint) {
  torch::manual_seed(3);
  const torch::Tensor t = torch::randn({25, 17, 3}, torch::kFloat64);
  const torch::Tensor p = 1.1 * t + 0.1 * torch::randn({25, 17, 3}, torch::kFloat64);
  GeometrySpec spec;
  spec.key_axis = 1;
  torch_adapter::TorchGeometryEvaluator ev(spec, torch::kCPU, 2);
  ev.update(p.transpose(0, 1).contiguous().transpose(0, 1), t); // strided: read in place
  const auto d = ev.compute_dict();
  EXPECT_NEAR(d.at("mpjpe").item<double>(), (p - t).norm(2, -1).mean().item<double>(), 1e-13);
  EXPECT_EQ(d.at("per_key/pa_mpjpe").size(0), 17);
  EXPECT_EQ(d.at("per_key/count").dtype(), torch::kInt64);
  EXPECT_EQ(d.at("pck_curve/pck").size(0), 31);
  torch_adapter::TorchGeometryEvaluator other(spec, torch::kCPU, 1);
  other.merge(ev.state());
  EXPECT_EQ(other.compute_dict().at("pa_mpjpe").item<double>(), d.at("pa_mpjpe").item<double>());
  // PCKh: the normalizer (a head size per pose) divides the errors the PCK thresholds see.
  spec.metrics = {GeoMetric::pck};
  spec.pck_thresholds = {0.2};
  torch_adapter::TorchGeometryEvaluator pckh(spec, torch::kCPU, 2);
  const torch::Tensor head = 0.5 + torch::rand({25}, torch::kFloat64);
  pckh.update(p, t, c10::nullopt, c10::nullopt, head);
  const torch::Tensor relative = (p - t).norm(2, -1) / head.unsqueeze(1);
  EXPECT_EQ(pckh.compute_dict().at("pck@0.2").item<double>(),
            (relative < 0.2).to(torch::kFloat64).mean().item<double>());
}

} // namespace
} // namespace gpueval
