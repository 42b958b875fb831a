// Metric names, spec validation, key layouts, devices, tensor views.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {
namespace {

template <class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Metrics, TableIsInEnumOrderAndNamesRoundTrip) {
  for (int i = 0; i < kNumMetrics; ++i) {
    const MetricInfo& info = metric_table()[static_cast<std::size_t>(i)];
    EXPECT_EQ(static_cast<int>(info.metric), i);
    EXPECT_EQ(parse_metric(info.name), info.metric);
  }
}

TEST(Metrics, DefaultSetExcludesOptIn) {
  const std::vector<Metric> d = default_metrics();
  EXPECT_EQ(d.size(), 12u);
  for (Metric m : {Metric::nrmse_range, Metric::mape, Metric::smape, Metric::msle}) {
    EXPECT_EQ(std::find(d.begin(), d.end(), m), d.end());
  }
  EXPECT_EQ(groups_for(d), unsigned{kGroupCore});
  EXPECT_EQ(groups_for(all_metrics()), unsigned{kKnownGroups});
  EXPECT_EQ(groups_for({Metric::mse, Metric::smape}), unsigned{kGroupPct});
}

TEST(Metrics, UnknownNameListsValidOnes) {
  const std::string msg = error_of([] { parse_metric("rsme"); });
  EXPECT_NE(msg.find("unknown metric 'rsme'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rmse"), std::string::npos) << msg;
  EXPECT_NE(msg.find("explained_variance"), std::string::npos) << msg;
}

TEST(Metrics, ParseList) {
  EXPECT_EQ(parse_metric_list("mse,mae"), (std::vector<Metric>{Metric::mse, Metric::mae}));
  EXPECT_EQ(parse_metric_list("default"), default_metrics());
  EXPECT_EQ(parse_metric_list("default,msle").back(), Metric::msle);
  EXPECT_EQ(parse_metric_list("all").size(), static_cast<std::size_t>(kNumMetrics));
  EXPECT_NE(error_of([] { parse_metric_list("mse,,mae"); }).find("empty entry"), std::string::npos);
  EXPECT_NE(error_of([] { parse_metric_list("mse,mse"); }).find("listed twice"), std::string::npos);
  EXPECT_NE(error_of([] { parse_metric_list(""); }).find("empty entry"), std::string::npos);
}

TEST(Spec, ValidateRejectsWithClearMessages) {
  RegressionSpec s;
  EXPECT_NO_THROW(s.validate());
  s.metrics.clear();
  EXPECT_NE(error_of([&] { s.validate(); }).find("empty"), std::string::npos);
  s = RegressionSpec{};
  s.channel_axis = 0;
  EXPECT_NE(error_of([&] { s.validate(); }).find("channel_axis 0 is the batch axis"),
            std::string::npos);
  s.channel_axis = 3; // checked against the rank once the sample shape is known
  s.sample_shape = {4, 5};
  EXPECT_NE(error_of([&] { s.validate(); }).find("channel_axis 3 is not a sample axis"),
            std::string::npos);
  s = RegressionSpec{};
  s.by_axis = 0;
  EXPECT_NE(error_of([&] { s.validate(); }).find("batch axis"), std::string::npos);
  s = RegressionSpec{};
  s.metrics = {Metric::r2, Metric::r2};
  EXPECT_NE(error_of([&] { s.validate(); }).find("listed twice"), std::string::npos);
  EXPECT_EQ(parse_nan_policy("propagate"), NanPolicy::propagate);
  EXPECT_NE(error_of([] { parse_nan_policy("ignore"); }).find("skip, propagate or error"),
            std::string::npos);
}

