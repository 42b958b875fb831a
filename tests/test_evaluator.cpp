// End-to-end through Evaluator on the CPU backend, against the long-double reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
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

using test::Pair;
using test::TypedBuffer;

enum class MaskKind { none, full, prefix };

struct Case {
  std::vector<std::int64_t> sample; // shape without the batch axis
  std::optional<int> by_axis;
  bool no_channel_axis = false;
  DType pred_dtype = DType::f32;
  DType target_dtype = DType::f32;
  std::vector<int> batch_rows = {5, 1, 0, 7};
  MaskKind mask = MaskKind::none;
  MaskKind weight = MaskKind::none; // sample weights, shaped as a mask of that kind
  DType weight_dtype = DType::f32;
  NanPolicy policy = NanPolicy::skip;
  double nonfinite_rate = 0; // fraction of pairs with a NaN or inf on one side
  int threads = 2;
  double offset = 0;
  std::vector<Metric> metrics = all_metrics();
};

struct Outcome {
  Report report;
  KeyLayout layout;
  std::vector<std::vector<Pair>> by_key;          // included pairs per key, in order
  std::vector<std::vector<double>> by_key_weight; // their weights
  bool weighted = false;
  std::uint64_t skipped = 0;
};

std::int64_t product(const std::vector<std::int64_t>& v) {
  std::int64_t n = 1;
  for (std::int64_t d : v) {
    n *= d;
  }
  return n;
}

Outcome run_case(const Case& c, std::uint64_t seed) {
  RegressionSpec spec;
  spec.metrics = c.metrics;
  spec.by_axis = c.by_axis;
  spec.nan_policy = c.policy;
  if (c.no_channel_axis) {
    spec.channel_axis.reset();
  }
  Outcome out;
  out.layout = KeyLayout::from(spec, c.sample);
  out.by_key.resize(static_cast<std::size_t>(out.layout.keys));
  out.by_key_weight.resize(static_cast<std::size_t>(out.layout.keys));
  out.weighted = c.weight != MaskKind::none;
  Evaluator ev(spec, Device::cpu(c.threads));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u;
  const std::int64_t per_row = product(c.sample);
  for (int rows : c.batch_rows) {
    const std::size_t n = static_cast<std::size_t>(rows * per_row);
    TypedBuffer p(c.pred_dtype, n), t(c.target_dtype, n);
    std::vector<std::int64_t> shape = {rows};
    shape.insert(shape.end(), c.sample.begin(), c.sample.end());
    // prefix mask: the batch axis and the first sample axis (or the batch axis alone)
    std::vector<std::int64_t> mask_shape = shape;
    if (c.mask == MaskKind::prefix) {
      mask_shape.resize(std::min<std::size_t>(2, shape.size()));
    }
    const std::int64_t mask_n = product(mask_shape);
    const std::int64_t cover = static_cast<std::int64_t>(n) / std::max<std::int64_t>(mask_n, 1);
    TypedBuffer m(DType::boolean, static_cast<std::size_t>(mask_n));
    for (std::int64_t i = 0; i < mask_n; ++i) {
      m.set(static_cast<std::size_t>(i), u(rng) < 0.8 ? 1 : 0);
    }
    // weights: a few zeros, the rest spread over six decades (exact in every float dtype)
    std::vector<std::int64_t> weight_shape = shape;
    if (c.weight == MaskKind::prefix) {
      weight_shape.resize(1);
    }
    const std::int64_t weight_n = product(weight_shape);
    const std::int64_t weight_cover =
        static_cast<std::int64_t>(n) / std::max<std::int64_t>(weight_n, 1);
    TypedBuffer wb(c.weight_dtype, static_cast<std::size_t>(weight_n));
    for (std::int64_t i = 0; i < weight_n; ++i) {
      const double x = u(rng);
      wb.set(static_cast<std::size_t>(i),
             x < 0.1 ? 0.0 : std::ldexp(1.0 + std::floor(x * 8), static_cast<int>(x * 20) - 10));
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t key = static_cast<std::int64_t>(i) % out.layout.keys;
      const double ch = static_cast<double>(out.layout.channel_of(key));
      const double tv = test::sample_value(c.target_dtype, c.offset + 3.0 * ch, 1.0 + ch, rng);
      const double pv = test::sample_value(c.pred_dtype, tv, 0.5, rng);
      t.set(i, tv);
      p.set(i, pv);
      if (c.nonfinite_rate > 0 && u(rng) < c.nonfinite_rate && dtype_is_float(c.pred_dtype)) {
        p.set(i, u(rng) < 0.5 ? std::nan("") : INFINITY);
      }
      const double w = c.weight == MaskKind::none ? 1.0 : wb.get(i / weight_cover);
      const bool in_mask = (c.mask == MaskKind::none || m.get(i / cover) != 0) && w != 0;
      const double pg = p.get(i), tg = t.get(i);
      const bool finite = std::isfinite(pg) && std::isfinite(tg);
      if (in_mask && (finite || c.policy == NanPolicy::propagate)) {
        out.by_key[static_cast<std::size_t>(key)].push_back({pg, tg});
        out.by_key_weight[static_cast<std::size_t>(key)].push_back(w);
      } else if (in_mask) {
        ++out.skipped;
      }
    }
    ev.update(p.view(shape), t.view(shape),
              c.mask == MaskKind::none ? TensorView{} : m.view(mask_shape),
              c.weight == MaskKind::none ? TensorView{} : wb.view(weight_shape));
  }
  out.report = ev.compute();
  return out;
}

