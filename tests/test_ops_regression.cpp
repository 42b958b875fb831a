// Record-level tests of ops/regression.hpp against the long-double two-pass reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gpueval/dtype.hpp"
#include "gpueval/ops/regression.hpp"
#include "gpueval/regression.hpp"
#include "reference.hpp"

namespace gpueval {
namespace {

using test::Pair;
using All = ops::RegressionOps<kAllGroups>;
using Record = All::Record;

// Folds pairs as runs of `run_length` (the hot-loop path), merging each run into the total.
template <unsigned G>
ops::RegressionRecord<G> fold_runs(const Pair* data, std::size_t n, int run_length) {
  using Ops = ops::RegressionOps<G>;
  typename Ops::Record acc{};
  for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(run_length)) {
    typename Ops::RunSums run;
    Ops::run_begin(run, data[i].first, data[i].second);
    const std::size_t end = std::min(n, i + static_cast<std::size_t>(run_length));
    for (std::size_t j = i + 1; j < end; ++j) {
      Ops::run_add(run, data[j].first, data[j].second);
    }
    acc = Ops::combine(acc, Ops::run_to_record(run));
  }
  return acc;
}

// Splits the data at random points, folds each piece with a random run length (or pair by pair),
// then merges the pieces in a random tree: any split and any tree must agree with the reference.
Record fold_random(const std::vector<Pair>& data, std::mt19937_64& rng) {
  std::vector<Record> parts;
  std::size_t i = 0;
  std::uniform_int_distribution<std::size_t> piece(0, std::max<std::size_t>(2, data.size() / 4));
  std::uniform_int_distribution<int> run_len(1, ops::kMaxRunLength);
  while (i < data.size()) {
    const std::size_t len = std::min(data.size() - i, piece(rng));
    if (rng() % 5 == 0) {
      Record r{};
      for (std::size_t j = i; j < i + len; ++j) {
        All::reduce(r, data[j].first, data[j].second);
      }
      parts.push_back(r);
    } else {
      parts.push_back(fold_runs<kAllGroups>(data.data() + i, len, run_len(rng)));
    }
    if (rng() % 7 == 0) {
      parts.push_back(Record{}); // empty partials anywhere in the tree
    }
    i += len;
  }
  if (parts.empty()) {
    return Record{};
  }
  while (parts.size() > 1) {
    std::uniform_int_distribution<std::size_t> pick(0, parts.size() - 1);
    const std::size_t a = pick(rng);
    std::size_t b = pick(rng);
    while (b == a) {
      b = pick(rng);
    }
    const Record merged =
        rng() % 2 ? All::combine(parts[a], parts[b]) : All::combine(parts[b], parts[a]);
    parts[std::min(a, b)] = merged;
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(std::max(a, b)));
  }
  return parts[0];
}

void expect_matches_reference(const Record& r, const std::vector<Pair>& data,
                              const std::string& what) {
  const test::ReferenceValues ref = test::reference_metrics(data);
  const ops::MetricValues got = All::finalize(r);
  EXPECT_EQ(r.n, data.size()) << what;
  for (const MetricInfo& info : metric_table()) {
    const Metric m = info.metric;
    if (test::is_quantile_metric(m)) {
      continue; // from the sketch, not the record (test_sketch.cpp)
    }
    EXPECT_TRUE(test::within_accuracy(got[m], ref[m], test::accuracy_scale(m, ref)))
        << what << ": " << info.name << " got " << got[m] << " want " << ref[m] << " (rel "
        << std::fabs(got[m] - ref[m]) / std::max(std::fabs(ref[m]), 1e-300) << ")";
  }
}

struct Scenario {
  const char* name;
  double offset; // |mean| of the targets, in units of their spread
  double scale;  // spread of the targets
  double noise;  // prediction error spread, relative to scale
  double bias;   // prediction offset, relative to scale
};

std::vector<Pair> make_data(const Scenario& s, std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> z;
  std::vector<Pair> out(n);
  for (auto& [p, t] : out) {
    t = s.scale * (s.offset + z(rng));
    p = t + s.scale * (s.bias + s.noise * z(rng));
  }
  return out;
}

