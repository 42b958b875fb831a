// The classification family in C++: the fixed-point sums and the record's merge, counts against
// a brute-force count, bitwise independence of threads, batch splits and layouts, states (round
// trip, errors, the family registry), and the shape checks. Values against scikit-learn are in
// tests/python/test_classification.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/evaluator.hpp"

namespace gpueval {
namespace {

template <class E, class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

TEST(ClassificationOps, FixedPointSumsAreExactAndOrderFree) {
  std::mt19937_64 g(1);
  std::uniform_real_distribution<double> u(0.0, 40.0);
  std::vector<double> terms(10000);
  for (double& t : terms) {
    t = u(g);
  }
  auto sum = [](const std::vector<double>& v) {
    std::uint64_t w[2] = {0, 0};
    for (double x : v) {
      const ops::Fixed128 f = ops::Fixed128::from_double(x);
      ops::add_fixed(w, f.lo, static_cast<std::uint64_t>(f.hi));
    }
    return std::make_pair(w[0], w[1]);
  };
  const auto forward = sum(terms);
  std::vector<double> shuffled = terms;
  std::shuffle(shuffled.begin(), shuffled.end(), g);
  EXPECT_EQ(sum(shuffled), forward); // bitwise, whatever the order
  long double exact = 0;
  for (double t : terms) {
    exact += t;
  }
  ops::Fixed128 f;
  f.lo = forward.first;
  f.hi = static_cast<std::int64_t>(forward.second);
  EXPECT_NEAR(f.to_double(), static_cast<double>(exact), 1e-9);
  // A fraction's bits survive: 0.1 + 0.2 as fixed point is within 2^-63 of 0.3.
  const ops::Fixed128 a = ops::Fixed128::from_double(0.1), b = ops::Fixed128::from_double(0.2);
  std::uint64_t w[2] = {a.lo, static_cast<std::uint64_t>(a.hi)};
  ops::add_fixed(w, b.lo, static_cast<std::uint64_t>(b.hi));
  ops::Fixed128 c;
  c.lo = w[0];
  c.hi = static_cast<std::int64_t>(w[1]);
  EXPECT_NEAR(c.to_double(), 0.3, 1e-16);
}

TEST(ClassificationOps, LayoutsHoldEveryStatistic) {
  const ops::ClassLayout m = ops::ClassLayout::make(ClassTask::multiclass, 10, true, true, 15);
  EXPECT_EQ(m.confusion, 4);
  EXPECT_EQ(m.topk_hits, 4 + 100);
  EXPECT_EQ(m.fixed, 4 + 100 + 1 + 30);
  EXPECT_EQ(m.words, m.fixed + 4 + 30);
  const ops::ClassLayout l = ops::ClassLayout::make(ClassTask::multilabel, 3, false, false, 15);
  EXPECT_EQ(l.bins, 0); // no calibration for multilabel or labels
  EXPECT_EQ(l.words, 4 + 12 + 2);
  const ops::ClassLayout b = ops::ClassLayout::make(ClassTask::binary, 0, true, false, 4);
  EXPECT_EQ(b.classes, 2);
  EXPECT_EQ(b.words, 4 + 4 + 8 + 4 + 8);
}

struct Multiclass {
  std::int64_t n, c;
  std::vector<float> scores; // [n, c]
  std::vector<std::int64_t> target;
};

Multiclass make_multiclass(std::int64_t n, std::int64_t c, std::uint64_t seed) {
  Multiclass d{n, c, std::vector<float>(static_cast<std::size_t>(n * c)),
               std::vector<std::int64_t>(static_cast<std::size_t>(n))};
  std::mt19937_64 g(seed);
  std::normal_distribution<double> z;
  std::uniform_int_distribution<std::int64_t> cls(0, c - 1);
  for (std::int64_t i = 0; i < n; ++i) {
    double sum = 0;
    std::vector<double> e(static_cast<std::size_t>(c));
    for (std::int64_t k = 0; k < c; ++k) {
      e[static_cast<std::size_t>(k)] = std::exp(z(g));
      sum += e[static_cast<std::size_t>(k)];
    }
    for (std::int64_t k = 0; k < c; ++k) {
      d.scores[static_cast<std::size_t>(i * c + k)] =
          static_cast<float>(e[static_cast<std::size_t>(k)] / sum);
    }
    d.target[static_cast<std::size_t>(i)] = cls(g);
  }
  return d;
}

ClassificationSpec multiclass_spec(std::int64_t c) {
  ClassificationSpec s;
  s.task = ClassTask::multiclass;
  s.num_classes = c;
  s.all_metrics = true;
  s.top_k = 2;
  return s;
}

State fold(const Multiclass& d, int threads, std::int64_t batch) {
  ClassificationEvaluator ev(multiclass_spec(d.c), Device::cpu(threads));
  for (std::int64_t i = 0; i < d.n; i += batch) {
    const std::int64_t rows = std::min(batch, d.n - i);
    ev.update(TensorView::contiguous(d.scores.data() + i * d.c, DType::f32, {rows, d.c}),
              TensorView::contiguous(d.target.data() + i, DType::i64, {rows}));
  }
  return ev.state();
}

// The record's words: the state's payload, after the header (which counts batches).
std::vector<std::uint8_t> payload(const State& s, std::size_t words) {
  return std::vector<std::uint8_t>(s.bytes.end() - 8 - static_cast<long>(words) * 8,
                                   s.bytes.end() - 8);
}

TEST(Classification, BitwiseTheSameForAnyThreadCountAndBatchSplit) {
  const Multiclass d = make_multiclass(20000, 7, 3);
  const ops::ClassLayout l = ops::ClassLayout::make(ClassTask::multiclass, 7, true, true, 15);
  const auto want = payload(fold(d, 1, 20000), static_cast<std::size_t>(l.words));
  for (int threads : {2, 5}) {
    for (std::int64_t batch : {20000, 4096, 333, 1}) {
      if (batch == 1 && threads == 5) {
        continue; // slow and adds nothing
      }
      EXPECT_EQ(payload(fold(d, threads, batch), static_cast<std::size_t>(l.words)), want)
          << threads << " threads, batches of " << batch;
    }
  }
}

TEST(Classification, CountsMatchABruteForceCount) {
  const Multiclass d = make_multiclass(5000, 4, 9);
  ClassificationEvaluator ev(multiclass_spec(4), Device::cpu(2));
  ev.update(TensorView::contiguous(d.scores.data(), DType::f32, {5000, 4}),
            TensorView::contiguous(d.target.data(), DType::i64, {5000}));
  const ClassificationReport r = ev.compute();
  std::vector<std::uint64_t> cm(16, 0);
  std::uint64_t top2 = 0;
  for (std::int64_t i = 0; i < 5000; ++i) {
    const float* s = &d.scores[static_cast<std::size_t>(i * 4)];
    const std::int64_t arg = std::max_element(s, s + 4) - s;
    const std::int64_t t = d.target[static_cast<std::size_t>(i)];
    ++cm[static_cast<std::size_t>(t * 4 + arg)];
    int higher = 0;
    for (int k = 0; k < 4; ++k) {
      higher += s[k] > s[t];
    }
    top2 += higher < 2;
  }
  EXPECT_EQ(r.confusion_matrix, cm);
  EXPECT_EQ(r.value("top_k_accuracy"), static_cast<double>(top2) / 5000.0);
  EXPECT_EQ(r.count, 5000u);
  const nlohmann::json j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j["task"], "multiclass");
  EXPECT_EQ(j["confusion_matrix"][2][3].get<std::uint64_t>(), cm[2 * 4 + 3]);
  EXPECT_EQ(j["calibration"]["count"].size(), 15u);
  EXPECT_EQ(j["per_class"]["support"].size(), 4u);
}

TEST(Classification, LayoutsAndDtypesGiveTheSameBits) {
  // [N, C, H, W] scores against the same values as [N*H*W, C]; float64 and a strided,
  // misaligned copy against float32.
  const std::int64_t n = 3, c = 5, h = 4, w = 6;
  const Multiclass flat = make_multiclass(n * h * w, c, 5);
  std::vector<float> nchw(static_cast<std::size_t>(n * c * h * w));
  std::vector<std::int64_t> nhw(static_cast<std::size_t>(n * h * w));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t y = 0; y < h; ++y) {
      for (std::int64_t x = 0; x < w; ++x) {
        const std::int64_t s = (i * h + y) * w + x;
        nhw[static_cast<std::size_t>(s)] = flat.target[static_cast<std::size_t>(s)];
        for (std::int64_t k = 0; k < c; ++k) {
          nchw[static_cast<std::size_t>(((i * c + k) * h + y) * w + x)] =
              flat.scores[static_cast<std::size_t>(s * c + k)];
        }
      }
    }
  }
  ClassificationEvaluator a(multiclass_spec(c), Device::cpu(2)),
      b(multiclass_spec(c), Device::cpu(3)), d(multiclass_spec(c), Device::cpu(1));
  a.update(TensorView::contiguous(flat.scores.data(), DType::f32, {n * h * w, c}),
           TensorView::contiguous(flat.target.data(), DType::i64, {n * h * w}));
  b.update(TensorView::contiguous(nchw.data(), DType::f32, {n, c, h, w}),
           TensorView::contiguous(nhw.data(), DType::i64, {n, h, w}));
  // float64 scores, every other element, one byte off alignment.
  std::vector<unsigned char> raw(static_cast<std::size_t>(n * h * w * c) * 16 + 1);
  for (std::size_t i = 0; i < flat.scores.size(); ++i) {
    const double v = flat.scores[i];
    std::memcpy(raw.data() + 1 + i * 16, &v, 8);
  }
  TensorView strided;
  strided.data = raw.data() + 1;
  strided.dtype = DType::f64;
  strided.rank = 2;
  strided.shape[0] = n * h * w;
  strided.shape[1] = c;
  strided.strides[0] = 2 * c;
  strided.strides[1] = 2;
  d.update(strided, TensorView::contiguous(flat.target.data(), DType::i64, {n * h * w}));
  const std::string want = a.compute().to_json();
  const auto strip = [](std::string s) { // the device line differs by thread count
    const auto at = s.find("\"device\"");
    return s.erase(at, s.find(',', at) - at);
  };
  EXPECT_EQ(strip(b.compute().to_json()), strip(want));
  EXPECT_EQ(strip(d.compute().to_json()), strip(want));
}

