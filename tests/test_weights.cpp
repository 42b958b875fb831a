// Sample weights in the regression family (docs/design.md, "Weights"): a mask is a 0/1 weight
// to the bit, unit weights are the unweighted fold to the bit, integer weights repeat samples, bad
// weights change nothing and name the element, and weighted states travel. The values against
// the weighted long-double reference are in test_evaluator.cpp (WeightsAgreeWith...).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "batch_data.hpp"
#include "error_of.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"
#include "reference.hpp"

namespace gpueval {
namespace {

RegressionSpec weighted_spec() {
  RegressionSpec spec;
  spec.metrics.clear();
  for (Metric m : all_metrics()) {
    if (!test::is_quantile_metric(m)) {
      spec.metrics.push_back(m);
    }
  }
  return spec;
}

TensorView of(const void* data, DType dtype, const std::vector<std::int64_t>& shape) {
  return TensorView::contiguous(data, dtype, shape.data(), static_cast<int>(shape.size()));
}

TensorView view(const std::vector<float>& v, const std::vector<std::int64_t>& shape) {
  return of(v.data(), DType::f32, shape);
}

// The same 0/1 values as a u8 mask, an f32 weight and an f64 weight: bitwise equal reports and
// states, in both regimes (K = 20 rows, K = 1001 keys), with weights of the tensor's shape and
// of the batch axis, on 1 and 3 threads.
TEST(Weights, ZeroOneWeightsAreTheMaskToTheBit) {
  for (std::int64_t keys : {1, 20, 1001}) {
    for (bool prefix : {false, true}) {
      const std::int64_t rows = keys == 1001 ? 300 : 5000;
      const auto p = test::noise(static_cast<std::size_t>(rows * keys), 3e4, 1);
      const auto t = test::noise(p.size(), 3e4, 2);
      const std::size_t n = prefix ? static_cast<std::size_t>(rows) : p.size();
      std::vector<std::uint8_t> mask(n);
      std::vector<float> w32(n);
      std::vector<double> w64(n);
      std::mt19937_64 rng(3);
      for (std::size_t i = 0; i < n; ++i) {
        mask[i] = rng() % 4 != 0;
        w32[i] = static_cast<float>(mask[i]);
        w64[i] = mask[i];
      }
      const std::vector<std::int64_t> shape = {rows, keys};
      const std::vector<std::int64_t> mshape =
          prefix ? std::vector<std::int64_t>{rows} : std::vector<std::int64_t>{rows, keys};
      for (int threads : {1, 3}) {
        Evaluator masked(weighted_spec(), Device::cpu(threads)),
            by_f32(weighted_spec(), Device::cpu(threads)),
            by_f64(weighted_spec(), Device::cpu(threads));
        masked.update(view(p, shape), view(t, shape), of(mask.data(), DType::u8, mshape));
        by_f32.update(view(p, shape), view(t, shape), {}, of(w32.data(), DType::f32, mshape));
        by_f64.update(view(p, shape), view(t, shape), {}, of(w64.data(), DType::f64, mshape));
        const std::string what = "K=" + std::to_string(keys) + (prefix ? " prefix" : " full") +
                                 ", threads " + std::to_string(threads);
        const std::string want = masked.compute().to_json();
        EXPECT_EQ(by_f32.compute().to_json(), want) << what;
        EXPECT_EQ(by_f64.compute().to_json(), want) << what;
        EXPECT_EQ(by_f32.state().bytes, masked.state().bytes) << what;
      }
    }
  }
}

// Weights of 1 take the general path; no weights the vector fast path: the same bits.
TEST(Weights, UnitWeightsAreTheUnweightedFoldToTheBit) {
  for (std::int64_t keys : {3, 129}) {
    const std::int64_t rows = 2000;
    const auto p = test::noise(static_cast<std::size_t>(rows * keys), -7e3, 4);
    const auto t = test::noise(p.size(), -7e3, 5);
    const std::vector<float> ones(p.size(), 1.0f);
    Evaluator plain(weighted_spec(), Device::cpu(2)), unit(weighted_spec(), Device::cpu(2));
    plain.update(view(p, {rows, keys}), view(t, {rows, keys}));
    unit.update(view(p, {rows, keys}), view(t, {rows, keys}), {}, view(ones, {rows, keys}));
    const Report r = unit.compute();
    EXPECT_EQ(r.to_json(), plain.compute().to_json()) << "K=" << keys;
    EXPECT_EQ(r.weight_sum, static_cast<double>(r.count));
    EXPECT_EQ(r.to_json().find("weight_sum"), std::string::npos) << "unweighted reads as before";
  }
}

// A weight of k is k copies of the sample (scikit-learn's meaning of an integer sample_weight).
TEST(Weights, IntegerWeightsRepeatSamples) {
  const std::int64_t rows = 500, keys = 6;
  const auto p = test::noise(static_cast<std::size_t>(rows * keys), 50, 6);
  const auto t = test::noise(p.size(), 50, 7);
  std::vector<float> w(static_cast<std::size_t>(rows));
  std::vector<float> rp, rt;
  for (std::int64_t r = 0; r < rows; ++r) {
    w[static_cast<std::size_t>(r)] = static_cast<float>(r % 4); // 0 .. 3 copies
    for (int c = 0; c < r % 4; ++c) {
      rp.insert(rp.end(), p.begin() + r * keys, p.begin() + (r + 1) * keys);
      rt.insert(rt.end(), t.begin() + r * keys, t.begin() + (r + 1) * keys);
    }
  }
  Evaluator weighted(weighted_spec(), Device::cpu(2)), repeated(weighted_spec(), Device::cpu(2));
  weighted.update(view(p, {rows, keys}), view(t, {rows, keys}), {},
                  TensorView::contiguous(w.data(), DType::f32, {rows}));
  const auto copies = static_cast<std::int64_t>(rp.size()) / keys;
  repeated.update(view(rp, {copies, keys}), view(rt, {copies, keys}));
  const Report a = weighted.compute(), b = repeated.compute();
  EXPECT_EQ(a.weight_sum, static_cast<double>(b.count));
  EXPECT_EQ(a.count, static_cast<std::uint64_t>(rows / 4 * 3 * keys)); // pairs of weight > 0
  for (std::size_t i = 0; i < a.headline.size(); ++i) {
    EXPECT_TRUE(test::within_accuracy(a.headline[i], b.headline[i], 1.0))
        << metric_name(a.spec.metrics[i]) << ": " << a.headline[i] << " vs " << b.headline[i];
  }
}

// Negative and non-finite weights raise before anything is folded, naming the batch, the weight
// element and its value, masked or not; the epoch is what it was.
TEST(Weights, BadWeightsRaiseAndChangeNothing) {
  const std::int64_t rows = 40, keys = 5;
  const auto p = test::noise(static_cast<std::size_t>(rows * keys), 0, 8);
  const auto t = test::noise(p.size(), 0, 9);
  std::vector<float> w(p.size(), 0.5f);
  std::vector<std::uint8_t> none(static_cast<std::size_t>(rows), 0);
  for (float bad :
       {-1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Evaluator ev(weighted_spec(), Device::cpu(2));
    ev.update(view(p, {rows, keys}), view(t, {rows, keys}), {}, view(w, {rows, keys}));
    const std::string before = ev.compute().to_json();
    std::vector<float> b = w;
    b[17] = bad;
    const std::string msg = test::error_of<InvalidArgument>([&] {
      ev.update(view(p, {rows, keys}), view(t, {rows, keys}),
                TensorView::contiguous(none.data(), DType::u8, {rows}), view(b, {rows, keys}));
    });
    EXPECT_NE(msg.find("batch 1, weight element 17 is"), std::string::npos) << msg;
    EXPECT_NE(msg.find("finite and >= 0"), std::string::npos) << msg;
    EXPECT_EQ(ev.compute().to_json(), before);
  }
}

TEST(Weights, RefusedWhereTheyCannotMeanWhatTheCallerSaid) {
  const std::int64_t rows = 8, keys = 4;
  const auto p = test::noise(static_cast<std::size_t>(rows * keys), 0, 10);
  const auto t = test::noise(p.size(), 0, 11);
  const std::vector<std::int32_t> ints(static_cast<std::size_t>(rows), 1);
  const std::vector<float> w(static_cast<std::size_t>(rows * keys), 1.0f);
  Evaluator ev(weighted_spec(), Device::cpu(1));
  EXPECT_NE(test::error_of<InvalidArgument>([&] {
              ev.update(view(p, {rows, keys}), view(t, {rows, keys}), {},
                        TensorView::contiguous(ints.data(), DType::i32, {rows}));
            }).find("a weight is a float type"),
            std::string::npos);
  EXPECT_NE(test::error_of<InvalidArgument>([&] {
              ev.update(view(p, {rows, keys}), view(t, {rows, keys}), {}, view(w, {keys, rows}));
            }).find("weight [4, 8] does not fit pred [8, 4]"),
            std::string::npos);
  RegressionSpec quantiles;
  quantiles.metrics = {Metric::mse, Metric::median_absolute_error};
  Evaluator q(quantiles, Device::cpu(1));
  EXPECT_NE(test::error_of<InvalidArgument>([&] {
              q.update(view(p, {rows, keys}), view(t, {rows, keys}), {}, view(w, {rows, keys}));
            }).find("quantile metrics"),
            std::string::npos);
}

// A weighted state carries the weights' sums: parts merge to the whole within the accuracy rule
// and a fresh evaluator reproduces a state bitwise.
TEST(Weights, WeightedStatesMerge) {
  const std::int64_t rows = 400, keys = 24;
  const auto p = test::noise(static_cast<std::size_t>(rows * keys), 2, 12);
  const auto t = test::noise(p.size(), 2, 13);
  std::vector<float> w(static_cast<std::size_t>(rows));
  std::mt19937_64 rng(14);
  for (float& x : w) {
    x = static_cast<float>(rng() % 1000) / 64.0f;
  }
  const auto part = [&](const std::vector<float>& v, std::int64_t r0, std::int64_t n) {
    return TensorView::contiguous(v.data() + r0 * keys, DType::f32, {n, 8, 3});
  };
  const auto wpart = [&](std::int64_t r0, std::int64_t n) {
    return TensorView::contiguous(w.data() + r0, DType::f32, {n});
  };
  Evaluator whole(weighted_spec(), Device::cpu(2)), a(weighted_spec(), Device::cpu(1)),
      b(weighted_spec(), Device::cpu(2));
  whole.update(part(p, 0, rows), part(t, 0, rows), {}, wpart(0, rows));
  a.update(part(p, 0, 150), part(t, 0, 150), {}, wpart(0, 150));
  b.update(part(p, 150, 250), part(t, 150, 250), {}, wpart(150, 250));
  a.merge(b.state());
  const Report ra = a.compute(), rw = whole.compute();
  EXPECT_EQ(ra.count, rw.count);
  EXPECT_EQ(ra.weight_sum, rw.weight_sum);
  EXPECT_NE(rw.to_json().find("\"weight_sum\": "), std::string::npos);
  for (std::size_t i = 0; i < rw.headline.size(); ++i) {
    EXPECT_TRUE(test::within_accuracy(ra.headline[i], rw.headline[i], 1.0))
        << metric_name(rw.spec.metrics[i]);
  }
  Evaluator fresh(weighted_spec(), Device::cpu(2));
  fresh.merge(whole.state());
  EXPECT_EQ(fresh.compute().to_json(), rw.to_json());
  EXPECT_EQ(fresh.state().bytes, whole.state().bytes);
}

} // namespace
} // namespace gpueval
