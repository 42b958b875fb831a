// The error-quantile sketch: its buckets (order, accuracy, the special ones), quantiles against
// sorted data on adversarial distributions, and through the evaluator: non-finite values under
// each policy, breakdowns, states (round trip, mismatched accuracy, corrupt counts).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/state_blob.hpp"
#include "error_of.hpp"
#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/regression.hpp"

namespace gpueval {
namespace {

namespace sk = ops::sketch;

TEST(Sketch, BucketsAreOrderedAndWithinTheirAccuracy) {
  EXPECT_EQ(sk::mantissa_bits_for(0.005), 7);
  EXPECT_LT(sk::alpha(7), 0.005);
  EXPECT_GT(sk::alpha(6), 0.005);
  for (int bits = sk::kMinBits; bits <= sk::kMaxBits; ++bits) {
    EXPECT_EQ(sk::mantissa_bits_for(sk::alpha(bits)), bits);
  }
  std::mt19937_64 g(1);
  std::uniform_real_distribution<double> exponent(-63.9, 63.9);
  for (int bits : {1, 4, 7, 10}) {
    std::vector<double> xs;
    for (int i = 0; i < 20000; ++i) {
      xs.push_back(std::exp2(exponent(g)));
    }
    std::sort(xs.begin(), xs.end());
    std::uint32_t previous = 0;
    double worst = 0;
    for (double x : xs) {
      const std::uint32_t b = sk::bucket(x, bits);
      EXPECT_GE(b, previous) << x; // monotonic
      previous = b;
      EXPECT_EQ(sk::bucket(-x, bits), b); // the sign is dropped
      worst = std::max(worst, std::fabs(sk::bucket_value(b, bits) - x) / x);
    }
    EXPECT_LE(worst, sk::alpha(bits) * (1 + 1e-12)) << bits;
    EXPECT_GT(worst, 0.8 * sk::alpha(bits)) << bits; // the bound is tight, not loose
  }
  // The edges: bucket boundaries are exact powers of two times 1 + k 2^-bits.
  EXPECT_EQ(sk::bucket(0.0, 7), 0u);
  EXPECT_EQ(sk::bucket(std::ldexp(1.0, -65), 7), 0u);
  EXPECT_EQ(sk::bucket(5e-324, 7), 0u);
  EXPECT_EQ(sk::bucket(std::ldexp(1.0, -64), 7), 1u);
  EXPECT_EQ(sk::bucket(std::nextafter(std::ldexp(1.0, 64), 0.0), 7), sk::overflow_bucket(7) - 1);
  EXPECT_EQ(sk::bucket(std::ldexp(1.0, 64), 7), sk::overflow_bucket(7));
  EXPECT_EQ(sk::bucket(INFINITY, 7), sk::overflow_bucket(7));
  EXPECT_EQ(sk::bucket(NAN, 7), sk::nan_bucket(7));
  EXPECT_EQ(sk::bucket_value(0, 7), 0.0);
  EXPECT_EQ(sk::bucket_value(sk::overflow_bucket(7), 7), INFINITY);
  EXPECT_EQ(sk::buckets(7), 16387);
}

double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

TEST(Sketch, QuantilesWithinTheAccuracyOnAdversarialData) {
  std::mt19937_64 g(2);
  std::lognormal_distribution<double> wide(0.0, 8.0); // 1e-7 .. 1e7 and beyond
  std::vector<std::vector<double>> cases = {
      {3.0},                          // one value
      {1e-6, 1e6},                    // two far apart: interpolation across 12 decades
      std::vector<double>(1001, 0.5), // all equal
      {},
  };
  for (int i = 0; i < 5000; ++i) {
    cases[3].push_back(wide(g));
  }
  std::vector<double> bimodal; // half exact zeros, half around 1e3
  for (int i = 0; i < 4000; ++i) {
    bimodal.push_back(i % 2 ? 1e3 * (1 + 0.01 * i) : 0.0);
  }
  cases.push_back(bimodal);
  for (int bits : {3, 7}) {
    for (const auto& v : cases) {
      std::vector<std::uint64_t> counts(static_cast<std::size_t>(sk::buckets(bits)), 0);
      for (double x : v) {
        ++counts[sk::bucket(x, bits)];
      }
      for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 1.0}) {
        const double want = exact_quantile(v, q);
        const double got = sk::quantile(counts.data(), bits, q);
        EXPECT_LE(std::fabs(got - want), sk::alpha(bits) * want * (1 + 1e-12))
            << "bits " << bits << " n " << v.size() << " q " << q << ": " << got << " vs " << want;
      }
    }
  }
  std::vector<std::uint64_t> none(static_cast<std::size_t>(sk::buckets(7)), 0);
  EXPECT_TRUE(std::isnan(sk::quantile(none.data(), 7, 0.5)));
}