TEST(Classification, StatesRoundTripThroughTheFamilyRegistry) {
  const Multiclass d = make_multiclass(3000, 6, 4);
  ClassificationEvaluator ev(multiclass_spec(6), Device::cpu(2));
  ev.update(TensorView::contiguous(d.scores.data(), DType::f32, {3000, 6}),
            TensorView::contiguous(d.target.data(), DType::i64, {3000}));
  const State s = ev.state();
  EXPECT_EQ(state_family(s), Family::classification);
  std::unique_ptr<AnyEvaluator> again = evaluator_for_state(s, "all", Device::cpu(1));
  EXPECT_EQ(again->family(), Family::classification);
  again->merge(s);
  again->merge(s);
  const AnyReport twice = again->compute_any();
  ASSERT_NE(twice.classification(), nullptr);
  EXPECT_EQ(twice.classification()->count, 6000u);
  EXPECT_EQ(twice.classification()->value("f1_macro"), ev.compute().value("f1_macro"));
  EXPECT_EQ(again->batches(), 2u);
  // A regression state through the same registry.
  Evaluator reg(RegressionSpec{}, Device::cpu(1));
  std::vector<float> x(12, 1.0f);
  reg.update(TensorView::contiguous(x.data(), DType::f32, {3, 4}),
             TensorView::contiguous(x.data(), DType::f32, {3, 4}));
  EXPECT_EQ(evaluator_for_state(reg.state(), "", Device::cpu(1))->family(), Family::regression);
  // Families do not mix; corrupt states are refused.
  EXPECT_NE(error_of<StateError>([&] { reg.merge(s); }).find("classification family"),
            std::string::npos);
  EXPECT_NE(error_of<StateError>([&] { ev.merge(reg.state()); }).find("regression family"),
            std::string::npos);
  State bad = s;
  bad.bytes[80] ^= 1;
  EXPECT_THROW(ev.merge(bad), StateError);
  ClassificationSpec other = multiclass_spec(6);
  other.top_k = 3;
  ClassificationEvaluator ev3(other, Device::cpu(1));
  ev3.update(TensorView::contiguous(d.scores.data(), DType::f32, {3000, 6}),
             TensorView::contiguous(d.target.data(), DType::i64, {3000}));
  EXPECT_NE(error_of<StateError>([&] { ev3.merge(s); }).find("top_k 2, this evaluator has 3"),
            std::string::npos);
}

