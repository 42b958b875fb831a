// The geometry family in C++: exact sums, the alignments against transforms they must undo,
// degenerate samples, bitwise independence of threads, batch splits and layouts, states, masks and
// weights, and the errors. Values against NumPy's published definitions are in
// tests/python/test_geometry.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "error_of.hpp"
#include "gpueval/error.hpp"
#include "gpueval/geometry.hpp"
#include "gpueval/ops/geometry.hpp"

namespace gpueval {
namespace {

using test::error_of;

TEST(GeometryOps, ExactSumsAreExactAndOrderFree) {
  std::mt19937_64 g(3);
  std::vector<double> terms;
  for (int i = 0; i < 20000; ++i) { // errors of every scale, from 1e-12 to 1e12
    terms.push_back(std::ldexp(std::uniform_real_distribution<double>(1, 2)(g),
                               static_cast<int>(g() % 80) - 40));
  }
  auto sum = [](const std::vector<double>& v) {
    std::vector<std::uint64_t> s(ops::kExactWords, 0);
    for (double x : v) {
      ops::exact_add(s.data(), x);
    }
    return s;
  };
  const auto forward = sum(terms);
  std::vector<double> shuffled = terms;
  std::shuffle(shuffled.begin(), shuffled.end(), g);
  EXPECT_EQ(sum(shuffled), forward);
  // Split in two and merged: the same words.
  std::vector<double> a(terms.begin(), terms.begin() + 7000), b(terms.begin() + 7000, terms.end());
  auto merged = sum(a);
  const auto other = sum(b);
  ops::exact_merge(merged.data(), other.data());
  EXPECT_EQ(merged, forward);
  // Against a sum in long double of the terms sorted by size (accurate to ~1e-19 relatively).
  std::sort(terms.begin(), terms.end());
  long double exact = 0;
  for (double t : terms) {
    exact += t;
  }
  EXPECT_NEAR(ops::exact_value(forward.data()), static_cast<double>(exact),
              1e-15 * static_cast<double>(exact));
  // A million tiny terms on a huge one: none is lost (a double accumulator keeps none of them).
  std::vector<std::uint64_t> s(ops::kExactWords, 0);
  ops::exact_add(s.data(), 1e12);
  for (int i = 0; i < 1000000; ++i) {
    ops::exact_add(s.data(), 1e-6);
  }
  EXPECT_NEAR(ops::exact_value(s.data()), 1e12 + 1.0, 1e-4);
}

TEST(GeometryOps, ACarryRipplesThroughAFullWord) {
  // Word 1 all ones: a carry out of word 0 wraps it and must reach word 2 (a carry that the
  // word's own addition does not show: hi is 0 there).
  std::vector<std::uint64_t> s = {std::uint64_t{1} << 63, ~std::uint64_t{0}, 5, 0};
  ops::exact_add(s.data(), std::ldexp(1.0, -33)); // 2^63 units of 2^-96, at word 0
  EXPECT_EQ(s, (std::vector<std::uint64_t>{0, 0, 6, 0}));
  // The same through word 2 into the overflow count.
  s = {std::uint64_t{1} << 63, ~std::uint64_t{0}, ~std::uint64_t{0}, 0};
  ops::exact_add(s.data(), std::ldexp(1.0, -33));
  EXPECT_EQ(s, (std::vector<std::uint64_t>{0, 0, 0, 1}));
  // And in a merge.
  std::vector<std::uint64_t> a = {~std::uint64_t{0}, ~std::uint64_t{0}, 7, 0}, b = {1, 0, 0, 0};
  ops::exact_merge(a.data(), b.data());
  EXPECT_EQ(a, (std::vector<std::uint64_t>{0, 0, 8, 0}));
}

TEST(GeometryOps, OverflowsAreCountedInAnyOrder) {
  // Sums past 2^96 and terms past 2^95: counted in the overflow word, the same words in any
  // order, read as infinity (never a wrapped, plausible value).
  std::vector<double> terms = {std::ldexp(1.0, 94),
                               std::ldexp(1.5, 94),
                               1.0,
                               std::ldexp(1.0, 93),
                               1e30,
                               3.5,
                               std::ldexp(1.75, 94),
                               0.25};
  auto sum = [](const std::vector<double>& v) {
    std::vector<std::uint64_t> s(ops::kExactWords, 0);
    for (double x : v) {
      ops::exact_add(s.data(), x);
    }
    return s;
  };
  const auto forward = sum(terms);
  std::vector<double> reversed(terms.rbegin(), terms.rend());
  EXPECT_EQ(sum(reversed), forward);
  EXPECT_EQ(ops::exact_value(forward.data()), INFINITY);
  // Without the oversized term, the sum passes 2^96 by carries alone.
  terms.erase(terms.begin() + 4);
  const auto carried = sum(terms);
  EXPECT_EQ(carried[ops::kExactValueWords], 1u);
  EXPECT_EQ(ops::exact_value(carried.data()), INFINITY);
  // Merged from halves: the same words.
  auto a = sum({terms.begin(), terms.begin() + 3}), b = sum({terms.begin() + 3, terms.end()});
  ops::exact_merge(a.data(), b.data());
  EXPECT_EQ(a, carried);
}

// Rotates 3-vectors by a rotation built from an axis and an angle.
std::vector<double> transform(const std::vector<double>& t, double scale, const double shift[3],
                              double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  std::vector<double> p(t.size());
  for (std::size_t j = 0; j < t.size(); j += 3) {
    const double x = t[j], y = t[j + 1], z = t[j + 2];
    p[j] = scale * (c * x - s * z) + shift[0];
    p[j + 1] = scale * y + shift[1];
    p[j + 2] = scale * (s * x + c * z) + shift[2];
  }
  return p;
}

TEST(GeometryOps, ProcrustesUndoesASimilarityTransform) {
  std::mt19937_64 g(5);
  std::normal_distribution<double> z;
  std::vector<double> t(17 * 3);
  for (double& v : t) {
    v = z(g);
  }
  const double shift[3] = {10, -3, 0.5};
  const std::vector<double> p = transform(t, 2.5, shift, 0.7);
  const ops::Alignment al = ops::align_procrustes(p.data(), t.data(), 17, 3);
  EXPECT_NEAR(al.scale, 1 / 2.5, 1e-14);
  EXPECT_NEAR(ops::determinant(al.r, 3), 1.0, 1e-14);
  double aligned[3];
  for (int j = 0; j < 17; ++j) {
    al.apply(p.data() + 3 * j, aligned);
    EXPECT_LT(std::sqrt(ops::squared_distance(aligned, t.data() + 3 * j, 3)), 1e-13);
  }
  // A mirror image: the best rotation keeps det +1 and leaves an error (no reflection).
  std::vector<double> mirrored = t;
  for (std::size_t j = 0; j < mirrored.size(); j += 3) {
    mirrored[j] = -mirrored[j];
  }
  const ops::Alignment m = ops::align_procrustes(mirrored.data(), t.data(), 17, 3);
  EXPECT_NEAR(ops::determinant(m.r, 3), 1.0, 1e-14);
}

TEST(GeometryOps, DegenerateSamplesAlignWithScaleZero) {
  const double t[6] = {1, 2, 3, 4, 5, 6};
  const double same[6] = {7, 7, 7, 7, 7, 7}; // every predicted joint at one point
  ops::Alignment al = ops::align_procrustes(same, t, 2, 3);
  EXPECT_EQ(al.scale, 0.0);
  double out[3];
  al.apply(same, out);
  EXPECT_EQ(out[0], 2.5); // the targets' centroid
  EXPECT_EQ(out[2], 4.5);
  const double one[3] = {9, 9, 9};
  al = ops::align_procrustes(one, t, 1, 3); // one visible joint: aligned onto its target
  al.apply(one, out);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[2], 3.0);
  EXPECT_EQ(ops::align_scale(same, t, 2, 3), (7.0 * 21) / (7.0 * 7 * 6));
  const double zero[6] = {};
  EXPECT_EQ(ops::align_scale(zero, t, 2, 3), 0.0);
}

struct Poses {
  std::vector<float> pred, target;
  std::int64_t shape[3];
};

Poses poses(std::int64_t n, std::int64_t joints, std::int64_t d, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> z;
  Poses p;
  p.shape[0] = n;
  p.shape[1] = joints;
  p.shape[2] = d;
  p.target.resize(static_cast<std::size_t>(n * joints * d));
  p.pred.resize(p.target.size());
  for (std::size_t i = 0; i < p.target.size(); ++i) {
    p.target[i] = 100 * z(g);
    p.pred[i] = 1.1f * p.target[i] + 10 * z(g);
  }
  return p;
}

// Two reports with the same values, bit for bit (the device line aside).
void expect_same(const GeometryReport& a, const GeometryReport& b) {
  EXPECT_EQ(a.names, b.names);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.per_key, b.per_key);
  EXPECT_EQ(a.per_key_count, b.per_key_count);
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.weight_sum, b.weight_sum);
  EXPECT_EQ(a.auc_curve, b.auc_curve);
}