// Per channel and flat values against the reference, counts exact.
void check_against_reference(const Outcome& o, const std::string& what) {
  const Report& r = o.report;
  const std::int64_t channels = o.layout.channels;
  std::vector<std::vector<Pair>> per_channel(static_cast<std::size_t>(channels));
  std::vector<std::vector<double>> per_channel_w(static_cast<std::size_t>(channels));
  std::vector<Pair> all;
  std::vector<double> all_w;
  for (std::size_t k = 0; k < o.by_key.size(); ++k) {
    const auto c = static_cast<std::size_t>(o.layout.channel_of(static_cast<std::int64_t>(k)));
    per_channel[c].insert(per_channel[c].end(), o.by_key[k].begin(), o.by_key[k].end());
    per_channel_w[c].insert(per_channel_w[c].end(), o.by_key_weight[k].begin(),
                            o.by_key_weight[k].end());
    all.insert(all.end(), o.by_key[k].begin(), o.by_key[k].end());
    all_w.insert(all_w.end(), o.by_key_weight[k].begin(), o.by_key_weight[k].end());
  }
  // The reference weighs the pairs only when the case did (unweighted: the quantiles too).
  const auto reference = [&](const std::vector<Pair>& pairs, const std::vector<double>& w) {
    return test::reference_metrics(pairs, o.weighted ? w : std::vector<double>{});
  };
  EXPECT_EQ(r.count, all.size()) << what;
  EXPECT_EQ(r.skipped_nonfinite, o.skipped) << what;
  double weight_sum = 0;
  for (double w : all_w) {
    weight_sum += w; // dyadic weights of a few bits: exact in any order
  }
  EXPECT_EQ(r.weight_sum, weight_sum) << what;
  const test::ReferenceValues flat = reference(all, all_w);
  for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
    const Metric m = r.spec.metrics[i];
    EXPECT_TRUE(test::within_accuracy(r.flat[i], flat[m], test::accuracy_scale(m, flat),
                                      test::tolerance(m)))
        << what << " flat " << metric_name(m) << ": " << r.flat[i] << " vs " << flat[m];
    for (std::int64_t ch = 0; ch < channels; ++ch) {
      const test::ReferenceValues ref = reference(per_channel[static_cast<std::size_t>(ch)],
                                                  per_channel_w[static_cast<std::size_t>(ch)]);
      EXPECT_TRUE(test::within_accuracy(r.per_channel[i][static_cast<std::size_t>(ch)], ref[m],
                                        test::accuracy_scale(m, ref), test::tolerance(m)))
          << what << " channel " << ch << " " << metric_name(m) << ": "
          << r.per_channel[i][static_cast<std::size_t>(ch)] << " vs " << ref[m];
    }
  }
  if (o.layout.by_axis >= 0) {
    // Breakdown index j: the headline restricted to j's keys, i.e. the uniform average over
    // channels of each channel's metric over j's pairs (max_error: their overall max). Its keys
    // are the block [j * B, (j + 1) * B).
    const std::int64_t block = o.layout.keys / o.layout.by_length;
    for (std::int64_t j = 0; j < o.layout.by_length; ++j) {
      std::vector<std::vector<Pair>> channel_pairs(static_cast<std::size_t>(channels));
      std::vector<std::vector<double>> channel_w(static_cast<std::size_t>(channels));
      std::vector<Pair> index_pairs;
      std::vector<double> index_w;
      for (std::int64_t k = j * block; k < (j + 1) * block; ++k) {
        const auto& pairs = o.by_key[static_cast<std::size_t>(k)];
        const auto& ws = o.by_key_weight[static_cast<std::size_t>(k)];
        const auto c = static_cast<std::size_t>(o.layout.channel_of(k));
        channel_pairs[c].insert(channel_pairs[c].end(), pairs.begin(), pairs.end());
        channel_w[c].insert(channel_w[c].end(), ws.begin(), ws.end());
        index_pairs.insert(index_pairs.end(), pairs.begin(), pairs.end());
        index_w.insert(index_w.end(), ws.begin(), ws.end());
      }
      EXPECT_EQ(r.by_axis_count[static_cast<std::size_t>(j)], index_pairs.size())
          << what << " by index " << j;
      std::vector<test::ReferenceValues> per_channel_ref;
      for (std::size_t c = 0; c < channel_pairs.size(); ++c) {
        per_channel_ref.push_back(reference(channel_pairs[c], channel_w[c]));
      }
      const test::ReferenceValues overall = reference(index_pairs, index_w);
      for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
        const Metric m = r.spec.metrics[i];
        if (test::is_quantile_metric(m)) {
          continue; // the sketch is per channel: by_axis values are NaN (tested in test_sketch)
        }
        double want = 0;
        if (m == Metric::max_error) {
          want = overall[m];
        } else {
          for (const test::ReferenceValues& ref : per_channel_ref) {
            want += ref[m];
          }
          want /= static_cast<double>(per_channel_ref.size());
        }
        const double got = r.by_axis[i][static_cast<std::size_t>(j)];
        // The accuracy rule's scale per channel; the average's error is at most their mean.
        double scale = 0;
        for (const test::ReferenceValues& ref : per_channel_ref) {
          scale = std::max(scale, test::accuracy_scale(m, ref));
        }
        EXPECT_TRUE(
            test::within_accuracy(got, want, std::max(scale, std::fabs(want)), test::tolerance(m)))
            << what << " by index " << j << " " << metric_name(m) << ": " << got << " vs " << want;
      }
    }
  }
}

