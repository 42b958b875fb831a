// The classification family's finalize formulas (host/classification/metrics.cpp) on their own:
// per-class scores from tp/fp/fn/tn, Cohen's kappa of every weighting and Matthews' correlation
// from a confusion matrix, against hand-computed and scikit-learn values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "classification/internal.hpp"

namespace gpueval::classification {
namespace {

TEST(ClassificationMetrics, PerClassScoresFromCounts) {
  const double tp = 3, fp = 1, fn = 2, tn = 4, beta2 = 4, zd = 0;
  EXPECT_DOUBLE_EQ(precision_of(tp, fp, fn, tn, beta2, zd), 0.75);
  EXPECT_DOUBLE_EQ(recall_of(tp, fp, fn, tn, beta2, zd), 0.6);
  EXPECT_DOUBLE_EQ(f1_of(tp, fp, fn, tn, beta2, zd), 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(fbeta_of(tp, fp, fn, tn, beta2, zd), 15.0 / 24.0); // (1+b2) tp / (.. + fp)
  EXPECT_DOUBLE_EQ(specificity_of(tp, fp, fn, tn, beta2, zd), 0.8);
  EXPECT_DOUBLE_EQ(jaccard_of(tp, fp, fn, tn, beta2, zd), 0.5);
  // A zero denominator gives zero_division: 0 (scikit-learn's default), 1 or NaN.
  for (double z : {0.0, 1.0}) {
    EXPECT_EQ(precision_of(0, 0, 5, 1, 1, z), z);
    EXPECT_EQ(recall_of(0, 3, 0, 1, 1, z), z);
    EXPECT_EQ(specificity_of(2, 0, 1, 0, 1, z), z);
    EXPECT_EQ(f1_of(0, 0, 0, 4, 1, z), z);
    EXPECT_EQ(jaccard_of(0, 0, 0, 4, 1, z), z);
  }
  EXPECT_TRUE(std::isnan(fbeta_of(0, 0, 0, 4, 4, std::nan(""))));
  // A defined ratio ignores it: f1 with tp = 0 but fp > 0 is 0 whatever zero_division says.
  EXPECT_EQ(f1_of(0, 2, 0, 1, 1, 1.0), 0.0);
  // The table maps each per-class metric to its formula.
  EXPECT_EQ(per_class_fn(ClassMetric::precision), &precision_of);
  EXPECT_EQ(per_class_fn(ClassMetric::recall), &recall_of);
  EXPECT_EQ(per_class_fn(ClassMetric::f1), &f1_of);
  EXPECT_EQ(per_class_fn(ClassMetric::fbeta), &fbeta_of);
  EXPECT_EQ(per_class_fn(ClassMetric::specificity), &specificity_of);
  EXPECT_EQ(per_class_fn(ClassMetric::jaccard), &jaccard_of);
}

// sklearn.metrics.cohen_kappa_score / matthews_corrcoef of the pairs this matrix counts.
TEST(ClassificationMetrics, KappaAndMccAgreeWithScikitLearn) {
  const std::vector<std::uint64_t> m = {7, 2, 1, 1, 5, 3, 0, 2, 9};
  EXPECT_NEAR(kappa(m, 3, 0), 0.5469798657718121, 1e-15);
  EXPECT_NEAR(kappa(m, 3, 1), 0.6314496314496314, 1e-15);
  EXPECT_NEAR(kappa(m, 3, 2), 0.712, 1e-15);
  EXPECT_NEAR(mcc_of(m, 3), 0.5507039608229881, 1e-15);
  // Two classes: kappa = 1 - n * off-diagonal / sum of row x column products off the diagonal.
  const std::vector<std::uint64_t> two = {10, 2, 3, 5};
  EXPECT_NEAR(kappa(two, 2, 0), 1.0 - 20.0 * 5.0 / 188.0, 1e-15);
}

TEST(ClassificationMetrics, DegenerateMatrices) {
  // Every sample one class, predicted right: kappa's expected disagreement is 0 (undefined),
  // MCC's variances are 0 (scikit-learn returns 0).
  const std::vector<std::uint64_t> one = {6, 0, 0, 0};
  EXPECT_TRUE(std::isnan(kappa(one, 2, 0)));
  EXPECT_EQ(mcc_of(one, 2), 0.0);
  // Perfect and inverted predictions of two balanced classes.
  EXPECT_DOUBLE_EQ(mcc_of({4, 0, 0, 4}, 2), 1.0);
  EXPECT_DOUBLE_EQ(mcc_of({0, 4, 4, 0}, 2), -1.0);
  EXPECT_DOUBLE_EQ(kappa({4, 0, 0, 4}, 2, 0), 1.0);
}

TEST(ClassificationMetrics, WeightedMatricesGiveTheCountsFormulas) {
  // Whole weight sums are counts: the long-double formulas agree with the exact integer ones.
  const std::vector<std::uint64_t> m = {5, 1, 0, 2, 7, 3, 1, 0, 9};
  const std::vector<double> md(m.begin(), m.end());
  for (int power : {0, 1, 2}) {
    EXPECT_NEAR(kappa_weighted(md, 3, power), kappa(m, 3, power), 1e-15) << power;
  }
  EXPECT_NEAR(mcc_weighted(md, 3), mcc_of(m, 3), 1e-15);
  // Scaling every weight changes nothing.
  std::vector<double> scaled = md;
  for (double& v : scaled) {
    v *= 0.37;
  }
  EXPECT_NEAR(kappa_weighted(scaled, 3, 2), kappa(m, 3, 2), 1e-14);
  EXPECT_NEAR(mcc_weighted(scaled, 3), mcc_of(m, 3), 1e-14);
}

TEST(ClassificationMetrics, WeightSumsAreFixedPointAndCarry) {
  // A weight's whole part in hi, its fraction times 2^64 in lo: whole weights exactly.
  const ops::Weight three = ops::weight_of(3.0), quarter = ops::weight_of(2.25);
  EXPECT_EQ(three.hi, 3u);
  EXPECT_EQ(three.lo, 0u);
  EXPECT_EQ(quarter.hi, 2u);
  EXPECT_EQ(quarter.lo, std::uint64_t{1} << 62);
  EXPECT_EQ(ops::unit_weight().hi, 1u);
  EXPECT_FALSE(ops::class_weight_ok(-0.5));
  EXPECT_FALSE(ops::class_weight_ok(ops::kMaxWeight));
  EXPECT_FALSE(ops::class_weight_ok(std::nan("")));
  EXPECT_TRUE(ops::class_weight_ok(0.0));
  // A weight the fixed point would keep to fewer than 40 bits is refused (1e-38 would count 0).
  EXPECT_TRUE(ops::class_weight_ok(ops::kMinWeight));
  EXPECT_FALSE(ops::class_weight_ok(ops::kMinWeight / 2));
  EXPECT_FALSE(ops::class_weight_ok(1.17549435e-38));
  // Histogram weight sums (lo at 2 bin, hi at 2 bin + 1) add with their carry, either order.
  const std::uint64_t big = ~std::uint64_t{0} - 5;
  const Sparse a = {{0, big}, {1, 2}, {6, 7}};
  const Sparse b = {{0, 10}, {3, 1}, {7, 4}};
  const Sparse want = {{0, 4}, {1, 3}, {3, 1}, {6, 7}, {7, 4}};
  EXPECT_EQ(add_weight_sums(a, b), want);
  EXPECT_EQ(add_weight_sums(b, a), want);
  // Counts widened: each count the hi word of its bin's weight sum; values read back alike.
  const Sparse counts = {{2, 5}, {9, 1}};
  const Sparse wide = widen_histogram(counts);
  EXPECT_EQ(wide, (Sparse{{5, 5}, {19, 1}}));
  ops::HistLayout hl; // one binary class, two histograms of 2^3 bins
  hl.on = true;
  hl.bits = 3;
  hl.classes = 1;
  const auto same = [](const std::vector<BinCounts>& x, const std::vector<BinCounts>& y) {
    ASSERT_EQ(x.size(), y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].bin, y[i].bin);
      EXPECT_EQ(x[i].neg, y[i].neg);
      EXPECT_EQ(x[i].pos, y[i].pos);
    }
  };
  same(class_bins(Histograms{wide, true}, hl, 0), class_bins(Histograms{counts, false}, hl, 0));
  const Sparse half = {{0, std::uint64_t{1} << 63}, {1, 2}, {17, 1}}; // bin 0: 2.5; bin 8: 1
  const std::vector<BinCounts> v = class_bins(Histograms{half, true}, hl, 0);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].bin, 0u);
  EXPECT_EQ(v[0].neg, 2.5);
  EXPECT_EQ(v[0].pos, 1.0);
}

TEST(ClassificationMetrics, AveragePrecisionBoundHoldsForAnyOrderInsideABin) {
  // One bin of 3 positives and 4 negatives under 2 positives above: the bin's true AP terms
  // lie within the bound whichever order they came in.
  const std::vector<BinCounts> bins = {{0, 4, 3}, {1, 0, 2}};
  const RankMetrics r = rank_metrics(bins, false);
  const double P = 5;
  double lo = 1e300, hi = -1e300;
  for (int order = 0; order < (1 << 7); ++order) {
    if (__builtin_popcount(static_cast<unsigned>(order)) != 3) {
      continue;
    }
    double tp = 2, fp = 0, ap = 2.0 / P; // the top bin's two positives at precision 1
    for (int k = 0; k < 7; ++k) {
      if (order & (1 << k)) {
        tp += 1;
        ap += (tp / (tp + fp)) / P;
      } else {
        fp += 1;
      }
    }
    lo = std::min(lo, ap);
    hi = std::max(hi, ap);
  }
  EXPECT_LE(r.ap - r.ap_bound, lo + 1e-15);
  EXPECT_GE(r.ap + r.ap_bound, hi - 1e-15);
}

} // namespace
} // namespace gpueval::classification
