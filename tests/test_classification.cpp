// The classification family in C++: the fixed-point sums and the record's merge, counts against
// a brute-force count, bitwise independence of threads, batch splits and layouts, states (round
// trip, errors, the family registry), and the shape checks. Values against scikit-learn are in
// tests/python/test_classification.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "class_reference.hpp"
#include "core/state_blob.hpp"
#include "cpu/classification_kernels.hpp"
#include "error_of.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"

namespace gpueval {
namespace {

using test::error_of;

TEST(ClassificationOps, FixedPointSumsAreExactAndOrderFree) {
  std::mt19937_64 g(1);
  std::uniform_real_distribution<double> u(0.0, 40.0);
  std::vector<double> terms(10000);
  for (double& t : terms) {
    t = u(g);
  }
  terms[17] = 5000.0; // the 128-bit path
  terms[99] = 1.0e15; // far into it
  auto sum = [](const std::vector<double>& v) {
    std::uint64_t w[2] = {0, 0};
    for (double x : v) {
      ops::add_term(w, x);
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
  const std::uint64_t w[2] = {forward.first, forward.second};
  // Each term is within 2^-41 of its value; the sum's double within an ulp of 1e15.
  EXPECT_NEAR(ops::fixed_value(w), static_cast<double>(exact), 0.25);
  // Small terms keep 40 fractional bits.
  std::uint64_t small[2] = {0, 0};
  ops::add_term(small, 0.1);
  ops::add_term(small, 0.2);
  EXPECT_NEAR(ops::fixed_value(small), 0.3, 1e-12);
  EXPECT_EQ(ops::quantize(1.0), std::uint64_t{1} << 40);
}

TEST(ClassificationOps, DeterministicMathIsAccurate) {
  // det_log, det_exp, det_log1p: within 1e-15 relative (a few ulp) of long double over their
  // domains.
  std::mt19937_64 g(2);
  std::uniform_real_distribution<double> e(-300.0, 300.0), x(-700.0, 0.0), u(0.0, 1.0);
  for (int i = 0; i < 100000; ++i) {
    const double r = std::exp(e(g));
    const double lr = ops::det_log(r);
    EXPECT_NEAR(lr, static_cast<double>(std::log(static_cast<long double>(r))),
                1e-15 * std::max(1.0, std::fabs(lr)))
        << r;
    const double xx = i % 2 ? x(g) : -u(g);
    const long double ex = std::exp(static_cast<long double>(xx));
    EXPECT_NEAR(ops::det_exp(xx), static_cast<double>(ex), 1e-15 * static_cast<double>(ex)) << xx;
    const double uu = i % 3 ? u(g) : u(g) * 1e-12;
    const long double l1 = std::log1p(static_cast<long double>(uu));
    EXPECT_NEAR(ops::det_log1p(uu), static_cast<double>(l1),
                1e-15 * static_cast<double>(l1) + 1e-300)
        << uu;
  }
  EXPECT_EQ(ops::det_exp(-800.0), 0.0);
  EXPECT_EQ(ops::det_exp(0.0), 1.0);
  EXPECT_EQ(ops::det_log(1.0), 0.0);
  EXPECT_EQ(ops::det_log1p(0.0), 0.0);
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

// nan_policy=error across a merge: the merged state's first invalid target counts when this
// evaluator has none of its own.
TEST(Classification, MergeKeepsTheOtherSidesFirstInvalidTarget) {
  ClassificationSpec spec = multiclass_spec(3);
  spec.nan_policy = NanPolicy::error;
  std::vector<float> scores;
  for (int i = 0; i < 8; ++i) {
    scores.insert(scores.end(), {0.2f, 0.3f, 0.5f});
  }
  std::vector<std::int64_t> good(8, 1), bad = good;
  bad[5] = 7; // not a class
  const auto update = [&](ClassificationEvaluator& ev, const std::vector<std::int64_t>& target) {
    ev.update(TensorView::contiguous(scores.data(), DType::f32, {8, 3}),
              TensorView::contiguous(target.data(), DType::i64, {8}));
  };
  ClassificationEvaluator theirs(spec, Device::cpu(1)), clean(spec, Device::cpu(1));
  update(theirs, good);
  update(theirs, bad); // batch 1, element 5
  update(clean, good);
  clean.merge(theirs.state());
  try {
    (void)clean.compute();
    ADD_FAILURE() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.batch, 1u);
    EXPECT_EQ(e.element, 5u);
  }
}

TEST(Classification, StatesRoundTripThroughTheFamilyRegistry) {
  const Multiclass d = make_multiclass(3000, 6, 4);
  ClassificationEvaluator ev(multiclass_spec(6), Device::cpu(2));
  ev.update(TensorView::contiguous(d.scores.data(), DType::f32, {3000, 6}),
            TensorView::contiguous(d.target.data(), DType::i64, {3000}));
  const State s = ev.state();
  EXPECT_EQ(state_family(s), kClassificationFamily);
  std::unique_ptr<AnyEvaluator> again = evaluator_for_state(s, "all", Device::cpu(1));
  EXPECT_EQ(again->family(), kClassificationFamily);
  again->merge(s);
  again->merge(s);
  const AnyReport twice = again->compute_any();
  ASSERT_NE(twice.as<ClassificationReport>(), nullptr);
  EXPECT_EQ(twice.as<ClassificationReport>()->count, 6000u);
  EXPECT_EQ(twice.as<ClassificationReport>()->value("f1_macro"), ev.compute().value("f1_macro"));
  EXPECT_EQ(again->batches(), 2u);
  // A regression state through the same registry.
  Evaluator reg(RegressionSpec{}, Device::cpu(1));
  std::vector<float> x(12, 1.0f);
  reg.update(TensorView::contiguous(x.data(), DType::f32, {3, 4}),
             TensorView::contiguous(x.data(), DType::f32, {3, 4}));
  EXPECT_EQ(evaluator_for_state(reg.state(), "", Device::cpu(1))->family(), kRegressionFamily);
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

ClassificationSpec binary_rank_spec() {
  ClassificationSpec s;
  s.task = ClassTask::binary;
  s.set_metrics("auroc,average_precision");
  return s;
}

TEST(ClassificationHistograms, HandComputedTiesAndCurves) {
  // Positives at 0.25, 0.5, 0.75, 0.75, negatives at 0.25, 0.5: of 8 pairs, 5 ordered right and
  // 2 tied (half each), AUROC 6/8. AP: thresholds 0.75 (precision 2/2, recall +2/4), 0.5 (3/4,
  // +1/4), 0.25 (4/6, +1/4).
  const std::vector<std::uint16_t> half = {0x3400, 0x3800, 0x3800, 0x3A00, 0x3A00, 0x3400};
  const std::vector<std::int64_t> t = {1, 1, 0, 1, 1, 0};
  const std::vector<float> wide = {0.25f, 0.5f, 0.5f, 0.75f, 0.75f, 0.25f};
  for (const bool f16 : {true, false}) {
    ClassificationEvaluator ev(binary_rank_spec(), Device::cpu(1));
    ev.update(f16 ? TensorView::contiguous(half.data(), DType::f16, {6})
                  : TensorView::contiguous(wide.data(), DType::f32, {6}),
              TensorView::contiguous(t.data(), DType::i64, {6}));
    const ClassificationReport r = ev.compute();
    EXPECT_EQ(r.value("auroc"), 6.0 / 8.0);
    EXPECT_DOUBLE_EQ(r.value("average_precision"), 0.5 * 1.0 + 0.25 * 0.75 + 0.25 * 4.0 / 6.0);
    EXPECT_EQ(r.histogram_key, f16 ? "float16" : "float32");
    EXPECT_EQ(r.histogram_exact, f16);
    // float32 keys are not exact, but each bin here holds one score: its pairs are true ties,
    // counted exactly, and the bounds are 0.
    EXPECT_EQ(r.value("average_precision_bound"), 0.0);
    EXPECT_EQ(r.value("auroc_bound"), 0.0);
    EXPECT_EQ(r.roc_threshold, (std::vector<double>{INFINITY, 0.75, 0.5, 0.25}));
    EXPECT_EQ(r.roc_tpr, (std::vector<double>{0, 0.5, 0.75, 1}));
    EXPECT_EQ(r.roc_fpr, (std::vector<double>{0, 0, 0.5, 1}));
    EXPECT_EQ(r.pr_precision, (std::vector<double>{1, 0.75, 4.0 / 6.0}));
  }
}

TEST(ClassificationHistograms, OnlyBinsOfSeveralScoresAddToTheBound) {
  // 0.5 and the next float32 share a bin of the 24-bit keys: a positive at the larger and a
  // negative at 0.5 are ordered, but the bin cannot say so; the pair at 0.75 is a true tie.
  const float up = std::nextafter(0.5f, 1.0f);
  const std::vector<float> s = {up, 0.5f, 0.75f, 0.75f};
  const std::vector<std::int64_t> t = {1, 0, 1, 0};
  const auto report = [&](std::size_t from, std::size_t to) {
    ClassificationEvaluator ev(binary_rank_spec(), Device::cpu(1));
    ev.update(TensorView::contiguous(s.data() + from, DType::f32, {std::int64_t(to - from)}),
              TensorView::contiguous(t.data() + from, DType::i64, {std::int64_t(to - from)}));
    return ev;
  };
  ClassificationEvaluator all = report(0, 4);
  const ClassificationReport r = all.compute();
  // Pairs: (up, 0.5) right, (up, 0.75) wrong, (0.75, 0.5) right, (0.75, 0.75) tie: 2.5 / 4,
  // as the bins see it (the 0.5 bin's pair counts as a tie: 2 / 4); its bound covers the 0.5.
  EXPECT_EQ(r.value("auroc"), 2.0 / 4.0);
  EXPECT_EQ(r.value("auroc_bound"), 0.5 * 1.0 / 4.0);
  // Split and merged, the keys merge too: the same report.
  ClassificationEvaluator a = report(0, 1), b = report(1, 4);
  a.merge(b.state());
  const ClassificationReport m = a.compute();
  EXPECT_EQ(m.value("auroc_bound"), r.value("auroc_bound"));
  EXPECT_EQ(m.value("average_precision_bound"), r.value("average_precision_bound"));
  EXPECT_GT(m.value("average_precision_bound"), 0.0);
  // The 0.75 bin's curve threshold is its score; the mixed bin's the lowest it can hold.
  EXPECT_EQ(r.roc_threshold, (std::vector<double>{INFINITY, 0.75, 0.5}));
}

TEST(ClassificationHistograms, BitwiseTheSameForAnyThreadCountAndBatchSplit) {
  std::mt19937_64 g(11);
  std::uniform_real_distribution<float> u;
  const std::int64_t n = 30000;
  std::vector<float> s(static_cast<std::size_t>(n));
  std::vector<std::int64_t> t(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < s.size(); ++i) {
    t[i] = u(g) < 0.3f;
    s[i] = t[i] ? std::sqrt(u(g)) : u(g);
  }
  const auto fold = [&](int threads, std::int64_t batch) {
    ClassificationEvaluator ev(binary_rank_spec(), Device::cpu(threads));
    for (std::int64_t i = 0; i < n; i += batch) {
      const std::int64_t rows = std::min(batch, n - i);
      ev.update(TensorView::contiguous(s.data() + i, DType::f32, {rows}),
                TensorView::contiguous(t.data() + i, DType::i64, {rows}));
    }
    const State st = ev.state();
    const detail::OpenedState o = detail::open_state(st); // the header counts batches
    return std::vector<std::uint8_t>(o.payload, o.payload + o.payload_size);
  };
  const auto want = fold(1, n);
  EXPECT_EQ(fold(2, 4096), want);
  EXPECT_EQ(fold(5, 777), want);
}

TEST(ClassificationHistograms, CorruptSparseHistogramsAreRefused) {
  const std::vector<std::uint16_t> s = {0x2E66, 0x399A, 0x34CD}; // float16 0.1, 0.7, 0.3: no keys
  const std::vector<std::int64_t> t = {0, 1, 0};
  ClassificationEvaluator ev(binary_rank_spec(), Device::cpu(1));
  ev.update(TensorView::contiguous(s.data(), DType::f16, {3}),
            TensorView::contiguous(t.data(), DType::i64, {3}));
  const State good = ev.state();
  const detail::OpenedState o = detail::open_state(good);
  const std::vector<std::uint8_t> payload(o.payload, o.payload + o.payload_size);
  // The payload ends with the count (3) and three (index, count) pairs.
  ASSERT_EQ(payload.size() % 8, 0u);
  const std::size_t pairs = payload.size() - 6 * 8;
  const auto reseal = [&](std::vector<std::uint8_t> p) { return detail::seal_state(o.header, p); };
  std::vector<std::uint8_t> swapped = payload; // the first two pairs in the wrong order
  std::memcpy(swapped.data() + pairs, payload.data() + pairs + 16, 16);
  std::memcpy(swapped.data() + pairs + 16, payload.data() + pairs, 16);
  EXPECT_NE(
      error_of<StateError>([&] { ev.merge(reseal(swapped)); }).find("histograms are inconsistent"),
      std::string::npos);
  std::vector<std::uint8_t> zero = payload;
  std::fill(zero.end() - 8, zero.end(), std::uint8_t{0});
  EXPECT_THROW(ev.merge(reseal(zero)), StateError);
  std::vector<std::uint8_t> short_by_one = payload;
  short_by_one.resize(payload.size() - 16);
  EXPECT_NE(error_of<StateError>([&] { ev.merge(reseal(short_by_one)); }).find("truncated"),
            std::string::npos);
  ev.merge(good); // the evaluator is unchanged by the refused merges
  EXPECT_EQ(ev.compute().count, 6u);
}

TEST(ClassificationHistograms, CorruptHistogramKeysAreRefused) {
  const std::vector<float> s = {0.1f, 0.7f, 0.3f};
  const std::vector<std::int64_t> t = {0, 1, 0};
  ClassificationEvaluator ev(binary_rank_spec(), Device::cpu(1));
  ev.update(TensorView::contiguous(s.data(), DType::f32, {3}),
            TensorView::contiguous(t.data(), DType::i64, {3}));
  const State good = ev.state();
  const detail::OpenedState o = detail::open_state(good);
  const std::vector<std::uint8_t> payload(o.payload, o.payload + o.payload_size);
  // The payload ends with the keys: one u32 per histogram word (three here).
  const std::size_t keys = payload.size() - 3 * 4;
  const auto reseal = [&](std::vector<std::uint8_t> p) { return detail::seal_state(o.header, p); };
  std::vector<std::uint8_t> zero = payload; // a key of 0 on a nonzero bin
  std::fill(zero.begin() + static_cast<std::ptrdiff_t>(keys + 4),
            zero.begin() + static_cast<std::ptrdiff_t>(keys + 8), std::uint8_t{0});
  EXPECT_NE(error_of<StateError>([&] { ev.merge(reseal(zero)); }).find("keys are inconsistent"),
            std::string::npos);
  std::vector<std::uint8_t> short_by_one = payload;
  short_by_one.resize(payload.size() - 4);
  EXPECT_NE(error_of<StateError>([&] { ev.merge(reseal(short_by_one)); }).find("truncated"),
            std::string::npos);
  ev.merge(good);
  EXPECT_EQ(ev.compute().count, 6u);
}

TEST(ClassificationStates, RecordsOfFewClassesSeenTravelAsTheirNonzeroWords) {
  // 2^18 classes, a few samples: the record (3 words a class) is written as its nonzero words,
  // a few hundred bytes instead of 6 MiB, and reads back to the same record.
  ClassificationSpec spec;
  spec.task = ClassTask::multiclass;
  spec.num_classes = kMaxMulticlass;
  spec.set_metrics("accuracy,f1");
  const std::vector<std::int64_t> pred = {5, 7, 7, 200000}, target = {5, 7, 9, 200000};
  const auto fill = [&](ClassificationEvaluator& ev, std::size_t from, std::size_t to) {
    const auto rows = static_cast<std::int64_t>(to - from);
    ev.update(TensorView::contiguous(pred.data() + from, DType::i64, {rows}),
              TensorView::contiguous(target.data() + from, DType::i64, {rows}));
  };
  ClassificationEvaluator whole(spec, Device::cpu(1)), a(spec, Device::cpu(1)),
      b(spec, Device::cpu(1));
  fill(whole, 0, 4);
  fill(a, 0, 2);
  fill(b, 2, 4);
  const State s = b.state();
  EXPECT_LT(s.bytes.size(), 4096u);
  a.merge(s);
  EXPECT_EQ(a.compute().to_json(), whole.compute().to_json());
  // A corrupt pair list is refused, naming the record.
  const detail::OpenedState o = detail::open_state(s);
  std::vector<std::uint8_t> payload(o.payload, o.payload + o.payload_size);
  std::vector<std::uint8_t> far = payload; // the first pair's index past the record
  const std::uint64_t huge = ~std::uint64_t{0} >> 1;
  std::memcpy(far.data() + 8, &huge, 8);
  EXPECT_NE(error_of<StateError>([&] {
              a.merge(detail::seal_state(o.header, far));
            }).find("record is inconsistent"),
            std::string::npos);
  std::vector<std::uint8_t> cut = payload;
  cut.resize(16);
  EXPECT_THROW(a.merge(detail::seal_state(o.header, cut)), StateError);
}

TEST(ClassificationHistograms, ReadyBeforeAnyBatchKeysFloat32) {
  ClassificationSpec spec = binary_rank_spec();
  spec.pred = PredKind::scores;
  spec.sample_shape = {4};
  ClassificationEvaluator empty(spec, Device::cpu(1));
  const State s = empty.state(); // an idle rank's state, mergeable with a working rank's
  ClassificationEvaluator busy(spec, Device::cpu(1));
  const std::vector<std::uint16_t> half(8, 0x3800);
  const std::vector<std::int64_t> t = {0, 1, 0, 1, 0, 1, 0, 1};
  busy.update(TensorView::contiguous(half.data(), DType::f16, {2, 4}),
              TensorView::contiguous(t.data(), DType::i64, {2, 4}));
  busy.merge(s);
  const ClassificationReport r = busy.compute();
  EXPECT_EQ(r.histogram_key, "float32");
  EXPECT_EQ(r.value("auroc"), 0.5);
  empty.update(TensorView::contiguous(half.data(), DType::f16, {0, 4}), // no data: an empty batch
               TensorView::contiguous(t.data(), DType::i64, {0, 4}));
  EXPECT_TRUE(std::isnan(empty.compute().value("auroc")));
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
      }).find("needs num_classes between 2 and 262144"),
      std::string::npos);
}

} // namespace
} // namespace gpueval