const DType kValueDTypes[] = {DType::f16, DType::bf16, DType::f32, DType::f64, DType::i8,
                              DType::i16, DType::i32,  DType::i64, DType::u8};

TEST(Evaluator, EveryDTypePairAgreesWithReference) {
  for (DType pd : kValueDTypes) {
    for (DType td : {DType::f32, DType::f64, DType::bf16, DType::i32}) {
      Case c;
      c.sample = {4, 3};
      c.pred_dtype = pd;
      c.target_dtype = td;
      check_against_reference(run_case(c, 1),
                              std::string(dtype_name(pd)) + "/" + std::string(dtype_name(td)));
    }
  }
}

TEST(Evaluator, EveryKeyCountAgreesWithReference) {
  // 129: lanes = K, not a multiple of the SIMD block; 1001: the keys regime with a partial block
  for (std::int64_t k : {1, 3, 17, 20, 32, 33, 129, 1000, 1001}) {
    Case c;
    c.sample = {k};
    c.batch_rows = {40, 1, 0, 130, 3};
    check_against_reference(run_case(c, static_cast<std::uint64_t>(k)), "K=" + std::to_string(k));
  }
  Case rank1; // [N] batches: one key
  rank1.sample = {};
  rank1.batch_rows = {1000, 1, 0, 77};
  check_against_reference(run_case(rank1, 5), "rank 1");
  Case none; // no channel axis: all values one stream
  none.sample = {6, 5};
  none.no_channel_axis = true;
  check_against_reference(run_case(none, 6), "channel none");
}

// Positive data, so that msle is defined: its vector log1p/log (CPU lanes) against the reference.
TEST(Evaluator, MsleOnPositiveData) {
  for (std::int64_t k : {1, 20, 33, 1000}) {
    Case c;
    c.sample = {k};
    c.offset = 1e4; // every value positive, even for the widest channels
    c.batch_rows = {300, 7};
    const Outcome o = run_case(c, static_cast<std::uint64_t>(100 + k));
    const std::size_t msle = static_cast<std::size_t>(Metric::msle);
    ASSERT_FALSE(std::isnan(o.report.flat[msle])) << "K=" << k;
    check_against_reference(o, "msle K=" + std::to_string(k));
  }
}

TEST(Evaluator, BreakdownAxes) {
  Case c;
  c.sample = {50, 20}; // [batch, time, channel] by time: K = 1000, the keys regime
  c.by_axis = 1;
  c.batch_rows = {16, 3, 0, 70};
  check_against_reference(run_case(c, 7), "by time");
  c.sample = {6, 4, 3}; // [batch, time, joint, xyz]: K = 72, the rows regime
  check_against_reference(run_case(c, 8), "by time, joints");
  c.no_channel_axis = true;
  check_against_reference(run_case(c, 9), "by time, no channel");
  c.no_channel_axis = false;
  c.sample = {600, 20}; // K = 12000, several key blocks
  c.batch_rows = {3, 65, 1};
  check_against_reference(run_case(c, 10), "K=12000");
}

TEST(Evaluator, MasksOfBothShapes) {
  for (MaskKind mk : {MaskKind::full, MaskKind::prefix}) {
    for (std::vector<std::int64_t> sample :
         {std::vector<std::int64_t>{7, 3}, std::vector<std::int64_t>{20},
          std::vector<std::int64_t>{}, std::vector<std::int64_t>{40, 25}}) {
      Case c;
      c.sample = sample;
      c.mask = mk;
      c.batch_rows = {33, 1, 0, 9};
      const std::string what = std::string(mk == MaskKind::full ? "full" : "prefix") +
                               " mask, rank " + std::to_string(sample.size() + 1);
      check_against_reference(run_case(c, 11), what);
    }
  }
  Case by; // a prefix mask with a breakdown in the keys regime
  by.sample = {40, 25};
  by.by_axis = 1;
  by.mask = MaskKind::prefix;
  check_against_reference(run_case(by, 12), "prefix mask, by axis");
}

// Sample weights (docs/design.md, "Weights"): every metric against the long-double weighted
// two-pass reference, for weights of the tensor's shape and of the batch axis alone, every float
// weight dtype, with a mask and non-finite pairs besides, in both regimes and far from zero.
TEST(Evaluator, WeightsAgreeWithTheWeightedReference) {
  std::vector<Metric> weighted_metrics;
  for (Metric m : all_metrics()) {
    if (!test::is_quantile_metric(m)) {
      weighted_metrics.push_back(m);
    }
  }
  int seed = 40;
  for (MaskKind wk : {MaskKind::full, MaskKind::prefix}) {
    for (DType wd : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
      for (std::vector<std::int64_t> sample :
           {std::vector<std::int64_t>{7, 3}, std::vector<std::int64_t>{},
            std::vector<std::int64_t>{40, 25}}) {
        Case c;
        c.sample = sample;
        c.metrics = weighted_metrics;
        c.weight = wk;
        c.weight_dtype = wd;
        c.batch_rows = {33, 1, 0, 9};
        c.offset = wd == DType::f64 ? 1e6 : 0; // the spread far from zero
        const std::string what = std::string(wk == MaskKind::full ? "full" : "prefix") +
                                 " weights " + std::string(dtype_name(wd)) + ", rank " +
                                 std::to_string(sample.size() + 1);
        check_against_reference(run_case(c, static_cast<std::uint64_t>(++seed)), what);
      }
    }
  }
  Case both; // a mask, weights and non-finite pairs together, with a breakdown, on 3 threads
  both.sample = {40, 25};
  both.by_axis = 1;
  both.metrics = weighted_metrics;
  both.mask = MaskKind::prefix;
  both.weight = MaskKind::full;
  both.nonfinite_rate = 0.05;
  both.threads = 3;
  check_against_reference(run_case(both, 60), "mask, weights, non-finite pairs, by axis");
}