TensorView view(const std::vector<float>& v, const std::int64_t* shape, int rank) {
  return TensorView::contiguous(v.data(), DType::f32, shape, rank);
}

GeometrySpec per_joint() {
  GeometrySpec spec;
  spec.key_axis = 1;
  spec.pck_thresholds = {50, 150};
  return spec;
}

TEST(Geometry, BitwiseAcrossThreadsBatchSplitsAndMerges) {
  const Poses d = poses(301, 17, 3, 1);
  GeometryEvaluator one(per_joint(), Device::cpu(1));
  one.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  GeometryEvaluator two(per_joint(), Device::cpu(2));
  GeometryEvaluator part(per_joint(), Device::cpu(2));
  const std::int64_t splits[] = {0, 1, 100, 222, 301};
  for (int i = 0; i < 4; ++i) {
    const std::int64_t rows = splits[i + 1] - splits[i];
    const std::int64_t shape[3] = {rows, 17, 3};
    const auto at = static_cast<std::size_t>(splits[i] * 17 * 3);
    const auto p = TensorView::contiguous(d.pred.data() + at, DType::f32, shape, 3);
    const auto t = TensorView::contiguous(d.target.data() + at, DType::f32, shape, 3);
    (i < 2 ? two : part).update(p, t);
  }
  two.merge(part.state());
  expect_same(two.compute(), one.compute());
  EXPECT_EQ(one.compute().count, 301u * 17);
  EXPECT_EQ(two.batches(), 4u);
}