TEST(Classification, ShapeChecksNameBothSides) {
  ClassificationEvaluator ev(multiclass_spec(4), Device::cpu(1));
  EXPECT_NO_THROW(ev.check_shapes({8, 4, 3}, {8, 3}));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.check_shapes({8, 5}, {8});
            }).find("the class axis 1 has 5 entries, not num_classes 4"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.check_shapes({8, 4, 2}, {8, 3});
            }).find("do not fit"),
            std::string::npos);
  ClassificationSpec ml;
  ml.task = ClassTask::multilabel;
  ml.num_classes = 3;
  ClassificationEvaluator m(ml, Device::cpu(1));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              m.check_shapes({8, 3}, {8, 4});
            }).find("differ in shape"),
            std::string::npos);
  std::vector<float> p(8, 0.5f);
  std::vector<std::int64_t> t(8, 0);
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(TensorView::contiguous(p.data(), DType::f32, {2, 4}),
                        TensorView::contiguous(t.data(), DType::i64, {2}),
                        TensorView::contiguous(t.data(), DType::f32, {2}));
            }).find("mask has dtype float32"),
            std::string::npos);
  EXPECT_NE(
      error_of<InvalidArgument>([&] {
        (void)ClassificationEvaluator(ClassificationSpec{ClassTask::multiclass, 1}, Device::cpu(1));
      }).find("needs num_classes between 2 and 1024"),
      std::string::npos);
}

} // namespace
} // namespace gpueval