TEST(Evaluator, NanPolicySkipCountsAndExcludes) {
  for (std::vector<std::int64_t> sample :
       {std::vector<std::int64_t>{20}, std::vector<std::int64_t>{600}}) {
    Case c;
    c.sample = sample;
    c.nonfinite_rate = 0.05;
    c.mask = MaskKind::full;
    c.batch_rows = {70, 2};
    const Outcome o = run_case(c, 13);
    EXPECT_GT(o.report.skipped_nonfinite, 0u);
    check_against_reference(o, "skip");
  }
}

// Masked-out and skipped pairs may hold anything and must reach no sum, not even as the shift
// that the first pair of a run gives the run's sums: here every run starts with excluded pairs
// that are huge (1e300 squares to inf), NaN or infinite, and the report must equal that of the
// included rows alone.
TEST(Evaluator, ExcludedPairsNeverBecomeARunsShift) {
  for (const std::int64_t keys : {std::int64_t{20}, std::int64_t{600}}) {
    for (const int threads : {1, 2}) {
      const std::int64_t rows = 40, excluded = 3, n = rows * keys;
      std::mt19937_64 rng(static_cast<std::uint64_t>(keys + threads));
      std::uniform_real_distribution<double> u(-1, 1);
      std::vector<double> p(static_cast<std::size_t>(n)), t(p.size());
      for (std::size_t i = 0; i < p.size(); ++i) {
        t[i] = 5 + u(rng);
        p[i] = t[i] + 0.3 * u(rng);
      }
      std::vector<double> masked_p = p, skipped_p = p, masked_t = t;
      std::vector<std::uint8_t> mask(static_cast<std::size_t>(rows), 1);
      for (std::int64_t i = 0; i < excluded * keys; ++i) {
        const auto at = static_cast<std::size_t>(i);
        const std::int64_t row = i / keys;
        mask[static_cast<std::size_t>(row)] = 0;
        masked_p[at] = row == 0 ? 1e300 : row == 1 ? NAN : 2.0;
        masked_t[at] = row == 2 ? -INFINITY : -1e300;
        skipped_p[at] = row == 1 ? -INFINITY : NAN;
      }
      RegressionSpec spec;
      spec.metrics = all_metrics();
      const std::int64_t kept_rows = rows - excluded;
      Evaluator masked(spec, Device::cpu(threads)), skipped(spec, Device::cpu(threads)),
          alone(spec, Device::cpu(threads));
      masked.update(TensorView::contiguous(masked_p.data(), DType::f64, {rows, keys}),
                    TensorView::contiguous(masked_t.data(), DType::f64, {rows, keys}),
                    TensorView::contiguous(mask.data(), DType::boolean, {rows}));
      skipped.update(TensorView::contiguous(skipped_p.data(), DType::f64, {rows, keys}),
                     TensorView::contiguous(t.data(), DType::f64, {rows, keys}));
      alone.update(
          TensorView::contiguous(p.data() + excluded * keys, DType::f64, {kept_rows, keys}),
          TensorView::contiguous(t.data() + excluded * keys, DType::f64, {kept_rows, keys}));
      const Report want = alone.compute();
      for (const auto& [name, got] :
           {std::pair<const char*, Report>{"masked", masked.compute()},
            std::pair<const char*, Report>{"skipped", skipped.compute()}}) {
        ASSERT_EQ(got.count, want.count) << name;
        for (Metric m : spec.metrics) {
          const std::string metric(metric_name(m));
          const double w = want.value(metric), g = got.value(metric);
          EXPECT_TRUE(std::isfinite(g)) << name << " " << metric << " keys " << keys;
          EXPECT_NEAR(g, w, 1e-9 * std::max(1.0, std::abs(w)))
              << name << " " << metric << " keys " << keys << " threads " << threads;
        }
      }
    }
  }
}

TEST(Evaluator, NanPolicyPropagateMakesAffectedKeysNaN) {
  RegressionSpec spec;
  spec.nan_policy = NanPolicy::propagate;
  Evaluator ev(spec, Device::cpu(2));
  std::vector<float> p(30, 1.0f), t(30, 2.0f);
  p[4] = NAN; // key 1 of a [10, 3] batch
  t[3] = 1.5f;
  ev.update(TensorView::contiguous(p.data(), DType::f32, {10, 3}),
            TensorView::contiguous(t.data(), DType::f32, {10, 3}));
  const Report r = ev.compute();
  EXPECT_TRUE(std::isnan(r.per_channel_values("mse")[1]));
  EXPECT_FALSE(std::isnan(r.per_channel_values("mse")[0]));
  EXPECT_TRUE(std::isnan(r.value("mse")));
  EXPECT_EQ(r.skipped_nonfinite, 0u);
  EXPECT_EQ(r.count, 30u);
}

