// State blobs that must be rejected, and the errors a user sees for bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "error_of.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"

namespace gpueval {
namespace {

using test::error_of;

State some_state(RegressionSpec spec = {}, std::vector<std::int64_t> shape = {4, 5, 3}) {
  spec.metrics = spec.metrics.empty() ? default_metrics() : spec.metrics;
  Evaluator ev(spec, Device::cpu(1));
  std::vector<float> p(60), t(60);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = static_cast<float>(i % 7);
    t[i] = static_cast<float>(i % 5);
  }
  ev.update(
      TensorView::contiguous(p.data(), DType::f32, shape.data(), static_cast<int>(shape.size())),
      TensorView::contiguous(t.data(), DType::f32, shape.data(), static_cast<int>(shape.size())));
  return ev.state();
}

std::uint64_t fnv(const std::vector<std::uint8_t>& b, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

void reseal(State& s) { // a valid checksum over edited bytes
  const std::uint64_t h = fnv(s.bytes, s.bytes.size() - 8);
  for (int i = 0; i < 8; ++i) {
    s.bytes[s.bytes.size() - 8 + static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(h >> (8 * i));
  }
}

TEST(State, EveryTruncationIsRejected) {
  const State good = some_state();
  for (std::size_t len = 0; len < good.bytes.size(); ++len) {
    State cut{std::vector<std::uint8_t>(good.bytes.begin(),
                                        good.bytes.begin() + static_cast<std::ptrdiff_t>(len))};
    Evaluator ev(RegressionSpec{}, Device::cpu(1));
    const std::string msg = error_of<StateError>([&] { ev.merge(cut); });
    EXPECT_TRUE(msg.find("truncated") != std::string::npos ||
                msg.find("checksum") != std::string::npos ||
                msg.find("bad magic") != std::string::npos)
        << len << ": " << msg;
  }
}

TEST(State, EveryBitFlipIsRejected) {
  const State good = some_state();
  for (std::size_t byte = 8; byte < good.bytes.size(); byte += 3) {
    State bad = good;
    bad.bytes[byte] ^= static_cast<std::uint8_t>(1u << (byte % 8));
    Evaluator ev(RegressionSpec{}, Device::cpu(1));
    EXPECT_THROW(ev.merge(bad), StateError) << byte;
  }
}

TEST(State, OtherVersionIsRejected) {
  State s = some_state();
  s.bytes[8] = 2;
  reseal(s);
  Evaluator ev(RegressionSpec{}, Device::cpu(1));
  EXPECT_NE(error_of<StateError>([&] { ev.merge(s); }).find("version 2"), std::string::npos);
}

TEST(State, OtherSpecIsRejected) {
  RegressionSpec by_time;
  by_time.by_axis = 1;
  RegressionSpec propagate;
  propagate.nan_policy = NanPolicy::propagate;
  RegressionSpec no_channel;
  no_channel.channel_axis.reset();
  const State base = some_state();
  struct Bad {
    State state;
    const char* expect;
  };
  const Bad cases[] = {
      {some_state(by_time), "by_axis"},
      {some_state(propagate), "nan_policy propagate"},
      {some_state(no_channel), "channel axis none"},
      {some_state({}, {5, 4, 3}), "sample shape [4, 3], this evaluator has [5, 3]"},
  };
  for (const Bad& c : cases) {
    Evaluator ev(RegressionSpec{}, Device::cpu(1));
    ev.merge(base); // fixes this evaluator's sample shape at [5, 3]
    const std::string msg = error_of<StateError>([&] { ev.merge(c.state); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
  }
}

TEST(State, ExtraStatisticsAreDroppedMissingOnesRefused) {
  RegressionSpec all;
  all.metrics = all_metrics();
  const State rich = some_state(all);
  Evaluator few(RegressionSpec{}, Device::cpu(1));
  few.merge(rich); // mape, msle, ... statistics dropped
  Evaluator whole(RegressionSpec{}, Device::cpu(1));
  whole.merge(some_state());
  const Report a = few.compute(), b = whole.compute();
  EXPECT_EQ(a.headline, b.headline);
  // A state without the pct statistics cannot serve mape.
  RegressionSpec with_pct;
  with_pct.metrics = {Metric::mse, Metric::mape};
  Evaluator needs(with_pct, Device::cpu(1));
  const std::string msg = error_of<StateError>([&] { needs.merge(some_state()); });
  EXPECT_NE(msg.find("the state holds the statistics core, this evaluator needs core + pct "
                     "(mape, smape)"),
            std::string::npos)
      << msg;
}

TEST(State, InspectRebuildsAMergingSpec) {
  RegressionSpec spec;
  spec.metrics = {Metric::mse, Metric::mape, Metric::nrmse_range};
  spec.by_axis = 1;
  spec.nan_policy = NanPolicy::propagate;
  const State s = some_state(spec, {5, 4, 3});
  const StateInfo info = inspect_state(s);
  EXPECT_EQ(info.groups, unsigned{kGroupPct | kGroupRange});
  EXPECT_EQ(info.nan_policy, NanPolicy::propagate);
  EXPECT_EQ(info.channel_axis, std::optional<int>(-1));
  EXPECT_EQ(info.by_axis, std::optional<int>(1));
  EXPECT_EQ(info.sample_shape, (std::vector<std::int64_t>{4, 3}));
  EXPECT_EQ(info.keys, 12);
  EXPECT_EQ(info.batches, 1u);
  EXPECT_EQ(info.count, 5u * 4u * 3u);

  // The rebuilt spec reports the default metrics plus the opt-in ones the groups serve, and
  // merges the state into a fresh evaluator.
  const RegressionSpec rebuilt = info.spec();
  std::vector<Metric> want = default_metrics();
  want.insert(want.end(), {Metric::nrmse_range, Metric::mape, Metric::smape});
  EXPECT_EQ(rebuilt.metrics, want);
  Evaluator ev(rebuilt, Device::cpu(1));
  ev.merge(s);
  EXPECT_EQ(ev.compute().count, info.count);
  EXPECT_EQ(ev.batches(), info.batches);
  // A subset of the statistics is fine; metrics that need others are refused, naming both.
  EXPECT_EQ(info.spec({Metric::mse, Metric::mape}).metrics,
            (std::vector<Metric>{Metric::mse, Metric::mape}));
  const std::string msg = error_of<InvalidArgument>([&] {
    (void)info.spec({Metric::mse, Metric::msle});
  });
  EXPECT_NE(msg.find("core + log (msle)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("core + range (nrmse_range) + pct (mape, smape)"), std::string::npos) << msg;
  // A corrupt blob is refused as merge() refuses it.
  State bad = s;
  bad.bytes[100] ^= 1;
  EXPECT_THROW((void)inspect_state(bad), StateError);
}

TEST(State, MergeIntoFreshEvaluatorAdoptsSampleShape) {
  Evaluator ev(RegressionSpec{}, Device::cpu(1));
  ev.merge(some_state());
  std::vector<float> x(15, 1.0f);
  EXPECT_NO_THROW(ev.update(TensorView::contiguous(x.data(), DType::f32, {1, 5, 3}),
                            TensorView::contiguous(x.data(), DType::f32, {1, 5, 3})));
  EXPECT_EQ(ev.compute().count, 75u);
  EXPECT_THROW(ev.update(TensorView::contiguous(x.data(), DType::f32, {1, 3, 5}),
                         TensorView::contiguous(x.data(), DType::f32, {1, 3, 5})),
               InvalidArgument);
}

TEST(EvaluatorErrors, BadBatchesNameBothSides) {
  std::vector<float> a(120, 1.0f), b(120, 2.0f);
  std::vector<std::uint8_t> m(120, 1);
  Evaluator ev(RegressionSpec{}, Device::cpu(1));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 30}),
                        TensorView::contiguous(b.data(), DType::f32, {4, 29}));
            }).find("pred [4, 30] and target [4, 29] differ in shape"),
            std::string::npos);
  ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 30}),
            TensorView::contiguous(b.data(), DType::f32, {4, 30}));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(a.data(), DType::f32, {2, 60}),
                        TensorView::contiguous(b.data(), DType::f32, {2, 60}));
            }).find("sample shape [60], but this evaluator's is [30]"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 30}),
                        TensorView::contiguous(b.data(), DType::f32, {4, 30}),
                        TensorView::contiguous(m.data(), DType::u8, {3}));
            }).find("mask [3] does not fit pred [4, 30]"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 30}),
                        TensorView::contiguous(b.data(), DType::f32, {4, 30}),
                        TensorView::contiguous(a.data(), DType::f32, {4}));
            }).find("mask has dtype float32"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 30}, DeviceKind::cuda),
                        TensorView::contiguous(b.data(), DType::f32, {4, 30}));
            }).find("pred is on cuda:0 but this evaluator runs on cpu"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(a.data(), DType::f32, {}),
                        TensorView::contiguous(b.data(), DType::f32, {}));
            }).find("rank 0"),
            std::string::npos);
  // A failed update changes nothing.
  EXPECT_EQ(ev.batches(), 1u);
  EXPECT_EQ(ev.compute().count, 120u);
}

