// The classification family's finalize formulas (host/classification/metrics.cpp) on their own:
// per-class scores from tp/fp/fn/tn, Cohen's kappa of every weighting and Matthews' correlation
// from a confusion matrix, against hand-computed and scikit-learn values.
#include <gtest/gtest.h>

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

} // namespace
} // namespace gpueval::classification