RegressionSpec quantile_spec() {
  RegressionSpec s;
  s.metrics = parse_metric_list("mae,median_absolute_error,abs_error_q90,abs_error_q99");
  return s;
}

TEST(SketchEvaluator, NonFiniteValuesFollowThePolicy) {
  std::vector<double> p = {1, 2, 3, NAN, 5, INFINITY}, t = {0, 0, 0, 0, 0, 0};
  for (NanPolicy policy : {NanPolicy::skip, NanPolicy::propagate}) {
    RegressionSpec s = quantile_spec();
    s.channel_axis.reset();
    s.nan_policy = policy;
    Evaluator ev(s, Device::cpu(1));
    ev.update(TensorView::contiguous(p.data(), DType::f64, {6}),
              TensorView::contiguous(t.data(), DType::f64, {6}));
    const Report r = ev.compute();
    if (policy == NanPolicy::skip) { // 1, 2, 3, 5: median 2.5
      EXPECT_NEAR(r.value("median_absolute_error"), 2.5, 2.5 * sk::alpha(7));
      EXPECT_EQ(r.skipped_nonfinite, 2u);
    } else {
      EXPECT_TRUE(std::isnan(r.value("median_absolute_error")));
    }
  }
  RegressionSpec s = quantile_spec();
  s.channel_axis.reset();
  s.nan_policy = NanPolicy::propagate;
  Evaluator inf(s, Device::cpu(1)); // an infinite error: the top quantiles are infinite
  std::vector<double> p2 = {1, 2, 3, INFINITY};
  inf.update(TensorView::contiguous(p2.data(), DType::f64, {4}),
             TensorView::contiguous(t.data(), DType::f64, {4}));
  EXPECT_EQ(inf.compute().value("abs_error_q99"), INFINITY);
  EXPECT_NEAR(inf.compute().value("median_absolute_error"), 2.5, 2.5 * sk::alpha(7));
}

TEST(SketchEvaluator, PerChannelHeadlineAndNoBreakdown) {
  // Channel c's errors are (c + 1) * (1 .. 100): medians 50.5 (c + 1).
  RegressionSpec s = quantile_spec();
  s.by_axis = 1;
  std::vector<float> p(100 * 2 * 3), t(p.size(), 0.0f);
  for (int r = 0; r < 100; ++r) {
    for (int j = 0; j < 2; ++j) {
      for (int c = 0; c < 3; ++c) {
        p[static_cast<std::size_t>((r * 2 + j) * 3 + c)] = static_cast<float>((c + 1) * (r + 1));
      }
    }
  }
  Evaluator ev(s, Device::cpu(2));
  ev.update(TensorView::contiguous(p.data(), DType::f32, {100, 2, 3}),
            TensorView::contiguous(t.data(), DType::f32, {100, 2, 3}));
  const Report r = ev.compute();
  const auto& per = r.per_channel_values("median_absolute_error");
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(per[static_cast<std::size_t>(c)], 50.5 * (c + 1), 50.5 * (c + 1) * sk::alpha(7));
  }
  EXPECT_DOUBLE_EQ(r.value("median_absolute_error"), (per[0] + per[1] + per[2]) / 3);
  EXPECT_TRUE(std::isnan(r.by_axis_values("median_absolute_error")[0]));
  EXPECT_FALSE(std::isnan(r.by_axis_values("mae")[0]));
  EXPECT_EQ(r.quantile_bits, 7);
}