// One rule for no data (docs/design.md, "No data"): the same error whether or not the spec knows
// the shape; a batch of zero rows is data and reports NaN over 0 pairs.
TEST(EvaluatorErrors, ComputeBeforeAnyUpdate) {
  Evaluator ev(RegressionSpec{}, Device::cpu(1));
  const std::string fresh = error_of<InvalidArgument>([&] { (void)ev.compute(); });
  EXPECT_NE(fresh.find("compute() with no data"), std::string::npos) << fresh;
  RegressionSpec fixed;
  fixed.sample_shape = {20};
  Evaluator ev2(fixed, Device::cpu(1));
  EXPECT_EQ(error_of<InvalidArgument>([&] { (void)ev2.compute(); }), fresh);
  const std::vector<float> none(1);
  ev2.update(TensorView::contiguous(none.data(), DType::f32, {0, 20}),
             TensorView::contiguous(none.data(), DType::f32, {0, 20}));
  const Report r = ev2.compute();
  EXPECT_EQ(r.count, 0u);
  EXPECT_TRUE(std::isnan(r.value("mse")));
}

TEST(EvaluatorErrors, ResetForgetsBatches) {
  std::vector<float> a(20, 1.0f), b(20, 2.0f);
  Evaluator ev(RegressionSpec{}, Device::cpu(2));
  ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 5}),
            TensorView::contiguous(b.data(), DType::f32, {4, 5}));
  ev.reset();
  EXPECT_EQ(ev.batches(), 0u);
  EXPECT_NE(error_of<InvalidArgument>([&] { (void)ev.compute(); }).find("compute() with no data"),
            std::string::npos);
  ev.update(TensorView::contiguous(a.data(), DType::f32, {4, 5}),
            TensorView::contiguous(b.data(), DType::f32, {4, 5}));
  EXPECT_EQ(ev.compute().value("mse"), 1.0);
}

} // namespace
} // namespace gpueval