TEST(Evaluator, NanPolicyErrorNamesFirstBatchAndElement) {
  for (std::int64_t keys : {3, 700}) {
    RegressionSpec spec;
    spec.nan_policy = NanPolicy::error;
    Evaluator ev(spec, Device::cpu(2));
    const std::int64_t rows = 10, n = rows * keys;
    std::vector<double> p(static_cast<std::size_t>(n), 1.0), t(static_cast<std::size_t>(n), 2.0);
    ev.update(TensorView::contiguous(p.data(), DType::f64, {rows, keys}),
              TensorView::contiguous(t.data(), DType::f64, {rows, keys}));
    const std::int64_t bad = 4 * keys + 2;
    t[static_cast<std::size_t>(bad)] = INFINITY;
    p[static_cast<std::size_t>(n - 1)] = NAN;
    ev.update(TensorView::contiguous(p.data(), DType::f64, {rows, keys}),
              TensorView::contiguous(t.data(), DType::f64, {rows, keys}));
    ev.update(TensorView::contiguous(p.data(), DType::f64, {rows, keys}),
              TensorView::contiguous(t.data(), DType::f64, {rows, keys}));
    try {
      (void)ev.compute();
      FAIL() << "no error";
    } catch (const NonFiniteError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("batch 1 at element " + std::to_string(bad) + " (row 4, key 2)"),
                std::string::npos)
          << msg;
    }
  }
}

TEST(Evaluator, StridedSlicedAndMisalignedViewsMatchContiguous) {
  // A [12, 9, 5] float32 tensor; evaluate the slice [:, 2:8, :] three ways.
  const std::int64_t B = 12, T = 9, C = 5;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> z;
  std::vector<float> big_p(static_cast<std::size_t>(B * T * C)), big_t(big_p.size());
  for (std::size_t i = 0; i < big_p.size(); ++i) {
    big_t[i] = static_cast<float>(10 + z(rng));
    big_p[i] = big_t[i] + static_cast<float>(0.3 * z(rng));
  }
  std::vector<float> cp, ct; // contiguous copy of the slice
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t tt = 2; tt < 8; ++tt) {
      for (std::int64_t c = 0; c < C; ++c) {
        cp.push_back(big_p[static_cast<std::size_t>((b * T + tt) * C + c)]);
        ct.push_back(big_t[static_cast<std::size_t>((b * T + tt) * C + c)]);
      }
    }
  }
  RegressionSpec spec;
  const auto report_of = [&](const TensorView& p, const TensorView& t) {
    Evaluator ev(spec, Device::cpu(2));
    ev.update(p, t);
    return ev.compute().to_json();
  };
  const std::string want = report_of(TensorView::contiguous(cp.data(), DType::f32, {B, 6, C}),
                                     TensorView::contiguous(ct.data(), DType::f32, {B, 6, C}));
  TensorView sp = TensorView::contiguous(big_p.data() + 2 * C, DType::f32, {B, 6, C});
  sp.strides[0] = T * C;
  TensorView st = TensorView::contiguous(big_t.data() + 2 * C, DType::f32, {B, 6, C});
  st.strides[0] = T * C;
  EXPECT_EQ(report_of(sp, st), want); // sliced rows: bitwise the same

  // Misaligned: the same values one byte past an aligned address.
  TypedBuffer mp(DType::f32, cp.size(), 1), mt(DType::f32, ct.size(), 3);
  std::memcpy(mp.data(), cp.data(), cp.size() * 4);
  std::memcpy(mt.data(), ct.data(), ct.size() * 4);
  EXPECT_EQ(report_of(mp.view({B, 6, C}), mt.view({B, 6, C})), want);

  // A transposed last axis: stored as [C, B, 6], viewed as [B, 6, C].
  std::vector<float> tp(cp.size()), tt(ct.size());
  for (std::int64_t i = 0; i < B * 6; ++i) {
    for (std::int64_t c = 0; c < C; ++c) {
      tp[static_cast<std::size_t>(c * B * 6 + i)] = cp[static_cast<std::size_t>(i * C + c)];
      tt[static_cast<std::size_t>(c * B * 6 + i)] = ct[static_cast<std::size_t>(i * C + c)];
    }
  }
  TensorView vp = TensorView::contiguous(tp.data(), DType::f32, {B, 6, C});
  TensorView vt = TensorView::contiguous(tt.data(), DType::f32, {B, 6, C});
  for (TensorView* v : {&vp, &vt}) {
    v->strides[0] = 6;
    v->strides[1] = 1;
    v->strides[2] = B * 6;
  }
  EXPECT_EQ(report_of(vp, vt), want);
}