namespace gpueval {
namespace {

// The CPU's vector kernels, on every instruction set this machine has, against the scalar ops
// of ops/classification.hpp (the CUDA kernels' path), bit for bit, on data with invalid values,
// ignored targets and masked samples.
struct KernelCase {
  ClassTask task;
  std::int64_t classes;
  bool logits, labels, top_k;
};

std::vector<std::uint64_t> scalar_fold(const KernelCase& k, const ops::ClassLayout& l,
                                       const ops::ClassParams& p, int n, int stride,
                                       const std::vector<double>& score,
                                       const std::vector<double>& target,
                                       const std::vector<double>& include, int* first) {
  std::vector<std::uint64_t> w(static_cast<std::size_t>(l.words), 0);
  for (int i = 0; i < n; ++i) {
    const auto at = [&](std::int64_t c) { return static_cast<std::size_t>(c * stride + i); };
    if (k.task == ClassTask::multilabel) {
      // A bad (invalid or non-finite) label drops the sample; it raises when any bad label does.
      // The sample's weight is its included labels' (a weighted record).
      bool any = false, bad = false, raises = false;
      double weight = 1.0;
      for (std::int64_t c = 0; c < l.classes; ++c) {
        if (include[at(c)] == 0) {
          continue;
        }
        any = true;
        weight = include[at(c)];
        const auto kind = ops::sample_binary(score[at(c)], k.labels, target[at(c)], p).kind;
        const bool dropped = kind == ops::Outcome::invalid || kind == ops::Outcome::nonfinite;
        bad = bad || dropped;
        raises = raises || (dropped && ops::raises(kind, p));
      }
      if (!any) {
        continue;
      }
      const ops::Weight wt = ops::weight_of(weight);
      if (bad) {
        ops::add_count(w.data(), l, ops::ClassLayout::kInvalid, wt);
        if (raises) {
          *first = std::min(*first, i);
        }
        continue;
      }
      ops::LabelTally tally;
      for (std::int64_t c = 0; c < l.classes; ++c) {
        if (include[at(c)] == 0) {
          continue;
        }
        const ops::Outcome o = ops::sample_binary(score[at(c)], k.labels, target[at(c)], p);
        if (o.kind == ops::Outcome::ignored) {
          ops::add_count(w.data(), l, ops::ClassLayout::kIgnored, wt);
          continue;
        }
        ops::add_label(w.data(), l, c, o, wt);
        tally.add(o.target != 0, o.pred != 0);
      }
      ops::add_label_sample(w.data(), l, tally, p, wt);
      continue;
    }
    if (include[static_cast<std::size_t>(i)] == 0) {
      continue;
    }
    ops::Outcome o;
    if (k.task == ClassTask::binary) {
      o = ops::sample_binary(score[static_cast<std::size_t>(i)], k.labels,
                             target[static_cast<std::size_t>(i)], p);
    } else if (k.labels) {
      o = ops::sample_multiclass_label(score[static_cast<std::size_t>(i)],
                                       target[static_cast<std::size_t>(i)], p);
    } else {
      o = ops::sample_multiclass([&](std::int64_t c) { return score[at(c)]; },
                                 target[static_cast<std::size_t>(i)], p);
    }
    ops::add(w.data(), l, o, ops::weight_of(include[static_cast<std::size_t>(i)]));
    if (o.kind != ops::Outcome::folded && o.kind != ops::Outcome::ignored &&
        ops::raises(o.kind, p)) {
      *first = std::min(*first, i);
    }
  }
  return w;
}

TEST(ClassificationKernels, EveryIsaEqualsTheScalarOps) {
  const KernelCase cases[] = {{ClassTask::binary, 2, false, false, false},
                              {ClassTask::binary, 2, true, false, false},
                              {ClassTask::binary, 2, false, true, false},
                              {ClassTask::multiclass, 7, false, false, true},
                              {ClassTask::multiclass, 7, true, false, true},
                              {ClassTask::multiclass, 5, false, true, false},
                              {ClassTask::multilabel, 4, false, false, false},
                              {ClassTask::multilabel, 4, true, false, false},
                              // beyond the kernel's 64 labels of counts on the stack
                              {ClassTask::multilabel, 70, false, false, false},
                              {ClassTask::multilabel, 70, false, true, false}};
  const struct {
    const char* name;
    bool supported;
    cpu::ClassBlockFn fn;
  } isas[] = {
      {"x86-64", true, cpu::isa_baseline::class_block_function()},
      {"avx2", __builtin_cpu_supports("avx2") != 0, cpu::isa_avx2::class_block_function()},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0, cpu::isa_avx512::class_block_function()}};
  std::mt19937_64 g(11);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u;
  for (const KernelCase& k : cases) {
    const int n = 203, stride = 216; // a partial group of lanes
    const std::int64_t per = k.task == ClassTask::binary || k.labels ? 1 : k.classes;
    const std::int64_t tper = k.task == ClassTask::multilabel ? k.classes : 1;
    std::vector<double> score(static_cast<std::size_t>(std::max(per, tper) * stride), 0.5);
    std::vector<double> target(static_cast<std::size_t>(tper * stride), 0.0);
    std::vector<double> include(target.size(), 0.0);
    for (int i = 0; i < n; ++i) {
      for (std::int64_t c = 0; c < tper; ++c) {
        const auto a = static_cast<std::size_t>(c * stride + i);
        const double r = u(g);
        target[a] = k.task == ClassTask::multiclass
                        ? static_cast<double>(static_cast<std::int64_t>(u(g) * 7.0)) // 5, 6: bad
                        : (r < 0.5 ? 0.0 : 1.0);
        if (r < 0.03) {
          target[a] = -100; // ignored
        } else if (r < 0.05) {
          target[a] = 0.5; // invalid
        }
        include[a] = u(g) < 0.9 ? 1.0 : 0.0;
      }
      for (std::int64_t c = 0; c < std::max(per, tper); ++c) {
        const auto a = static_cast<std::size_t>(c * stride + i);
        double v = k.logits ? 40.0 * z(g) : u(g);
        if (k.labels) {
          v = static_cast<double>(static_cast<std::int64_t>(u(g) * (k.classes + 0.3)));
        }
        score[a] = u(g) < 0.01 ? std::nan("") : v;
      }
    }
    score[3] = 0.0; // exact zeros and ties
    score[4] = 1.0;
    for (const bool weighted : {false, true}) {
      if (weighted) { // the staged inclusions become the samples' weights
        for (int i = 0; i < n; ++i) {
          const double wi = u(g) < 0.1 ? 0.0 : std::ldexp(std::floor(u(g) * 4096.0), -8) + 1e-3;
          for (std::int64_t c = 0; c < tper; ++c) {
            double& in = include[static_cast<std::size_t>(c * stride + i)];
            in = in != 0.0 ? wi : 0.0;
          }
        }
      }
      const ops::ClassLayout l = ops::ClassLayout::make(k.task, k.classes, !k.labels, k.top_k, 15,
                                                        weighted, k.task == ClassTask::multilabel);
      ops::ClassParams p;
      p.beta2 = 0.25;
      p.task = k.task;
      p.classes = l.classes;
      p.logits = k.logits;
      p.top_k = k.top_k ? 3 : 0;
      p.has_ignore = true;
      p.ignore_index = -100;
      p.clip_eps = 1.1920928955078125e-7;
      p.bins = l.bins;
      // Which dropped samples raise (their first is recorded): each combination of the policies.
      for (const int raise : {1, 2, 3}) {
        p.raise_nonfinite = (raise & 1) != 0;
        p.raise_invalid = (raise & 2) != 0;
        int want_first = n;
        const std::vector<std::uint64_t> want =
            scalar_fold(k, l, p, n, stride, score, target, include, &want_first);
        for (const auto& isa : isas) {
          if (!isa.supported) {
            continue;
          }
          std::vector<double> scratch = score; // the kernels may overwrite staged scores
          cpu::ClassBlock b;
          b.n = n;
          b.stride = stride;
          b.labels = k.labels;
          b.score = scratch.data();
          b.target = target.data();
          b.include = include.data();
          std::vector<std::uint64_t> got(static_cast<std::size_t>(l.words), 0);
          int first = n;
          isa.fn(b, l, p, got.data(), &first);
          EXPECT_EQ(got, want) << isa.name << " " << class_task_name(k.task) << " logits "
                               << k.logits << " labels " << k.labels << " weighted " << weighted;
          EXPECT_EQ(first, want_first) << isa.name << " raise " << raise;
        }
      }
    }
  }
}

} // namespace
} // namespace gpueval