TEST(Geometry, VectorAxisOneReadsFlowInPlace) {
  // [N, 2, H, W] against the same vectors as [N, H, W, 2]: the same report.
  const std::int64_t n = 3, h = 5, w = 7;
  std::mt19937_64 g(2);
  std::normal_distribution<float> z;
  std::vector<float> last(static_cast<std::size_t>(n * h * w * 2)), lt(last.size());
  for (std::size_t i = 0; i < last.size(); ++i) {
    last[i] = 4 * z(g);
    lt[i] = last[i] + 2 * z(g);
  }
  std::vector<float> first(last.size()), ft(last.size());
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t c = 0; c < 2; ++c) {
      for (std::int64_t y = 0; y < h * w; ++y) {
        first[static_cast<std::size_t>((i * 2 + c) * h * w + y)] =
            last[static_cast<std::size_t>((i * h * w + y) * 2 + c)];
        ft[static_cast<std::size_t>((i * 2 + c) * h * w + y)] =
            lt[static_cast<std::size_t>((i * h * w + y) * 2 + c)];
      }
    }
  }
  GeometrySpec a;
  a.metrics = {GeoMetric::mpjpe, GeoMetric::px1, GeoMetric::px3, GeoMetric::outlier_rate};
  GeometrySpec b = a;
  b.vector_axis = 1;
  GeometryEvaluator ea(a, Device::cpu(2)), eb(b, Device::cpu(2));
  const std::int64_t s_last[4] = {n, h, w, 2}, s_first[4] = {n, 2, h, w};
  ea.update(view(last, s_last, 4), view(lt, s_last, 4));
  eb.update(view(first, s_first, 4), view(ft, s_first, 4));
  EXPECT_EQ(ea.compute().values, eb.compute().values);
}

TEST(Geometry, AWeightOfZeroIsAMaskAndAPrefixMaskCoversTheSample) {
  const Poses d = poses(40, 5, 3, 7);
  std::vector<std::uint8_t> mask(40 * 5);
  std::vector<float> weight(mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) {
    mask[i] = i % 3 != 0;
    weight[i] = mask[i];
  }
  const std::int64_t ms[2] = {40, 5};
  GeometryEvaluator masked(per_joint(), Device::cpu(2)), weighted(per_joint(), Device::cpu(2));
  masked.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3),
                TensorView::contiguous(mask.data(), DType::u8, ms, 2));
  weighted.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3), TensorView{},
                  TensorView::contiguous(weight.data(), DType::f32, ms, 2));
  const GeometryReport rm = masked.compute(), rw = weighted.compute();
  EXPECT_EQ(rm.values, rw.values);
  EXPECT_EQ(rm.count, 40u * 5 - 67);
  // A mask of whole samples, [N]: the same as that mask spread over the joints.
  std::vector<std::uint8_t> rows(40), spread(40 * 5);
  for (std::size_t i = 0; i < 40; ++i) {
    rows[i] = i % 4 != 1;
    std::fill(spread.begin() + static_cast<std::ptrdiff_t>(5 * i),
              spread.begin() + static_cast<std::ptrdiff_t>(5 * i + 5), rows[i]);
  }
  const std::int64_t rs[1] = {40};
  GeometryEvaluator by_row(per_joint(), Device::cpu(1)), by_joint(per_joint(), Device::cpu(1));
  by_row.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3),
                TensorView::contiguous(rows.data(), DType::u8, rs, 1));
  by_joint.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3),
                  TensorView::contiguous(spread.data(), DType::u8, ms, 2));
  expect_same(by_row.compute(), by_joint.compute());
}