// Masks of any layout read exactly what their contiguous copies hold: sliced with a step (the
// Python case m = (rng.random((32, 20)) < 0.5)[:, ::2] for a (32, 10, 4) batch), transposed,
// broadcast along the batch axis, and int32 one byte off alignment; full-shape masks too.
TEST(Evaluator, MasksOfAnyLayoutEqualTheirContiguousCopies) {
  const std::int64_t B = 32, T = 10, C = 4;
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> u;
  std::normal_distribution<double> z;
  std::vector<float> p(static_cast<std::size_t>(B * T * C)), t(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    t[i] = static_cast<float>(20 + z(rng));
    p[i] = t[i] + static_cast<float>(z(rng));
  }
  const TensorView pv = TensorView::contiguous(p.data(), DType::f32, {B, T, C});
  const TensorView tv = TensorView::contiguous(t.data(), DType::f32, {B, T, C});
  RegressionSpec spec;
  spec.metrics = all_metrics();
  const auto report_of = [&](const TensorView& mask) {
    Evaluator ev(spec, Device::cpu(2));
    ev.update(pv, tv, mask);
    return ev.compute();
  };
  for (const std::vector<std::int64_t>& mshape :
       {std::vector<std::int64_t>{B, T}, std::vector<std::int64_t>{B, T, C}}) {
    const int rank = static_cast<int>(mshape.size());
    const std::int64_t mn = product(mshape), last = mshape.back();
    // A [..., 2 * last] boolean mask sliced [..., ::2], and its contiguous copy.
    std::vector<std::uint8_t> wide(static_cast<std::size_t>(mn * 2));
    for (std::uint8_t& m : wide) {
      m = u(rng) < 0.5 ? 1 : 0;
    }
    std::vector<std::uint8_t> copy(static_cast<std::size_t>(mn));
    for (std::int64_t i = 0; i < mn; ++i) {
      copy[static_cast<std::size_t>(i)] = wide[static_cast<std::size_t>(2 * i)];
    }
    const Report want =
        report_of(TensorView::contiguous(copy.data(), DType::boolean, mshape.data(), rank));
    const std::string json = want.to_json();
    std::uint64_t kept = 0;
    for (std::uint8_t m : copy) {
      kept += m;
    }
    EXPECT_EQ(want.count, kept * static_cast<std::uint64_t>((B * T * C) / mn));
    TensorView stepped = TensorView::contiguous(wide.data(), DType::boolean, mshape.data(), rank);
    for (int d = 0; d < rank; ++d) {
      stepped.strides[d] *= 2;
    }
    EXPECT_EQ(report_of(stepped).to_json(), json) << "stepped, rank " << rank;
    // Stored with the last axis slowest, viewed through transposed strides.
    std::vector<std::uint8_t> transposed(copy.size());
    const std::int64_t rest = mn / last;
    for (std::int64_t i = 0; i < rest; ++i) {
      for (std::int64_t j = 0; j < last; ++j) {
        transposed[static_cast<std::size_t>(j * rest + i)] =
            copy[static_cast<std::size_t>(i * last + j)];
      }
    }
    TensorView tr = TensorView::contiguous(transposed.data(), DType::boolean, mshape.data(), rank);
    tr.strides[rank - 1] = rest;
    for (int d = rank - 2, st = 1; d >= 0; --d) {
      tr.strides[d] = st;
      st *= static_cast<int>(mshape[static_cast<std::size_t>(d)]);
    }
    EXPECT_EQ(report_of(tr).to_json(), json) << "transposed, rank " << rank;
    // int32, one byte off alignment, nonzero values other than 1.
    TypedBuffer wide_int(DType::i32, copy.size(), 1);
    for (std::size_t i = 0; i < copy.size(); ++i) {
      wide_int.set(i, copy[i] ? -7 : 0);
    }
    EXPECT_EQ(report_of(wide_int.view(mshape)).to_json(), json) << "int32, rank " << rank;
    // Broadcast along the batch axis: every row takes row 0's mask.
    std::vector<std::uint8_t> row0(copy.size());
    for (std::size_t i = 0; i < row0.size(); ++i) {
      row0[i] = copy[i % static_cast<std::size_t>(mn / B)];
    }
    TensorView broadcast = TensorView::contiguous(copy.data(), DType::boolean, mshape.data(), rank);
    broadcast.strides[0] = 0;
    EXPECT_EQ(report_of(broadcast).to_json(),
              report_of(TensorView::contiguous(row0.data(), DType::boolean, mshape.data(), rank))
                  .to_json())
        << "broadcast, rank " << rank;
  }
}

// ---- determinism ------------------------------------------------------------------------------

std::vector<std::uint8_t> state_after(const std::vector<int>& batch_rows, std::int64_t keys,
                                      int threads, const std::vector<float>& p,
                                      const std::vector<float>& t, std::optional<int> by = {}) {
  RegressionSpec spec;
  spec.metrics = all_metrics();
  spec.by_axis = by;
  Evaluator ev(spec, Device::cpu(threads));
  std::int64_t row = 0;
  for (int rows : batch_rows) {
    if (by) { // [rows, keys / 4, 4]
      ev.update(TensorView::contiguous(p.data() + row * keys, DType::f32, {rows, keys / 4, 4}),
                TensorView::contiguous(t.data() + row * keys, DType::f32, {rows, keys / 4, 4}));
    } else {
      ev.update(TensorView::contiguous(p.data() + row * keys, DType::f32, {rows, keys}),
                TensorView::contiguous(t.data() + row * keys, DType::f32, {rows, keys}));
    }
    row += rows;
  }
  std::vector<std::uint8_t> bytes = ev.state().bytes;
  // Everything but the batch count (offset 40) and the checksum (last 8 bytes).
  std::fill(bytes.begin() + 40, bytes.begin() + 48, 0);
  bytes.resize(bytes.size() - 8);
  return bytes;
}