// ---- ties, a reference for every metric, masks of any layout --------------------------------

namespace gpueval {
namespace {

// numpy.argmax's rule, the README's: the lowest index among the highest scores wins; a target
// counts for top-k when fewer than k classes score strictly higher.
TEST(ClassificationOps, ArgmaxTiesGoToTheLowestIndexAndTopKCountsStrictlyHigher) {
  for (bool logits : {false, true}) {
    ops::ClassParams p;
    p.task = ClassTask::multiclass;
    p.classes = 5;
    p.logits = logits;
    p.top_k = 2;
    p.clip_eps = 1.1920928955078125e-7;
    const double tied = logits ? 2.5 : 0.28;
    const std::vector<double> s = {0.1, tied, 0.06, tied, tied}; // classes 1, 3, 4 tie; sum 1
    const auto score = [&](std::int64_t c) { return s[static_cast<std::size_t>(c)]; };
    for (std::int64_t target : {0, 1, 3, 4}) {
      const ops::Outcome o = ops::sample_multiclass(score, static_cast<double>(target), p);
      ASSERT_EQ(o.kind, ops::Outcome::folded);
      EXPECT_EQ(o.pred, 1) << "logits " << logits;
      // Classes 1, 3, 4 score higher than class 0 (three): no top-2 hit; a tied target has no
      // class strictly above it: a hit.
      EXPECT_EQ(o.top_k_hit, target != 0) << "target " << target;
    }
  }
}

// The vector kernels of every instruction set, against numpy's argmax rule itself (not only the
// scalar ops): ties of two or three classes in every lane position, for blocks whose sample count
// leaves every possible tail of 2, 4 and 8 lanes.
TEST(ClassificationKernels, TiesGoToTheLowestIndexOnEveryIsa) {
  const struct {
    const char* name;
    bool supported;
    cpu::ClassBlockFn fn;
  } isas[] = {
      {"x86-64", true, cpu::isa_baseline::class_block_function()},
      {"avx2", __builtin_cpu_supports("avx2") != 0, cpu::isa_avx2::class_block_function()},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0, cpu::isa_avx512::class_block_function()}};
  const std::int64_t C = 6;
  std::mt19937_64 g(21);
  std::uniform_real_distribution<double> u;
  for (bool logits : {false, true}) {
    for (int n = 1; n <= 19; ++n) {
      const int stride = (n + 7) / 8 * 8;
      std::vector<double> score(static_cast<std::size_t>(C * stride), 0.0);
      std::vector<double> target(static_cast<std::size_t>(stride), 0.0);
      std::vector<double> include(target.size(), 0.0);
      std::vector<std::uint64_t> want(static_cast<std::size_t>(C * C), 0);
      for (int i = 0; i < n; ++i) {
        std::vector<double> s(static_cast<std::size_t>(C));
        for (double& v : s) {
          v = logits ? 4 * u(g) - 2 : 0.5 * u(g);
        }
        // The tie: the highest value at two or three classes, the first of them anywhere.
        const auto first = static_cast<std::size_t>(i % C);
        const double top = logits ? 3.0 : 0.75;
        s[first] = top;
        s[(first + 1 + static_cast<std::size_t>(i % 2)) % static_cast<std::size_t>(C)] = top;
        if (i % 3 == 0) {
          s[(first + 3) % static_cast<std::size_t>(C)] = top;
        }
        if (!logits) { // probability rows sum to 1; equal values stay equal
          double sum = 0;
          for (const double v : s) {
            sum += v;
          }
          for (double& v : s) {
            v /= sum;
          }
        }
        const auto argmax = static_cast<std::size_t>(std::max_element(s.begin(), s.end()) -
                                                     s.begin()); // the first maximum
        for (std::int64_t c = 0; c < C; ++c) {
          score[static_cast<std::size_t>(c * stride + i)] = s[static_cast<std::size_t>(c)];
        }
        const auto t = static_cast<std::size_t>(g() % C);
        target[static_cast<std::size_t>(i)] = static_cast<double>(t);
        include[static_cast<std::size_t>(i)] = 1.0;
        ++want[t * C + argmax];
      }
      const ops::ClassLayout l = ops::ClassLayout::make(ClassTask::multiclass, C, true, false, 15);
      ops::ClassParams p;
      p.task = ClassTask::multiclass;
      p.classes = C;
      p.logits = logits;
      p.clip_eps = 1.1920928955078125e-7;
      p.bins = l.bins;
      for (const auto& isa : isas) {
        if (!isa.supported) {
          continue;
        }
        std::vector<double> scratch = score;
        cpu::ClassBlock b;
        b.n = n;
        b.stride = stride;
        b.score = scratch.data();
        b.target = target.data();
        b.include = include.data();
        std::vector<std::uint64_t> w(static_cast<std::size_t>(l.words), 0);
        int first = n;
        isa.fn(b, l, p, w.data(), &first);
        const std::vector<std::uint64_t> got(w.begin() + l.confusion,
                                             w.begin() + l.confusion + C * C);
        EXPECT_EQ(got, want) << isa.name << " logits " << logits << " n " << n;
      }
    }
  }
}

using test::ClassSample;
using test::LabelSample;

// Every value of the report against the reference, by name; every reported name but the
// histogram metrics must have one.
void expect_reference(const ClassificationReport& r, const test::ClassValues& ref,
                      const std::string& what) {
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    const std::string& name = r.names[i];
    if (name.rfind("auroc", 0) == 0 || name.rfind("average_precision", 0) == 0) {
      continue; // the histograms' metrics: tests/test_classification.cpp's histogram cases
    }
    const auto it = ref.find(name);
    ASSERT_NE(it, ref.end()) << what << ": no reference for " << name;
    // Label metrics are exact up to the last division; the proper scores carry the fixed point's
    // rounding (2^-41 per term) and the deterministic log.
    const bool summed = name == "log_loss" || name == "brier" || name == "ece" || name == "mce" ||
                        name == "nll" || name == "perplexity" || name == "bits_per_token" ||
                        name.find("_samples") != std::string::npos;
    const double tol = summed ? 1e-11 : 1e-13;
    EXPECT_NEAR(r.values[i], it->second, tol * std::max(1.0, std::fabs(it->second)))
        << what << " " << name;
  }
}