TEST(Geometry, WeightsWeighTheMeans) {
  // Two vectors of error 3 and 4 (in one sample), weights 1 and 3: mpjpe (3 + 12) / 4.
  const std::vector<float> t = {0, 0, 0, 0}, p = {3, 0, 0, 4};
  const std::vector<float> w = {1, 3};
  const std::int64_t shape[3] = {1, 2, 2}, ws[2] = {1, 2};
  GeometrySpec spec;
  spec.metrics = {GeoMetric::mpjpe, GeoMetric::rmse_vec, GeoMetric::px5};
  GeometryEvaluator ev(spec, Device::cpu(1));
  ev.update(view(p, shape, 3), view(t, shape, 3), TensorView{},
            TensorView::contiguous(w.data(), DType::f32, ws, 2));
  const GeometryReport r = ev.compute();
  EXPECT_DOUBLE_EQ(r.value("mpjpe"), 15.0 / 4);
  EXPECT_DOUBLE_EQ(r.value("epe"), 15.0 / 4);
  EXPECT_DOUBLE_EQ(r.value("rmse_vec"), std::sqrt((9.0 + 3 * 16) / 4));
  EXPECT_DOUBLE_EQ(r.value("px5"), 1.0);
  EXPECT_DOUBLE_EQ(r.weight_sum, 4.0);
}

TEST(Geometry, NonFiniteVectorsFollowTheNanPolicy) {
  Poses d = poses(4, 3, 3, 9);
  d.pred[3 * 3 + 1] = NAN; // row 1, joint 0
  GeometrySpec spec = per_joint();
  GeometryEvaluator skip(spec, Device::cpu(1));
  skip.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  const GeometryReport r = skip.compute();
  EXPECT_EQ(r.skipped_nonfinite, 1u);
  EXPECT_EQ(r.count, 11u);
  EXPECT_TRUE(std::isfinite(r.value("pa_mpjpe")));
  spec.nan_policy = NanPolicy::propagate;
  GeometryEvaluator prop(spec, Device::cpu(1));
  prop.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  const GeometryReport rp = prop.compute();
  EXPECT_TRUE(std::isnan(rp.value("mpjpe")));
  EXPECT_TRUE(std::isnan(rp.per_key_values("mpjpe")[0]));
  EXPECT_FALSE(std::isnan(rp.per_key_values("mpjpe")[1]));
  spec.nan_policy = NanPolicy::error;
  GeometryEvaluator err(spec, Device::cpu(1));
  err.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  EXPECT_NE(error_of<NonFiniteError>([&] { err.compute(); }).find("vector 3 (row 1, vector 0"),
            std::string::npos);
}