TEST(Evaluator, BitwiseIdenticalForAnyThreadCount) {
  for (std::int64_t keys : {1, 20, 2048}) {
    const int rows = keys == 1 ? 300000 : keys == 20 ? 20000 : 100;
    const auto p = test::noise(static_cast<std::size_t>(rows * keys), 1e3, 1);
    const auto t = test::noise(p.size(), 1e3, 2);
    const auto one = state_after({rows}, keys, 1, p, t);
    EXPECT_EQ(state_after({rows}, keys, 2, p, t), one) << "K=" << keys;
    EXPECT_EQ(state_after({rows}, keys, 8, p, t), one) << "K=" << keys;
  }
  const auto p = test::noise(64 * 1200, 5, 3), t = test::noise(64 * 1200, 5, 4);
  EXPECT_EQ(state_after({64}, 1200, 1, p, t, 1), state_after({64}, 1200, 8, p, t, 1));
}

// The rows regime promises bitwise equality for batch sequences cut at multiples of its chunk
// (65536 / K rows): chunk records fold into the epoch one by one whatever batch they came from.
TEST(Evaluator, BitwiseIdenticalForBatchesCutAtChunkBoundaries) {
  const std::int64_t keys = 20;
  const int chunk = 65536 / 20; // 3276 rows
  const auto p = test::noise(static_cast<std::size_t>(6 * chunk * keys), -300, 5);
  const auto t = test::noise(p.size(), -300, 6);
  const auto whole = state_after({6 * chunk}, keys, 2, p, t);
  EXPECT_EQ(state_after({chunk, chunk, 4 * chunk}, keys, 2, p, t), whole);
  EXPECT_EQ(state_after({2 * chunk, 0, 3 * chunk, chunk}, keys, 1, p, t), whole);
}

// The vector fast path (no mask, finite values) and the general path (a mask of all ones) do the
// same IEEE operations per lane: bitwise equal reports, in both regimes and with partial blocks.
TEST(Evaluator, FastAndGeneralPathsAgreeBitwise) {
  for (std::int64_t keys : {1, 3, 20, 129, 1001}) {
    const std::int64_t rows = 3000;
    const auto p = test::noise(static_cast<std::size_t>(rows * keys), 7e4, 11);
    const auto t = test::noise(p.size(), 7e4, 12);
    std::vector<std::uint8_t> ones(static_cast<std::size_t>(rows), 1);
    RegressionSpec spec;
    spec.metrics = {Metric::mse,       Metric::r2,   Metric::pearson,
                    Metric::max_error, Metric::mape, Metric::nrmse_range};
    Evaluator fast(spec, Device::cpu(2)), general(spec, Device::cpu(2));
    const auto pv = TensorView::contiguous(p.data(), DType::f32, {rows, keys});
    const auto tv = TensorView::contiguous(t.data(), DType::f32, {rows, keys});
    fast.update(pv, tv);
    general.update(pv, tv, TensorView::contiguous(ones.data(), DType::u8, {rows}));
    EXPECT_EQ(fast.compute().to_json(), general.compute().to_json()) << "K=" << keys;
  }
}

// A channel axis that is not the last ([N, C, H, W] images): the same bits as a channel-last
// evaluator over the transposed copy [N, H, W, C], with prefix masks that cover the channel axis
// and breakdown axes on either side of it; the report names the axes as the spec did.
TEST(Evaluator, ChannelAxisAnywhereEqualsItsTransposedCopy) {
  const std::int64_t n = 6, c = 3, h = 5, w = 7;
  const auto p = test::noise(static_cast<std::size_t>(n * c * h * w), 40, 31);
  const auto t = test::noise(p.size(), 40, 32);
  std::vector<float> pt(p.size()), tt(t.size()); // [N, H, W, C]
  std::vector<std::uint8_t> m(static_cast<std::size_t>(n * c)), mt(p.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    m[i] = (i * 7) % 5 != 0;
  }
  for (std::int64_t a = 0; a < n; ++a) {
    for (std::int64_t ch = 0; ch < c; ++ch) {
      for (std::int64_t y = 0; y < h; ++y) {
        for (std::int64_t x = 0; x < w; ++x) {
          const auto from = static_cast<std::size_t>(((a * c + ch) * h + y) * w + x);
          const auto to = static_cast<std::size_t>(((a * h + y) * w + x) * c + ch);
          pt[to] = p[from];
          tt[to] = t[from];
          mt[to] = m[static_cast<std::size_t>(a * c + ch)];
        }
      }
    }
  }
  struct Way {
    std::optional<int> by, by_last; // the breakdown in [N, C, H, W] and in [N, H, W, C]
  };
  for (const Way& way : {Way{{}, {}}, Way{2, 1}, Way{-1, 2}}) {
    for (bool masked : {false, true}) {
      RegressionSpec moved;
      moved.metrics = all_metrics();
      moved.channel_axis = 1;
      moved.by_axis = way.by;
      RegressionSpec last = moved;
      last.channel_axis = -1;
      last.by_axis = way.by_last;
      Evaluator a(moved, Device::cpu(2)), b(last, Device::cpu(2));
      a.update(TensorView::contiguous(p.data(), DType::f32, {n, c, h, w}),
               TensorView::contiguous(t.data(), DType::f32, {n, c, h, w}),
               masked ? TensorView::contiguous(m.data(), DType::u8, {n, c}) : TensorView{});
      b.update(TensorView::contiguous(pt.data(), DType::f32, {n, h, w, c}),
               TensorView::contiguous(tt.data(), DType::f32, {n, h, w, c}),
               masked ? TensorView::contiguous(mt.data(), DType::u8, {n, h, w, c}) : TensorView{});
      const Report ra = a.compute(), rb = b.compute();
      const std::string what = std::string(masked ? "masked" : "unmasked") + ", by_axis " +
                               (way.by ? std::to_string(*way.by) : "none");
      EXPECT_EQ(ra.channels, c) << what;
      EXPECT_EQ(ra.per_channel, rb.per_channel) << what;
      EXPECT_EQ(ra.flat, rb.flat) << what;
      const auto same = [](const std::vector<std::vector<double>>& x,
                           const std::vector<std::vector<double>>& y) { // NaN equals NaN
        return x.size() == y.size() &&
               std::equal(x.begin(), x.end(), y.begin(), [](const auto& u, const auto& v) {
                 return u.size() == v.size() &&
                        std::memcmp(u.data(), v.data(), u.size() * sizeof(double)) == 0;
               });
      };
      EXPECT_TRUE(same(ra.by_axis, rb.by_axis)) << what;
      EXPECT_EQ(ra.by_axis_index, way.by ? (*way.by < 0 ? *way.by + 4 : *way.by) : -1) << what;
      // A state of the moved evaluator is the channel-last one's: it merges both ways.
      Evaluator fresh(moved, Device::cpu(1));
      fresh.merge(b.state());
      EXPECT_EQ(fresh.compute().flat, ra.flat) << what;
    }
  }
  RegressionSpec bad;
  bad.channel_axis = 1;
  bad.by_axis = 1;
  EXPECT_NE(test::error_of<InvalidArgument>([&] {
              Evaluator(bad, Device::cpu(1))
                  .update(TensorView::contiguous(p.data(), DType::f32, {n, c, h, w}),
                          TensorView::contiguous(t.data(), DType::f32, {n, c, h, w}));
            }).find("is the channel axis"),
            std::string::npos);
  RegressionSpec outside;
  outside.channel_axis = 4;
  EXPECT_NE(test::error_of<InvalidArgument>([&] {
              Evaluator(outside, Device::cpu(1))
                  .update(TensorView::contiguous(p.data(), DType::f32, {n, c, h, w}),
                          TensorView::contiguous(t.data(), DType::f32, {n, c, h, w}));
            }).find("channel_axis 4 is not a sample axis of a rank-4 batch"),
            std::string::npos);
}