ClassificationReport run_multiclass(const std::vector<ClassSample>& samples, std::int64_t C,
                                    bool labels, int top_k) {
  const auto n = static_cast<std::int64_t>(samples.size());
  std::vector<float> scores(static_cast<std::size_t>(n * C));
  std::vector<std::int32_t> preds(static_cast<std::size_t>(n));
  std::vector<std::int64_t> targets(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const ClassSample& s = samples[static_cast<std::size_t>(i)];
    targets[static_cast<std::size_t>(i)] = s.target;
    if (labels) {
      preds[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(s.pred);
    } else {
      for (std::int64_t c = 0; c < C; ++c) {
        scores[static_cast<std::size_t>(i * C + c)] =
            static_cast<float>(s.scores[static_cast<std::size_t>(c)]);
      }
    }
  }
  ClassificationSpec spec;
  spec.task = ClassTask::multiclass;
  spec.num_classes = C;
  spec.all_metrics = true;
  spec.top_k = top_k;
  ClassificationEvaluator ev(spec, Device::cpu(2));
  // Uneven batches, one of them empty.
  const std::int64_t cuts[] = {0, n / 3, n / 3, n / 2, n};
  for (std::size_t b = 0; b + 1 < std::size(cuts); ++b) {
    const std::int64_t i0 = cuts[b], rows = cuts[b + 1] - cuts[b];
    const TensorView t = TensorView::contiguous(targets.data() + i0, DType::i64, {rows});
    if (labels) {
      ev.update(TensorView::contiguous(preds.data() + i0, DType::i32, {rows}), t);
    } else {
      ev.update(TensorView::contiguous(scores.data() + i0 * C, DType::f32, {rows, C}), t);
    }
  }
  return ev.compute();
}

TEST(Classification, EveryMulticlassMetricMatchesTheReference) {
  std::mt19937_64 g(31);
  std::uniform_real_distribution<double> u;
  const std::int64_t C = 6;
  // Targets in {0, 1, 3, 4}: classes 2 and 5 absent from the targets; class 5 never predicted,
  // class 2 predicted now and then; ties of the top scores in every fifth sample.
  std::vector<ClassSample> samples(3000);
  const std::int64_t present[] = {0, 1, 3, 4};
  for (std::size_t i = 0; i < samples.size(); ++i) {
    ClassSample& s = samples[i];
    s.target = present[g() % 4];
    s.scores.assign(static_cast<std::size_t>(C), 0.0);
    double sum = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      double v = c == 5 ? 0.01 : u(g) + (c == s.target ? 0.6 : 0.0);
      s.scores[static_cast<std::size_t>(c)] = v;
      sum += v;
    }
    if (i % 5 == 0) {
      const auto a = static_cast<std::size_t>(g() % 5), b = (a + 1 + g() % 4) % 5;
      s.scores[b] = s.scores[a] = std::max(s.scores[a], s.scores[b]);
    }
    sum = 0;
    for (double v : s.scores) {
      sum += v;
    }
    for (double& v : s.scores) { // probabilities that float32 holds exactly enough
      v = static_cast<double>(static_cast<float>(v / sum));
    }
  }
  const ClassificationReport r = run_multiclass(samples, C, false, 2);
  EXPECT_EQ(r.count, samples.size());
  expect_reference(r, test::class_reference(samples, C, false, 2), "multiclass scores");
  // Label predictions: the same metrics without the scored ones.
  for (ClassSample& s : samples) {
    s.pred = test::predicted(s, false, 0.5);
    s.scores.clear();
  }
  expect_reference(run_multiclass(samples, C, true, 0), test::class_reference(samples, C, false),
                   "multiclass labels");
}