const Scenario kScenarios[] = {
    {"standard", 0.0, 1.0, 0.3, 0.05},
    {"offset_1e4", 1e4, 1.0, 0.3, 0.01},
    {"offset_1e6", 1e6, 1.0, 0.3, 0.01},
    {"offset_neg_1e6_good_model", -1e6, 1.0, 1e-3, 0.0},
    {"scale_1e-6", 3.0, 1e-6, 0.5, 0.1},
    {"scale_1e6", 3.0, 1e6, 0.5, 0.1},
    {"offset_1e6_scale_1e-6", 1e6, 1e-6, 0.2, 0.0},
    {"perfect", 2.0, 1.0, 0.0, 0.0},
};

TEST(RegressionOps, RandomSplitsAndTreesMatchReference) {
  for (const Scenario& s : kScenarios) {
    for (int seed = 0; seed < 100; ++seed) {
      std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 7919u + 17u);
      const std::size_t n = 1 + rng() % 3000;
      const std::vector<Pair> data = make_data(s, n, rng);
      expect_matches_reference(fold_random(data, rng), data,
                               std::string(s.name) + " seed " + std::to_string(seed));
      if (HasFailure()) {
        return;
      }
    }
  }
}

TEST(RegressionOps, LongStreamAtLargeOffsetMatchesReference) {
  // A million pairs folded serially in runs of 64, the shape of a CPU chunk, at |mean|/std = 1e6.
  std::mt19937_64 rng(42);
  const std::vector<Pair> data = make_data({"long", 1e6, 1.0, 0.3, 0.0}, 1'000'000, rng);
  expect_matches_reference(fold_runs<kAllGroups>(data.data(), data.size(), 64), data, "long");
}

TEST(RegressionOps, RunLengthBoundaries) {
  std::mt19937_64 rng(3);
  const std::vector<Pair> data = make_data({"b", 1e4, 2.0, 0.3, 0.1}, 1000, rng);
  for (int len : {1, 2, 3, 31, 63, 64}) {
    expect_matches_reference(fold_runs<kAllGroups>(data.data(), data.size(), len), data,
                             "run length " + std::to_string(len));
  }
}

// Inputs that are float16 / bfloat16 values: exact conversions, same accuracy rule.
TEST(RegressionOps, HalfPrecisionInputs) {
  for (bool bf16 : {false, true}) {
    std::mt19937_64 rng(bf16 ? 11 : 12);
    std::vector<Pair> data = make_data({"h", 20.0, 1.0, 0.2, 0.0}, 5000, rng);
    for (auto& [p, t] : data) {
      const auto f = [&](double x) {
        const float v = static_cast<float>(x);
        return bf16 ? static_cast<double>(bf16_bits_to_float(float_to_bf16_bits(v)))
                    : static_cast<double>(half_bits_to_float(float_to_half_bits(v)));
      };
      p = f(p);
      t = f(t);
    }
    expect_matches_reference(fold_runs<kAllGroups>(data.data(), data.size(), 64), data,
                             bf16 ? "bfloat16" : "float16");
  }
}

TEST(RegressionOps, NearConstantTargets) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> z;
  std::vector<Pair> data(2000);
  for (auto& [p, t] : data) {
    t = 1234.5 + 1e-9 * z(rng);
    p = 1234.5 + 1e-7 * z(rng);
  }
  for (int seed = 0; seed < 10; ++seed) {
    std::mt19937_64 split(static_cast<std::uint64_t>(seed));
    expect_matches_reference(fold_random(data, split), data, "near constant");
  }
}