TEST(SketchEvaluator, StatesRoundTripAndRefuseMismatches) {
  std::mt19937_64 g(3);
  std::normal_distribution<float> z;
  std::vector<float> p(4000), t(4000);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = z(g);
    t[i] = z(g);
  }
  const RegressionSpec s = quantile_spec();
  const auto fold = [&](const RegressionSpec& spec, int threads, std::int64_t rows_per_batch) {
    Evaluator ev(spec, Device::cpu(threads));
    for (std::int64_t r = 0; r < 1000; r += rows_per_batch) {
      const std::int64_t rows = std::min<std::int64_t>(rows_per_batch, 1000 - r);
      ev.update(TensorView::contiguous(p.data() + r * 4, DType::f32, {rows, 4}),
                TensorView::contiguous(t.data() + r * 4, DType::f32, {rows, 4}));
    }
    return ev;
  };
  Evaluator whole = fold(s, 1, 1000);
  const State whole_state = whole.state(); // open_state points into it
  const detail::OpenedState w = detail::open_state(whole_state);
  const std::vector<std::uint8_t> want(w.payload, w.payload + w.payload_size);
  // The sketch follows the 4 keys' core records (112 bytes each); the records round by batch
  // split, the sketch's integer counts do not.
  const std::size_t records = 4 * 112;
  for (auto [threads, rows] : {std::pair{2, 7}, std::pair{5, 333}}) {
    const State st = fold(s, threads, rows).state();
    const detail::OpenedState o = detail::open_state(st);
    EXPECT_EQ(std::vector<std::uint8_t>(o.payload + records, o.payload + o.payload_size),
              std::vector<std::uint8_t>(want.begin() + records, want.end()))
        << threads << " threads, batches of " << rows << " rows";
  }
  // Merged halves give the whole's report.
  Evaluator a(s, Device::cpu(1)), b(s, Device::cpu(2)), merged(s, Device::cpu(1));
  a.update(TensorView::contiguous(p.data(), DType::f32, {500, 4}),
           TensorView::contiguous(t.data(), DType::f32, {500, 4}));
  b.update(TensorView::contiguous(p.data() + 2000, DType::f32, {500, 4}),
           TensorView::contiguous(t.data() + 2000, DType::f32, {500, 4}));
  merged.merge(a.state());
  merged.merge(b.state());
  EXPECT_EQ(merged.compute().per_channel, whole.compute().per_channel);
  const StateInfo info = inspect_state(whole.state());
  EXPECT_EQ(info.quantile_alpha, 0.005); // as the spec asked
  Evaluator again(info.spec(), Device::cpu(1));
  again.merge(whole.state());
  EXPECT_EQ(again.compute().value("abs_error_q99"), whole.compute().value("abs_error_q99"));
  // Another accuracy does not merge; a state without the sketch cannot serve one that needs it.
  RegressionSpec fine = s;
  fine.quantile_alpha = 0.001;
  Evaluator other = fold(fine, 1, 1000);
  const std::string other_accuracy =
      test::error_of<StateError>([&] { other.merge(whole.state()); });
  EXPECT_NE(other_accuracy.find("a quantile sketch of 7 mantissa bits"), std::string::npos)
      << other_accuracy;
  RegressionSpec plain;
  EXPECT_THROW(whole.merge(fold(plain, 1, 1000).state()), StateError);
  // Corrupt counts (resealed, so that the checksum passes) are refused.
  const std::size_t tail = want.size() - 16; // the last (index, count) pair
  std::vector<std::uint8_t> alpha = want;    // an accuracy that is not 7 bits'
  const double wrong = 0.1;
  std::memcpy(alpha.data() + records + 8, &wrong, 8);
  EXPECT_THROW(whole.merge(detail::seal_state(w.header, alpha)), StateError);
  std::vector<std::uint8_t> zero = want;
  std::fill(zero.begin() + static_cast<long>(tail) + 8, zero.end(), std::uint8_t{0});
  EXPECT_THROW(whole.merge(detail::seal_state(w.header, zero)), StateError);
  std::vector<std::uint8_t> beyond = want;
  const std::uint64_t huge = ~std::uint64_t{0} >> 1;
  std::memcpy(beyond.data() + tail, &huge, 8);
  EXPECT_THROW(whole.merge(detail::seal_state(w.header, beyond)), StateError);
  std::vector<std::uint8_t> cut(want.begin(), want.end() - 8);
  EXPECT_THROW(whole.merge(detail::seal_state(w.header, cut)), StateError);
}

TEST(SketchEvaluator, SpecChecks) {
  RegressionSpec s = quantile_spec();
  s.quantile_alpha = 0.0001;
  EXPECT_THROW(s.validate(), InvalidArgument);
  s.quantile_alpha = 0.6;
  EXPECT_THROW(s.validate(), InvalidArgument);
  s.quantile_alpha = 0.005;
  s.sample_shape = {5000};
  EXPECT_NE(test::error_of<InvalidArgument>([&] {
              s.validate();
            }).find("5000 channels exceed the sketch cap"),
            std::string::npos);
  s.channel_axis.reset(); // one stream: fine
  EXPECT_NO_THROW(s.validate());
  RegressionSpec a = quantile_spec(), b = quantile_spec();
  b.quantile_alpha = 0.01;
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  RegressionSpec c, d; // without quantile metrics the accuracy does not matter
  d.quantile_alpha = 0.01;
  EXPECT_EQ(c.fingerprint(), d.fingerprint());
}

} // namespace
} // namespace gpueval