TEST(Classification, EveryBinaryMetricMatchesTheReference) {
  std::mt19937_64 g(32);
  std::uniform_real_distribution<double> u;
  std::vector<ClassSample> samples(2500);
  std::vector<float> scores(samples.size());
  std::vector<std::int64_t> targets(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const std::int64_t t = u(g) < 0.3 ? 1 : 0;
    const float q = i % 7 == 0 ? 0.5f : static_cast<float>(std::min(1.0, 0.6 * u(g) + 0.4 * t));
    samples[i] = ClassSample{t, {static_cast<double>(q)}, -1};
    scores[i] = q;
    targets[i] = t;
  }
  ClassificationSpec spec;
  spec.all_metrics = true;
  ClassificationEvaluator ev(spec, Device::cpu(2));
  ev.update(TensorView::contiguous(scores.data(), DType::f32, {1000}),
            TensorView::contiguous(targets.data(), DType::i64, {1000}));
  ev.update(TensorView::contiguous(scores.data() + 1000, DType::f32, {1500}),
            TensorView::contiguous(targets.data() + 1000, DType::i64, {1500}));
  expect_reference(ev.compute(), test::class_reference(samples, 2, true), "binary");
}

TEST(Classification, EveryMultilabelMetricMatchesTheReference) {
  std::mt19937_64 g(33);
  std::uniform_real_distribution<double> u;
  const std::int64_t L = 5, n = 1200;
  std::vector<float> scores(static_cast<std::size_t>(n * L));
  std::vector<std::int64_t> targets(scores.size());
  std::vector<std::uint8_t> mask(scores.size());
  std::vector<LabelSample> samples(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    LabelSample& s = samples[static_cast<std::size_t>(i)];
    for (std::int64_t k = 0; k < L; ++k) {
      const auto at = static_cast<std::size_t>(i * L + k);
      const int y = u(g) < 0.2 + 0.1 * static_cast<double>(k) ? 1 : 0;
      const float q = static_cast<float>(std::min(1.0, 0.7 * u(g) + 0.3 * y));
      const bool counted = !(k == 4 && i % 3 == 0) && u(g) < 0.9; // label 4 often masked
      scores[at] = q;
      targets[at] = y;
      mask[at] = counted ? 1 : 0;
      s.target.push_back(y);
      s.score.push_back(q);
      s.counted.push_back(counted);
    }
  }
  ClassificationSpec spec;
  spec.task = ClassTask::multilabel;
  spec.num_classes = L;
  spec.all_metrics = true;
  ClassificationEvaluator ev(spec, Device::cpu(2));
  ev.update(TensorView::contiguous(scores.data(), DType::f32, {n, L}),
            TensorView::contiguous(targets.data(), DType::i64, {n, L}),
            TensorView::contiguous(mask.data(), DType::u8, {n, L}));
  expect_reference(ev.compute(), test::label_reference(samples, L), "multilabel");
}