TEST(RegressionOps, CountsPastTwoToThe33) {
  Record a{};
  a.n = (std::uint64_t{1} << 33) + 1;
  a.w = static_cast<double>(a.n); // unweighted: the weights' sum is the count
  a.ref_p = 3.0;
  a.ref_t = 1.0;
  a.ref_e = 2.0;
  a.m2_t = 4.0 * static_cast<double>(a.n);
  Record b{};
  b.n = (std::uint64_t{1} << 34) + 3;
  b.w = static_cast<double>(b.n);
  b.ref_p = 6.0;
  b.ref_t = 1.0;
  b.ref_e = 5.0;
  b.m2_t = 4.0 * static_cast<double>(b.n);
  const Record c = All::combine(a, b);
  EXPECT_EQ(c.n, a.n + b.n); // exact in the integer count
  const long double na = a.n, nb = b.n, n = na + nb;
  const long double mean_p = (na * 3.0L + nb * 6.0L) / n;
  EXPECT_NEAR(c.mean_p(), static_cast<double>(mean_p), 4e-16 * 6.0);
  EXPECT_EQ(c.mean_t(), 1.0);
  const long double m2_p = na * nb / n * 9.0L;
  EXPECT_NEAR(c.m2_p, static_cast<double>(m2_p), 1e-15 * static_cast<double>(m2_p));
  EXPECT_NEAR(c.m2_t, 4.0 * static_cast<double>(n), 1e-15 * 4.0 * static_cast<double>(n));
  // Sixteen doublings past 2^40 stay exact in count and mean.
  Record big = c;
  for (int i = 0; i < 16; ++i) {
    big = All::combine(big, big);
  }
  EXPECT_EQ(big.n, c.n << 16);
  EXPECT_EQ(big.mean_p(), c.mean_p());
}

TEST(RegressionOps, EmptySideIsExactIdentity) {
  std::mt19937_64 rng(9);
  const std::vector<Pair> data = make_data(kScenarios[1], 100, rng);
  Record r = fold_runs<kAllGroups>(data.data(), data.size(), 17);
  r.skipped_nonfinite = 3;
  Record empty{};
  empty.skipped_nonfinite = 2;
  for (const Record& c : {All::combine(r, empty), All::combine(empty, r)}) {
    EXPECT_EQ(c.n, r.n);
    EXPECT_EQ(c.dmean_p, r.dmean_p);
    EXPECT_EQ(c.ref_t, r.ref_t);
    EXPECT_EQ(c.m2_e, r.m2_e);
    EXPECT_EQ(c.c_pt, r.c_pt);
    EXPECT_EQ(c.min_t, r.min_t);
    EXPECT_EQ(c.skipped_nonfinite, 5u);
  }
}

TEST(RegressionOps, GroupSubsetsAgreeWithFullRecord) {
  std::mt19937_64 rng(21);
  std::vector<Pair> data = make_data({"pos", 5.0, 1.0, 0.2, 0.0}, 700, rng);
  const ops::MetricValues full = All::finalize(fold_runs<kAllGroups>(data.data(), data.size(), 64));
  const auto core = fold_runs<kGroupCore>(data.data(), data.size(), 64);
  const ops::MetricValues core_values = ops::RegressionOps<kGroupCore>::finalize(core);
  const ops::MetricValues widened = All::finalize(ops::widen<kAllGroups>(core));
  for (const MetricInfo& info : metric_table()) {
    if (info.groups == kGroupCore) {
      EXPECT_EQ(core_values[info.metric], full[info.metric]) << info.name;
      EXPECT_EQ(widened[info.metric], full[info.metric]) << info.name;
    } else {
      EXPECT_TRUE(std::isnan(core_values[info.metric])) << info.name;
    }
  }
  static_assert(sizeof(ops::RegressionRecord<kGroupCore>) < sizeof(Record),
                "a core-only record must not carry the optional groups");
}

// ---- degenerate values (docs/design.md, "Metrics (regression)") ------------------------------

ops::MetricValues finalize_pairs(const std::vector<Pair>& data) {
  return All::finalize(fold_runs<kAllGroups>(data.data(), data.size(), 64));
}

TEST(RegressionOps, EmptyRecordIsNaNEverywhere) {
  const ops::MetricValues v = All::finalize(Record{});
  for (double x : v.v) {
    EXPECT_TRUE(std::isnan(x));
  }
}