TEST(Geometry, ErrorsNameTheFix) {
  const Poses d4 = poses(2, 5, 4, 1);
  GeometrySpec pa;
  pa.metrics = {GeoMetric::pa_mpjpe};
  GeometryEvaluator ev(pa, Device::cpu(1));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(view(d4.pred, d4.shape, 3), view(d4.target, d4.shape, 3));
            }).find("without pa_mpjpe"),
            std::string::npos);
  GeometryEvaluator dflt(GeometrySpec{}, Device::cpu(1)); // the default set leaves it out
  dflt.update(view(d4.pred, d4.shape, 3), view(d4.target, d4.shape, 3));
  EXPECT_FALSE(dflt.compute().has("pa_mpjpe"));
  EXPECT_TRUE(dflt.compute().has("n_mpjpe"));
  GeometrySpec pck;
  pck.metrics = {GeoMetric::pck};
  EXPECT_NE(error_of<InvalidArgument>([&] { pck.validate(); }).find("pck_thresholds"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([] {
              GeometrySpec::from_options({{"pck_thresholds", "150,50"}});
            }).find("increasing"),
            std::string::npos);
  const Poses d = poses(2, 5, 3, 1);
  GeometryEvaluator w(per_joint(), Device::cpu(1));
  const std::vector<float> bad = {1, -1};
  const std::int64_t ws[1] = {2};
  EXPECT_NE(error_of<InvalidArgument>([&] {
              w.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3), TensorView{},
                       TensorView::contiguous(bad.data(), DType::f32, ws, 1));
            }).find("the weight of vector 5 is -1"),
            std::string::npos);
  const std::vector<std::uint8_t> mask(6);
  const std::int64_t wrong[2] = {2, 3};
  EXPECT_NE(error_of<InvalidArgument>([&] {
              w.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3),
                       TensorView::contiguous(mask.data(), DType::u8, wrong, 2));
            }).find("without the vector axis, [2, 5]"),
            std::string::npos);
  EXPECT_NE(error_of<InvalidArgument>([] {
              GeometrySpec s;
              s.key_axis = -1;
              s.sample_shape = {17, 3};
              s.validate();
            }).find("key_axis and vector_axis"),
            std::string::npos);
}

TEST(Geometry, StatesRoundTripAndRefuseAnotherSpec) {
  const Poses d = poses(20, 17, 3, 4);
  GeometryEvaluator ev(per_joint(), Device::cpu(2));
  ev.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  const State s = ev.state();
  auto restored = evaluator_for_state(s, "", Device::cpu(1));
  restored->merge(s);
  expect_same(*restored->compute_any().as<GeometryReport>(), ev.compute());
  GeometrySpec other = per_joint();
  other.pck_thresholds = {50};
  GeometryEvaluator ev2(other, Device::cpu(1));
  ev2.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  EXPECT_NE(error_of<StateError>([&] { ev2.merge(s); }).find("pck_thresholds"), std::string::npos);
  const auto j = nlohmann::json::parse(ev.compute().to_json());
  EXPECT_EQ(j["task"], "geometry");
  EXPECT_EQ(j["per_key"]["count"].size(), 17u);
  EXPECT_EQ(j["pck_curve"]["thresholds"].size(), 31u);
}