// Masks of any layout read exactly what their contiguous copies hold, for every task: a mask
// sliced with a step ([:, ::2] of a wider one), transposed, broadcast (stride 0), and int32 one
// byte off alignment. The states must be bitwise the same.
TEST(Classification, MasksOfAnyLayoutEqualTheirContiguousCopies) {
  std::mt19937_64 g(34);
  std::uniform_real_distribution<double> u;
  const std::int64_t n = 40, C = 4, T = 3; // samples [n, T]; scores [n, C, T]
  for (ClassTask task : {ClassTask::binary, ClassTask::multiclass, ClassTask::multilabel}) {
    ClassificationSpec spec;
    spec.task = task;
    spec.num_classes = task == ClassTask::binary ? 0 : C;
    spec.all_metrics = true;
    // Binary: scores and targets [n, T]; multiclass: scores [n, C, T], targets [n, T];
    // multilabel: both [n, C, T] (the label axis at 1). The mask covers [n, T] (binary,
    // multiclass) or [n, C, T] (multilabel).
    const bool ml = task == ClassTask::multilabel;
    std::vector<std::int64_t> sshape = {n, T}, tshape = {n, T}, mshape = {n, T};
    if (task != ClassTask::binary) {
      sshape = {n, C, T};
    }
    if (ml) {
      tshape = mshape = {n, C, T};
    }
    std::int64_t sn = 1, tn = 1, mn = 1;
    for (std::int64_t d : sshape) {
      sn *= d;
    }
    for (std::int64_t d : tshape) {
      tn *= d;
    }
    for (std::int64_t d : mshape) {
      mn *= d;
    }
    std::vector<float> scores(static_cast<std::size_t>(sn));
    for (float& v : scores) {
      v = static_cast<float>(u(g));
    }
    std::vector<std::int64_t> targets(static_cast<std::size_t>(tn));
    for (std::int64_t& t : targets) {
      t = static_cast<std::int64_t>(g() % (task == ClassTask::multiclass ? C : 2));
    }
    // The mask's values, C order over mshape.
    std::vector<std::uint8_t> want_mask(static_cast<std::size_t>(mn));
    for (std::uint8_t& m : want_mask) {
      m = u(g) < 0.6 ? 1 : 0;
    }
    const TensorView pv = TensorView::contiguous(scores.data(), DType::f32, sshape.data(),
                                                 static_cast<int>(sshape.size()));
    const TensorView tv = TensorView::contiguous(targets.data(), DType::i64, tshape.data(),
                                                 static_cast<int>(tshape.size()));
    const auto state_with = [&](const TensorView& mask) {
      ClassificationEvaluator ev(spec, Device::cpu(2));
      ev.update(pv, tv, mask);
      return ev.state().bytes;
    };
    const std::vector<std::uint8_t> want = state_with(TensorView::contiguous(
        want_mask.data(), DType::u8, mshape.data(), static_cast<int>(mshape.size())));
    const int rank = static_cast<int>(mshape.size());
    // Every other byte of a buffer twice as long (a [..., ::2] slice of the last axis).
    std::vector<std::uint8_t> stepped(want_mask.size() * 2, 7);
    for (std::size_t i = 0; i < want_mask.size(); ++i) {
      stepped[2 * i] = want_mask[i];
    }
    TensorView sv = TensorView::contiguous(stepped.data(), DType::u8, mshape.data(), rank);
    for (int d = 0; d < rank; ++d) {
      sv.strides[d] *= 2;
    }
    EXPECT_EQ(state_with(sv), want) << class_task_name(task) << " stepped";
    // Stored transposed (last axis slowest), read through transposed strides.
    std::vector<std::uint8_t> transposed(want_mask.size());
    const std::int64_t last = mshape.back(), rest = mn / last;
    for (std::int64_t i = 0; i < rest; ++i) {
      for (std::int64_t j = 0; j < last; ++j) {
        transposed[static_cast<std::size_t>(j * rest + i)] =
            want_mask[static_cast<std::size_t>(i * last + j)];
      }
    }
    TensorView trv = TensorView::contiguous(transposed.data(), DType::u8, mshape.data(), rank);
    trv.strides[rank - 1] = rest;
    for (int d = rank - 2, s = 1; d >= 0; --d) {
      trv.strides[d] = s;
      s *= static_cast<int>(mshape[static_cast<std::size_t>(d)]);
    }
    EXPECT_EQ(state_with(trv), want) << class_task_name(task) << " transposed";
    // int32, one byte off alignment.
    std::vector<unsigned char> raw(want_mask.size() * 4 + 1, 0);
    for (std::size_t i = 0; i < want_mask.size(); ++i) {
      const std::int32_t v = want_mask[i] ? -3 : 0;
      std::memcpy(raw.data() + 1 + 4 * i, &v, 4);
    }
    EXPECT_EQ(state_with(TensorView::contiguous(raw.data() + 1, DType::i32, mshape.data(), rank)),
              want)
        << class_task_name(task) << " misaligned int32";
    // Broadcast along the batch axis: every sample takes the first sample's mask.
    std::vector<std::uint8_t> first_row(want_mask.size());
    const std::int64_t per_sample = mn / n;
    for (std::size_t i = 0; i < first_row.size(); ++i) {
      first_row[i] = want_mask[i % static_cast<std::size_t>(per_sample)];
    }
    TensorView bv = TensorView::contiguous(want_mask.data(), DType::u8, mshape.data(), rank);
    bv.strides[0] = 0;
    EXPECT_EQ(state_with(bv),
              state_with(TensorView::contiguous(first_row.data(), DType::u8, mshape.data(), rank)))
        << class_task_name(task) << " broadcast";
  }
}

} // namespace
} // namespace gpueval