TEST(RegressionOps, OneElement) {
  const ops::MetricValues v = finalize_pairs({{3.0, 2.0}});
  EXPECT_EQ(v[Metric::mse], 1.0);
  EXPECT_EQ(v[Metric::mae], 1.0);
  EXPECT_EQ(v[Metric::bias], 1.0);
  EXPECT_EQ(v[Metric::max_error], 1.0);
  EXPECT_EQ(v[Metric::r2], 0.0);                 // constant target, imperfect prediction
  EXPECT_EQ(v[Metric::explained_variance], 1.0); // error variance is zero too
  EXPECT_TRUE(std::isnan(v[Metric::pearson]));
  EXPECT_EQ(v[Metric::ccc], 0.0); // 2 * 0 / (0 + 0 + 1)
  EXPECT_EQ(v[Metric::cosine], 1.0);
  EXPECT_TRUE(std::isnan(v[Metric::rse]));
  EXPECT_EQ(v[Metric::nrmse], 0.5);
  EXPECT_TRUE(std::isnan(v[Metric::nrmse_range]));
  EXPECT_EQ(v[Metric::mape], 0.5);
  EXPECT_EQ(v[Metric::smape], 0.4);
  EXPECT_NEAR(v[Metric::msle], std::pow(std::log1p(3.0) - std::log1p(2.0), 2), 1e-15);

  const ops::MetricValues exact = finalize_pairs({{2.0, 2.0}});
  EXPECT_EQ(exact[Metric::r2], 1.0);
  EXPECT_TRUE(std::isnan(exact[Metric::ccc])); // denominator 0
}

TEST(RegressionOps, ConstantTargetDegenerateValues) {
  // Constant target predicted with a constant offset: sse > 0, m2_e = 0.
  const ops::MetricValues shifted = finalize_pairs({{6, 5}, {6, 5}, {6, 5}});
  EXPECT_EQ(shifted[Metric::r2], 0.0);
  EXPECT_EQ(shifted[Metric::explained_variance], 1.0);
  EXPECT_TRUE(std::isnan(shifted[Metric::rse]));
  EXPECT_TRUE(std::isnan(shifted[Metric::pearson]));
  EXPECT_TRUE(std::isnan(shifted[Metric::nrmse_range]));
  // Constant target, varying prediction: both scores 0.
  const ops::MetricValues varying = finalize_pairs({{4, 5}, {6, 5}, {5, 5}});
  EXPECT_EQ(varying[Metric::r2], 0.0);
  EXPECT_EQ(varying[Metric::explained_variance], 0.0);
  // Constant target predicted exactly.
  const ops::MetricValues exact = finalize_pairs({{5, 5}, {5, 5}});
  EXPECT_EQ(exact[Metric::r2], 1.0);
  EXPECT_EQ(exact[Metric::explained_variance], 1.0);
  EXPECT_TRUE(std::isnan(exact[Metric::ccc]));
}

TEST(RegressionOps, ZeroNormsAndZeroMeans) {
  const ops::MetricValues zero_pred = finalize_pairs({{0, 1}, {0, -1}});
  EXPECT_TRUE(std::isnan(zero_pred[Metric::cosine]));  // zero norm
  EXPECT_TRUE(std::isnan(zero_pred[Metric::pearson])); // zero variance
  EXPECT_TRUE(std::isnan(zero_pred[Metric::nrmse]));   // mean_t = 0
  EXPECT_EQ(zero_pred[Metric::ccc], 0.0);
  EXPECT_EQ(zero_pred[Metric::mape], 1.0);
  EXPECT_EQ(zero_pred[Metric::smape], 2.0);
  EXPECT_TRUE(std::isnan(zero_pred[Metric::msle])); // t < 0
}

TEST(RegressionOps, PercentageErrorsAtZero) {
  const ops::MetricValues v = finalize_pairs({{0, 0}, {1e-3, 0}});
  EXPECT_EQ(v[Metric::smape], 1.0); // (0 + 2) / 2: both-zero pairs contribute 0
  EXPECT_EQ(v[Metric::mape], 1e-3 / ops::kEps64 / 2);
}

