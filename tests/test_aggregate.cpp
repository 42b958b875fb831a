// Aggregations over keys (per channel, flat, headline, variance weighted, by breakdown index)
// and the report's JSON form.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "gpueval/error.hpp"
#include "gpueval/version.hpp"
#include "reference.hpp"
#include "regression/aggregate.hpp"

namespace gpueval {
namespace {

using detail::FullOps;
using detail::FullRecord;
using test::Pair;

// A [rows, sample...] dataset with its per-key pair lists.
struct Keyed {
  KeyLayout layout;
  std::vector<std::vector<Pair>> by_key;
  std::vector<FullRecord> records;
};

Keyed make_keyed(const RegressionSpec& spec, const std::vector<std::int64_t>& sample, int rows,
                 std::uint64_t seed) {
  Keyed k;
  k.layout = KeyLayout::from(spec, sample);
  k.by_key.resize(static_cast<std::size_t>(k.layout.keys));
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  for (int r = 0; r < rows; ++r) {
    for (std::int64_t key = 0; key < k.layout.keys; ++key) {
      const double c = static_cast<double>(k.layout.channel_of(key));
      const double t = 10.0 * c + (1.0 + c) * z(rng); // channels differ in mean and spread
      const double p = t + 0.3 * (1.0 + 0.5 * c) * z(rng);
      k.by_key[static_cast<std::size_t>(key)].push_back({p, t});
    }
  }
  for (const auto& pairs : k.by_key) {
    FullRecord rec{};
    for (const auto& [p, t] : pairs) {
      FullOps::reduce(rec, p, t);
    }
    k.records.push_back(rec);
  }
  return k;
}

// The dense quantile sketch of a keyed dataset, as a backend would count it.
std::vector<std::uint64_t> sketch_of(const RegressionSpec& spec, const Keyed& k) {
  const int bits = spec.quantile_bits();
  const std::int64_t buckets = ops::sketch::buckets(bits);
  std::vector<std::uint64_t> out(static_cast<std::size_t>(k.layout.channels * buckets), 0);
  for (std::int64_t key = 0; key < k.layout.keys; ++key) {
    for (const auto& [p, t] : k.by_key[static_cast<std::size_t>(key)]) {
      ++out[static_cast<std::size_t>(k.layout.channel_of(key) * buckets +
                                     ops::sketch::bucket(p - t, bits))];
    }
  }
  return out;
}

void expect_close(double got, double want, Metric m, const test::ReferenceValues& ref,
                  const std::string& what) {
  EXPECT_TRUE(test::within_accuracy(got, want, test::accuracy_scale(m, ref), test::tolerance(m)))
      << what << " " << metric_name(m) << ": got " << got << " want " << want;
}

TEST(Aggregate, PerChannelFlatHeadlineAndVarianceWeighted) {
  RegressionSpec spec;
  spec.metrics = all_metrics();
  const Keyed k = make_keyed(spec, {7, 5}, 60, 1);
  const Report r = detail::build_report(spec, k.layout, k.records, sketch_of(spec, k));
  EXPECT_EQ(r.quantile_bits, 7);
  EXPECT_EQ(r.quantile_accuracy, ops::sketch::alpha(7));
  ASSERT_EQ(r.channels, 5);
  std::vector<Pair> all;
  std::vector<test::ReferenceValues> refs;
  for (int c = 0; c < 5; ++c) {
    refs.push_back(test::reference_metrics(k.by_key[c]));
    all.insert(all.end(), k.by_key[c].begin(), k.by_key[c].end());
  }
  const test::ReferenceValues flat = test::reference_metrics(all);
  EXPECT_EQ(r.count, all.size());
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    const Metric m = spec.metrics[i];
    double mean = 0, max = 0;
    for (int c = 0; c < 5; ++c) {
      expect_close(r.per_channel[i][c], refs[c][m], m, refs[c], "channel " + std::to_string(c));
      mean += refs[c][m] / 5;
      max = std::max(max, refs[c][m]);
    }
    expect_close(r.flat[i], flat[m], m, flat, "flat");
    expect_close(r.headline[i], m == Metric::max_error ? max : mean, m, flat, "headline");
  }
  EXPECT_EQ(r.value("max_error"), r.flat_value("max_error"));
  // scikit-learn's variance_weighted: weights are the per-channel target variances.
  long double wsum = 0, r2 = 0, ev = 0;
  for (int c = 0; c < 5; ++c) {
    wsum += refs[c].m2_t;
    r2 += refs[c].m2_t * refs[c][Metric::r2];
    ev += refs[c].m2_t * refs[c][Metric::explained_variance];
  }
  EXPECT_NEAR(r.variance_weighted_r2, static_cast<double>(r2 / wsum), 1e-12);
  EXPECT_NEAR(r.variance_weighted_explained_variance, static_cast<double>(ev / wsum), 1e-12);
  for (int c = 0; c < 5; ++c) {
    EXPECT_EQ(r.per_channel_count[c], 60u);
  }
  EXPECT_TRUE(r.by_axis.empty());
  EXPECT_THROW(r.by_axis_values("mse"), InvalidArgument);
}

TEST(Aggregate, ByAxisIsTheHeadlineRestrictedToEachIndex) {
  RegressionSpec spec; // [batch, time=6, joint=4, xyz=3], breakdown by time
  spec.by_axis = 1;
  const Keyed k = make_keyed(spec, {6, 4, 3}, 25, 2);
  ASSERT_EQ(k.layout.keys, 72);
  const Report r = detail::build_report(spec, k.layout, k.records);
  ASSERT_EQ(r.by_axis_index, 1);
  for (int t = 0; t < 6; ++t) {
    std::vector<std::vector<Pair>> per_channel(3);
    std::vector<Pair> all;
    for (int j = 0; j < 4; ++j) {
      for (int c = 0; c < 3; ++c) {
        const auto& src = k.by_key[static_cast<std::size_t>((t * 4 + j) * 3 + c)];
        per_channel[c].insert(per_channel[c].end(), src.begin(), src.end());
        all.insert(all.end(), src.begin(), src.end());
      }
    }
    const test::ReferenceValues flat = test::reference_metrics(all);
    EXPECT_EQ(r.by_axis_count[t], all.size());
    for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
      const Metric m = spec.metrics[i];
      double want = 0;
      for (int c = 0; c < 3; ++c) {
        const double v = test::reference_metrics(per_channel[c])[m];
        want = m == Metric::max_error ? std::max(want, v) : want + v / 3;
      }
      expect_close(r.by_axis[i][t], want, m, flat, "time " + std::to_string(t));
    }
  }
}