// ---- state ------------------------------------------------------------------------------------

TEST(Evaluator, StateRoundTripAndMerge) {
  RegressionSpec spec;
  spec.metrics = all_metrics();
  const auto p = test::noise(400 * 24, 2, 7), t = test::noise(400 * 24, 2, 8);
  const auto view = [&](const std::vector<float>& v, std::int64_t row0, std::int64_t rows) {
    return TensorView::contiguous(v.data() + row0 * 24, DType::f32, {rows, 8, 3});
  };
  Evaluator whole(spec, Device::cpu(2)), a(spec, Device::cpu(1)), b(spec, Device::cpu(2));
  whole.update(view(p, 0, 400), view(t, 0, 400));
  a.update(view(p, 0, 150), view(t, 0, 150));
  b.update(view(p, 150, 250), view(t, 150, 250));
  a.merge(b.state());
  const Report ra = a.compute(), rw = whole.compute();
  EXPECT_EQ(ra.count, rw.count);
  for (std::size_t i = 0; i < rw.headline.size(); ++i) {
    EXPECT_TRUE(test::within_accuracy(ra.headline[i], rw.headline[i], 1.0))
        << metric_name(rw.spec.metrics[i]);
  }
  // A fresh evaluator merging a state reproduces it bitwise (combine with empty is exact).
  Evaluator fresh(spec, Device::cpu(2));
  fresh.merge(whole.state());
  EXPECT_EQ(fresh.compute().to_json(), rw.to_json());
  EXPECT_EQ(fresh.state().bytes.size(), whole.state().bytes.size());
}

// nan_policy=error across a merge: an evaluator with no non-finite pair of its own takes the
// merged state's (its batch numbers as that evaluator counted them); one with its own keeps it.
TEST(Evaluator, MergeKeepsTheFirstNonFinitePairOfEitherSide) {
  RegressionSpec spec;
  spec.nan_policy = NanPolicy::error;
  std::vector<double> p(40, 1.0), t(40, 2.0), bad = p;
  bad[7] = NAN;
  const auto view = [](const std::vector<double>& v) {
    return TensorView::contiguous(v.data(), DType::f64, {10, 4});
  };
  using Where = std::pair<std::uint64_t, std::uint64_t>;
  const auto first_bad = [](Evaluator& ev) -> Where {
    try {
      (void)ev.compute();
    } catch (const NonFiniteError& e) {
      return {e.batch, e.element};
    }
    return {~std::uint64_t{0}, ~std::uint64_t{0}};
  };
  Evaluator theirs(spec, Device::cpu(1)), clean(spec, Device::cpu(1)), own(spec, Device::cpu(1));
  theirs.update(view(p), view(t));
  theirs.update(view(bad), view(t)); // batch 1, element 7
  clean.update(view(p), view(t));
  clean.merge(theirs.state());
  EXPECT_EQ(first_bad(clean), Where(1, 7));
  std::vector<double> own_bad = p;
  own_bad[3] = INFINITY;
  own.update(view(own_bad), view(t)); // batch 0, element 3
  own.merge(theirs.state());
  EXPECT_EQ(first_bad(own), Where(0, 3));
}

} // namespace
} // namespace gpueval