TEST(Geometry, ANormalizerScalesThePckThresholdsOnly) {
  // One row of two 2-D vectors, errors 3 and 4; head sizes 2 and 10 (PCKh): 1.5 and 0.4 against
  // the thresholds 0.5 and 2.
  const std::vector<float> t = {0, 0, 0, 0, 0, 0, 0, 0}, p = {3, 0, 0, 4, 3, 0, 0, 4};
  const std::vector<float> head = {2, 10};
  const std::int64_t shape[3] = {2, 2, 2}, hs[1] = {2};
  GeometrySpec spec;
  spec.metrics = {GeoMetric::mpjpe, GeoMetric::pck, GeoMetric::auc_pck, GeoMetric::px5};
  spec.pck_thresholds = {0.5, 2};
  spec.auc_max = 2;
  spec.auc_steps = 5; // 0, 0.5, 1, 1.5, 2
  GeometryEvaluator ev(spec, Device::cpu(2));
  const TensorView n = TensorView::contiguous(head.data(), DType::f32, hs, 1);
  ev.update(view(p, shape, 3), view(t, shape, 3), TensorView{}, TensorView{}, n);
  const GeometryReport r = ev.compute();
  // Row 0: 1.5, 2.0 (neither under 0.5; 1.5 under 2). Row 1: 0.3, 0.4 (both under both).
  EXPECT_DOUBLE_EQ(r.value("pck@0.5"), 2.0 / 4);
  EXPECT_DOUBLE_EQ(r.value("pck@2"), 3.0 / 4);
  EXPECT_DOUBLE_EQ(r.value("mpjpe"), 3.5); // the errors themselves
  EXPECT_DOUBLE_EQ(r.value("px5"), 1.0);
  // The curve at 0, 0.5, 1, 1.5, 2: 0, 2, 2, 2, 3 of 4.
  EXPECT_EQ(r.auc_curve, (std::vector<double>{0, 0.5, 0.5, 0.5, 0.75}));
  EXPECT_TRUE(r.spec.pck_normalized.value_or(false));
  // A normalizer per vector: 1.5, 0.4, 3 and 0.4.
  const std::vector<float> each = {2, 10, 1, 10};
  const std::int64_t es[2] = {2, 2};
  GeometryEvaluator per_vector(spec, Device::cpu(1));
  per_vector.update(view(p, shape, 3), view(t, shape, 3), TensorView{}, TensorView{},
                    TensorView::contiguous(each.data(), DType::f32, es, 2));
  EXPECT_DOUBLE_EQ(per_vector.compute().value("pck@0.5"), 2.0 / 4);
  EXPECT_DOUBLE_EQ(per_vector.compute().value("pck@2"), 3.0 / 4);
  EXPECT_EQ(nlohmann::json::parse(r.to_json())["spec"]["pck_normalized"], true);
  // Every update passes one, or none does.
  EXPECT_NE(error_of<InvalidArgument>([&] {
              ev.update(view(p, shape, 3), view(t, shape, 3));
            }).find("pass normalizer= to every update"),
            std::string::npos);
  GeometryEvaluator plain(spec, Device::cpu(1));
  plain.update(view(p, shape, 3), view(t, shape, 3));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              plain.update(view(p, shape, 3), view(t, shape, 3), TensorView{}, TensorView{}, n);
            }).find("first update had no normalizer"),
            std::string::npos);
  // States of the two kinds do not merge; a fresh evaluator takes the state's kind.
  EXPECT_NE(error_of<StateError>([&] { plain.merge(ev.state()); }).find("pck_normalized"),
            std::string::npos);
  GeometryEvaluator fresh(spec, Device::cpu(1));
  fresh.merge(ev.state());
  fresh.update(view(p, shape, 3), view(t, shape, 3), TensorView{}, TensorView{}, n);
  EXPECT_DOUBLE_EQ(fresh.compute().value("pck@2"), 3.0 / 4);
  // A normalizer needs a metric it scales; its values are finite and > 0.
  GeometrySpec no_pck;
  no_pck.metrics = {GeoMetric::mpjpe};
  GeometryEvaluator mpjpe(no_pck, Device::cpu(1));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              mpjpe.update(view(p, shape, 3), view(t, shape, 3), TensorView{}, TensorView{}, n);
            }).find("neither pck nor auc_pck"),
            std::string::npos);
  const std::vector<float> zero = {2, 0};
  GeometryEvaluator bad(spec, Device::cpu(1));
  EXPECT_NE(error_of<InvalidArgument>([&] {
              bad.update(view(p, shape, 3), view(t, shape, 3), TensorView{}, TensorView{},
                         TensorView::contiguous(zero.data(), DType::f32, hs, 1));
            }).find("the normalizer of vector 2 is 0"),
            std::string::npos);
}

TEST(Geometry, RowsWithoutVectorsReportNothing) {
  // [2, 0, 3]: two rows of no vector (found by the property tests: the report's error text
  // divided by the vectors per row before the policy looked at it).
  const std::vector<float> none;
  const std::int64_t shape[3] = {2, 0, 3};
  for (NanPolicy policy : {NanPolicy::skip, NanPolicy::error}) {
    GeometrySpec spec;
    spec.nan_policy = policy;
    GeometryEvaluator ev(spec, Device::cpu(2));
    ev.update(view(none, shape, 3), view(none, shape, 3));
    const GeometryReport r = ev.compute();
    EXPECT_EQ(r.count, 0u);
    EXPECT_TRUE(std::isnan(r.value("mpjpe")));
  }
}

TEST(Geometry, ANormalizerOfOneGivesThePlainBits) {
  const Poses d = poses(60, 17, 3, 9);
  std::vector<float> ones(60, 1.0f);
  const std::int64_t ns[1] = {60};
  GeometryEvaluator plain(per_joint(), Device::cpu(2)), normalized(per_joint(), Device::cpu(2));
  plain.update(view(d.pred, d.shape, 3), view(d.target, d.shape, 3));
  normalized.update_with(view(d.pred, d.shape, 3), view(d.target, d.shape, 3), TensorView{},
                         TensorView{},
                         {{"normalizer", TensorView::contiguous(ones.data(), DType::f32, ns, 1)}});
  expect_same(plain.compute(), normalized.compute());
  // Any family's update_with refuses an input it does not take, naming its own.
  EXPECT_NE(error_of<InvalidArgument>([&] {
              normalized.update_with(view(d.pred, d.shape, 3), view(d.target, d.shape, 3),
                                     TensorView{}, TensorView{}, {{"head_size", TensorView{}}});
            }).find("its inputs beside pred, target, mask and weight: normalizer"),
            std::string::npos);
}

} // namespace
} // namespace gpueval