TEST(Spec, FingerprintSeesEverythingThatShapesTheState) {
  RegressionSpec a;
  a.sample_shape = {500, 20};
  RegressionSpec b = a;
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  b.metrics = {Metric::mse}; // same groups: the state is the same
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  b.metrics = {Metric::mape};
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b = a;
  b.by_axis = 1;
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b = a;
  b.channel_axis.reset();
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b = a;
  b.nan_policy = NanPolicy::propagate;
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b = a;
  b.sample_shape = {20, 500};
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

TEST(KeyLayout, Regimes) {
  RegressionSpec s;
  KeyLayout l = KeyLayout::from(s, {500, 20});
  EXPECT_EQ(l.keys, 20);
  EXPECT_EQ(l.channels, 20);
  EXPECT_EQ(l.by_axis, -1);

  l = KeyLayout::from(s, {}); // rank-1 batches: one channel
  EXPECT_EQ(l.keys, 1);
  EXPECT_EQ(l.channels, 1);

  s.channel_axis.reset();
  l = KeyLayout::from(s, {500, 20});
  EXPECT_EQ(l.keys, 1);
  EXPECT_EQ(l.channels, 1);

  s = RegressionSpec{};
  s.by_axis = 1; // [batch, time, channel]: K = time * channel
  l = KeyLayout::from(s, {500, 20});
  EXPECT_EQ(l.keys, 10000);
  EXPECT_EQ(l.channels, 20);
  EXPECT_EQ(l.by_length, 500);
  EXPECT_EQ(l.channel_of(10 * 20 + 7), 7);
  EXPECT_EQ(l.by_index_of(10 * 20 + 7), 10);

  s.by_axis = -2; // the same axis counted from the end of [B, 500, 20]
  EXPECT_EQ(KeyLayout::from(s, {500, 20}).keys, 10000);

  s.by_axis = 1; // [batch, time, joint, xyz]
  l = KeyLayout::from(s, {50, 17, 3});
  EXPECT_EQ(l.keys, 50 * 17 * 3);
  EXPECT_EQ(l.channels, 3);
  EXPECT_EQ(l.by_index_of(49 * 51 + 50), 49);

  s.channel_axis.reset();
  l = KeyLayout::from(s, {50, 17});
  EXPECT_EQ(l.keys, 850);
  EXPECT_EQ(l.channels, 1);
  EXPECT_EQ(l.by_index_of(849), 49);
}

TEST(KeyLayout, Errors) {
  RegressionSpec s;
  s.by_axis = 2; // the channel axis of [B, 500, 20]
  EXPECT_NE(error_of([&] {
              KeyLayout::from(s, {500, 20});
            }).find("is the channel axis"),
            std::string::npos);
  s.by_axis = 3;
  EXPECT_NE(error_of([&] {
              KeyLayout::from(s, {500, 20});
            }).find("outside the sample axes"),
            std::string::npos);
  s.by_axis = 1;
  const std::string big = error_of([&] { KeyLayout::from(s, {4096, 512}); });
  EXPECT_NE(big.find("more than 1048576 keys"), std::string::npos) << big;
  EXPECT_NE(error_of([&] {
              KeyLayout::from(RegressionSpec{}, {500, 0});
            }).find("zero-length"),
            std::string::npos);
  // A cap that holds exactly.
  EXPECT_EQ(KeyLayout::from(s, {2048, 512}).keys, kMaxKeys);
}

TEST(Device, ParseAndDescribe) {
  EXPECT_EQ(Device::parse("cpu").kind, DeviceKind::cpu);
  EXPECT_EQ(Device::parse("cuda").index, 0);
  EXPECT_EQ(Device::parse("cuda:3").index, 3);
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:123456"}) {
    EXPECT_NE(error_of([&] { Device::parse(bad); }).find("use cpu, cuda or cuda:N"),
              std::string::npos)
        << bad;
  }
  EXPECT_EQ(Device::cpu(2).describe(), "cpu (2 threads)");
  EXPECT_EQ(Device::cpu(1).describe(), "cpu (1 thread)");
  EXPECT_EQ(Device::cuda(1).describe(), "cuda:1");
}

TEST(TensorView, ContiguousShapesAndStrides) {
  float data[24] = {};
  TensorView v = TensorView::contiguous(data, DType::f32, {2, 3, 4});
  EXPECT_EQ(v.rank, 3);
  EXPECT_EQ(v.strides[0], 12);
  EXPECT_EQ(v.strides[2], 1);
  EXPECT_EQ(v.numel(), 24);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.describe(), "[2, 3, 4] float32 on cpu");
  v.strides[0] = 24; // every other row of a bigger tensor
  EXPECT_FALSE(v.is_contiguous());
  EXPECT_NE(error_of([&] {
              TensorView::contiguous(data, DType::f32, {2, -1});
            }).find("negative"),
            std::string::npos);
}

} // namespace
} // namespace gpueval

namespace gpueval {
namespace {

TEST(Families, UpdateWithRefusesAnInputTheFamilyDoesNotTake) {
  const std::vector<float> p = {1, 2, 3, 4}, t = {1, 2, 2, 5};
  const std::int64_t shape[1] = {4};
  const TensorView pv = TensorView::contiguous(p.data(), DType::f32, shape, 1);
  const TensorView tv = TensorView::contiguous(t.data(), DType::f32, shape, 1);
  auto ev = make_evaluator("regression", {}, Device::cpu(1));
  ev->update_with(pv, tv, TensorView{}, TensorView{}, {}); // none: a plain update
  EXPECT_EQ(ev->batches(), 1u);
  try {
    ev->update_with(pv, tv, TensorView{}, TensorView{}, {{"normalizer", pv}});
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("the regression family takes no input 'normalizer' (its "
                                         "inputs beside pred, target, mask and weight: none)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(ev->batches(), 1u);
}

} // namespace
} // namespace gpueval