TEST(Aggregate, VarianceWeightedFallsBackToUniformForConstantTargets) {
  RegressionSpec spec;
  spec.metrics = {Metric::r2, Metric::explained_variance};
  KeyLayout layout = KeyLayout::from(spec, {2});
  std::vector<FullRecord> recs(2);
  FullOps::reduce(recs[0], 1.0, 1.0); // perfect: r2 = 1
  FullOps::reduce(recs[0], 1.0, 1.0);
  FullOps::reduce(recs[1], 2.0, 1.0); // constant target missed: r2 = 0
  FullOps::reduce(recs[1], 2.0, 1.0);
  const Report r = detail::build_report(spec, layout, recs);
  EXPECT_EQ(r.variance_weighted_r2, 0.5);
  EXPECT_EQ(r.value("r2"), 0.5);
}

TEST(Aggregate, TreeCombineIsFixedAndMatchesSerialWithinAccuracy) {
  std::vector<FullRecord> recs(37);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> z;
  std::vector<Pair> all;
  for (auto& rec : recs) {
    for (int i = 0; i < 13; ++i) {
      const double t = 1e5 + z(rng), p = t + 0.1 * z(rng);
      FullOps::reduce(rec, p, t);
      all.push_back({p, t});
    }
  }
  const FullRecord a = detail::tree_combine(recs.data(), 37);
  const FullRecord b = detail::tree_combine(recs.data(), 37);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
  const test::ReferenceValues ref = test::reference_metrics(all);
  const ops::MetricValues v = FullOps::finalize(a);
  for (Metric m : all_metrics()) {
    if (!test::is_quantile_metric(m)) { // from the sketch, not the record
      expect_close(v[m], ref[m], m, ref, "tree");
    }
  }
}