TEST(RegressionOps, MsleOutOfDomainIsNaNAndCounted) {
  const std::vector<Pair> data = {{1, 2}, {-0.5, 1}, {2, -1}, {0, 0}};
  const Record r = fold_runs<kAllGroups>(data.data(), data.size(), 64);
  EXPECT_EQ(r.n_sle_out_of_domain, 2u);
  EXPECT_TRUE(std::isnan(All::finalize(r)[Metric::msle]));
  EXPECT_FALSE(std::isnan(All::finalize(r)[Metric::mse]));
}

TEST(RegressionOps, NaNPropagatesThroughEveryStatistic) {
  const double nan = std::nan("");
  for (const std::vector<Pair>& data :
       {std::vector<Pair>{{1, 2}, {nan, 1}, {3, 3}}, std::vector<Pair>{{nan, 1}, {1, 2}}}) {
    const ops::MetricValues v = finalize_pairs(data);
    for (const MetricInfo& info : metric_table()) {
      EXPECT_TRUE(std::isnan(v[info.metric])) << info.name;
    }
  }
}

TEST(RegressionOps, CombineIsSymmetric) {
  std::mt19937_64 rng(77);
  const std::vector<Pair> a = make_data(kScenarios[0], 333, rng);
  const std::vector<Pair> b = make_data(kScenarios[2], 77, rng);
  const Record ra = fold_runs<kAllGroups>(a.data(), a.size(), 64);
  const Record rb = fold_runs<kAllGroups>(b.data(), b.size(), 64);
  const ops::MetricValues ab = All::finalize(All::combine(ra, rb));
  const ops::MetricValues ba = All::finalize(All::combine(rb, ra));
  std::vector<Pair> both = a;
  both.insert(both.end(), b.begin(), b.end());
  const test::ReferenceValues ref = test::reference_metrics(both);
  for (const MetricInfo& info : metric_table()) {
    if (test::is_quantile_metric(info.metric)) {
      continue;
    }
    EXPECT_TRUE(test::within_accuracy(ab[info.metric], ref[info.metric],
                                      test::accuracy_scale(info.metric, ref)))
        << info.name;
    EXPECT_TRUE(test::within_accuracy(ba[info.metric], ref[info.metric],
                                      test::accuracy_scale(info.metric, ref)))
        << info.name;
  }
}

} // namespace
} // namespace gpueval

namespace gpueval {
namespace {

// Excluded pairs leave a run exactly as if they were never there, including when the run's first
// pairs are excluded (the shift is the first included pair) and when the excluded values are NaN.
TEST(RegressionOps, RunFoldWithExclusionsEqualsFoldOfIncludedPairs) {
  std::mt19937_64 rng(8);
  std::vector<Pair> data = make_data(kScenarios[2], 64, rng);
  std::vector<bool> include(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    include[i] = i >= 3 && rng() % 3 != 0;
    if (!include[i] && i % 2 == 0) {
      data[i].first = std::nan("");
    }
  }
  All::RunSums masked;
  masked.skipped = 2;
  std::vector<Pair> kept;
  for (std::size_t i = 0; i < data.size(); ++i) {
    All::run_fold<true>(masked, data[i].first, data[i].second, include[i]);
    if (include[i]) {
      kept.push_back(data[i]);
    }
  }
  const Record a = All::run_to_record(masked);
  const Record b = fold_runs<kAllGroups>(kept.data(), kept.size(), 64);
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.skipped_nonfinite, 2u);
  EXPECT_EQ(a.ref_p, b.ref_p);
  EXPECT_EQ(a.dmean_t, b.dmean_t);
  EXPECT_EQ(a.m2_e, b.m2_e);
  EXPECT_EQ(a.c_pt, b.c_pt);
  EXPECT_EQ(a.max_abs_e, b.max_abs_e);
  EXPECT_EQ(a.min_t, b.min_t);
  EXPECT_EQ(a.sum_sape, b.sum_sape);
  EXPECT_EQ(a.sum_sle, b.sum_sle);

  All::RunSums none;
  none.skipped = 5;
  All::run_fold<true>(none, 1.0, 2.0, false);
  const Record empty = All::run_to_record(none);
  EXPECT_EQ(empty.n, 0u);
  EXPECT_EQ(empty.skipped_nonfinite, 5u);
}

} // namespace
} // namespace gpueval