namespace gpueval {
namespace {

// A value that cannot be what the spec says is an error by default (invalid="error"), named
// with its fix; invalid="skip" drops and counts it; a NaN follows nan_policy instead.
TEST(Classification, InvalidInputIsAnErrorThatNamesTheFix) {
  ClassificationSpec binary;
  binary.task = ClassTask::binary;
  const std::vector<float> logits = {-2.0f, 0.3f, 1.5f, 0.9f, -0.1f, 3.0f};
  const std::vector<std::int64_t> labels = {0, 1, 1, 1, 0, 1};
  const auto fold = [&](const ClassificationSpec& spec, const std::vector<float>& scores) {
    ClassificationEvaluator ev(spec, Device::cpu(1));
    ev.update(TensorView::contiguous(scores.data(), DType::f32, {6}),
              TensorView::contiguous(labels.data(), DType::i64, {6}));
    return ev;
  };
  // Logits given as probabilities: the first score outside [0, 1] is element 0.
  ClassificationEvaluator as_probabilities = fold(binary, logits);
  try {
    (void)as_probabilities.compute();
    ADD_FAILURE() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.batch, 0u);
    EXPECT_EQ(e.element, 0u);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("probabilities lie in [0, 1]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("scores='logits'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("invalid='skip'"), std::string::npos) << msg;
  }
  ClassificationSpec skip = binary;
  skip.invalid = InvalidPolicy::skip;
  ClassificationEvaluator skipped = fold(skip, logits);
  EXPECT_EQ(skipped.compute().skipped_invalid, 4u); // -2, 1.5, -0.1, 3
  ClassificationSpec as_logits = binary;
  as_logits.scores = ScoreKind::logits;
  EXPECT_EQ(fold(as_logits, logits).compute().count, 6u);
  // A NaN score follows nan_policy (skip by default), not invalid.
  std::vector<float> nan = {0.1f, 0.2f, NAN, 0.9f, 0.4f, 0.6f};
  const ClassificationReport r = fold(binary, nan).compute();
  EXPECT_EQ(r.count, 5u);
  EXPECT_EQ(r.skipped_invalid, 1u);
  ClassificationSpec nan_error = binary;
  nan_error.nan_policy = NanPolicy::error;
  nan_error.invalid = InvalidPolicy::skip;
  EXPECT_NE(error_of<NonFiniteError>([&] {
              (void)fold(nan_error, nan).compute();
            }).find("a NaN or infinite target, label or score"),
            std::string::npos);
  EXPECT_EQ(fold(nan_error, logits).compute().skipped_invalid, 4u); // out of range: skipped
}

TEST(Classification, ProbabilityRowsMustSumToOne) {
  ClassificationSpec spec = multiclass_spec(3);
  const std::vector<std::int64_t> target = {0, 2};
  const auto first_bad = [&](const std::vector<float>& rows) -> std::int64_t {
    ClassificationEvaluator ev(spec, Device::cpu(1));
    ev.update(TensorView::contiguous(rows.data(), DType::f32, {2, 3}),
              TensorView::contiguous(target.data(), DType::i64, {2}));
    try {
      (void)ev.compute();
    } catch (const NonFiniteError& e) {
      EXPECT_NE(std::string(e.what()).find("each row sums to 1"), std::string::npos) << e.what();
      return static_cast<std::int64_t>(e.element);
    }
    return -1;
  };
  EXPECT_EQ(first_bad({0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f}), -1);
  EXPECT_EQ(first_bad({0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.7999f}), -1); // within 1e-3
  EXPECT_EQ(first_bad({0.2f, 0.3f, 0.5f, 0.3f, 0.3f, 0.3f}), 1);     // sums to 0.9
  EXPECT_EQ(first_bad({0.9f, 0.9f, 0.9f, 0.1f, 0.1f, 0.8f}), 0);     // in [0, 1], sums to 2.7
}

TEST(Classification, InputsThatCannotBeWhatTheSpecSaysAreRefusedAtOnce) {
  // One-hot targets with float scores of their shape.
  ClassificationEvaluator onehot(multiclass_spec(3), Device::cpu(1));
  const std::vector<float> scores = {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f};
  const std::vector<std::int64_t> one_hot = {0, 0, 1, 0, 0, 1};
  EXPECT_NE(error_of<InvalidArgument>([&] {
              onehot.update(TensorView::contiguous(scores.data(), DType::f32, {2, 3}),
                            TensorView::contiguous(one_hot.data(), DType::i64, {2, 3}));
            }).find("target.argmax(1)"),
            std::string::npos);
  // top_k with label predictions.
  ClassificationSpec topk = multiclass_spec(3);
  topk.top_k = 2;
  ClassificationEvaluator labels(topk, Device::cpu(1));
  const std::vector<std::int64_t> pred = {0, 2}, target = {0, 1};
  EXPECT_NE(error_of<InvalidArgument>([&] {
              labels.update(TensorView::contiguous(pred.data(), DType::i64, {2}),
                            TensorView::contiguous(target.data(), DType::i64, {2}));
            }).find("top_k 2 needs scores"),
            std::string::npos);
}

TEST(Classification, TheInvalidPolicyTravelsWithTheState) {
  ClassificationSpec skip = multiclass_spec(3);
  skip.invalid = InvalidPolicy::skip;
  ClassificationEvaluator a(skip, Device::cpu(1)), b(multiclass_spec(3), Device::cpu(1));
  const std::vector<float> scores = {0.2f, 0.3f, 0.5f};
  const std::vector<std::int64_t> target = {1};
  a.update(TensorView::contiguous(scores.data(), DType::f32, {1, 3}),
           TensorView::contiguous(target.data(), DType::i64, {1}));
  EXPECT_EQ(classification_spec_of(a.state()).invalid, InvalidPolicy::skip);
  EXPECT_NE(error_of<StateError>([&] { b.merge(a.state()); }).find("invalid skip"),
            std::string::npos);
  std::unique_ptr<AnyEvaluator> again = evaluator_for_state(a.state(), "", Device::cpu(1));
  again->merge(a.state());
  EXPECT_EQ(again->compute_any().as<ClassificationReport>()->count, 1u);
}

} // namespace
} // namespace gpueval