TEST(Report, JsonFollowsTheSchemaAndRoundTrips) {
  RegressionSpec spec;
  spec.by_axis = 1;
  const Keyed k = make_keyed(spec, {3, 2}, 10, 3);
  Report r = detail::build_report(spec, k.layout, k.records);
  r.device = "cpu (2 threads)";
  r.elapsed_s = 0.25;
  r.bytes_read = 480;
  const nlohmann::json j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j["schema"], "gpueval.report/1");
  EXPECT_EQ(j["version"], std::string(kVersion));
  EXPECT_EQ(j["task"], "regression");
  EXPECT_EQ(j["device"], "cpu (2 threads)");
  EXPECT_EQ(j["spec"]["metrics"].size(), spec.metrics.size());
  EXPECT_EQ(j["spec"]["channel_axis"], -1);
  EXPECT_EQ(j["spec"]["by_axis"], 1);
  EXPECT_EQ(j["spec"]["nan_policy"], "skip");
  EXPECT_EQ(j["count"], 60);
  EXPECT_EQ(j["skipped_nonfinite"], 0);
  EXPECT_EQ(j["channels"], 2);
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    const std::string name(metric_name(spec.metrics[i]));
    // 17 significant digits: every number parses back to the same double.
    EXPECT_EQ(j["metrics"][name].get<double>(), r.headline[i]) << name;
    EXPECT_EQ(j["flat"][name].get<double>(), r.flat[i]) << name;
    EXPECT_EQ(j["per_channel"][name][1].get<double>(), r.per_channel[i][1]) << name;
    EXPECT_EQ(j["by_axis"][name][2].get<double>(), r.by_axis[i][2]) << name;
  }
  EXPECT_EQ(j["per_channel"]["count"][0], 30);
  EXPECT_EQ(j["by_axis"]["axis"], 1);
  EXPECT_EQ(j["variance_weighted"]["r2"].get<double>(), r.variance_weighted_r2);
  EXPECT_EQ(j["elapsed_s"], 0.25);
  EXPECT_EQ(j["bytes_read"], 480);
}

TEST(Report, NonFiniteValuesAreNull) {
  RegressionSpec spec;
  spec.metrics = {Metric::mse, Metric::pearson};
  spec.channel_axis.reset();
  std::vector<FullRecord> recs(1);
  FullOps::reduce(recs[0], 1.0, 1.0); // one pair: pearson is NaN
  const Report r = detail::build_report(spec, KeyLayout::from(spec, {}), recs);
  const nlohmann::json j = nlohmann::json::parse(r.to_json());
  EXPECT_TRUE(j["metrics"]["pearson"].is_null());
  EXPECT_EQ(j["metrics"]["mse"], 0.0);
  EXPECT_TRUE(j["spec"]["channel_axis"].is_null());
  EXPECT_TRUE(j["by_axis"].is_null());
  EXPECT_TRUE(j["variance_weighted"].empty());
}

TEST(Report, AccessorsNameTheProblem) {
  RegressionSpec spec;
  spec.metrics = {Metric::mse};
  std::vector<FullRecord> recs(1);
  FullOps::reduce(recs[0], 2.0, 1.0);
  spec.channel_axis.reset();
  const Report r = detail::build_report(spec, KeyLayout::from(spec, {}), recs);
  EXPECT_EQ(r.value("mse"), 1.0);
  EXPECT_TRUE(r.has("mse"));
  EXPECT_FALSE(r.has("mae"));
  try {
    (void)r.value("mae");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'mae' was not requested; this report has: mse"),
              std::string::npos)
        << e.what();
  }
  try {
    (void)r.value("nope");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown metric 'nope'"), std::string::npos);
  }
}

} // namespace
} // namespace gpueval
