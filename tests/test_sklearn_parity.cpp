// Parity with scikit-learn and scipy on fixtures written by scripts/gen-sklearn-fixtures.
// Inputs are float64 (upcast from float32/float16); degenerate cases are pinned in
// test_ops_regression.cpp against docs/design.md's degenerate values instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gpueval/ops/quantile_sketch.hpp"
#include "regression/aggregate.hpp"

namespace gpueval {
namespace {

struct Fixture {
  int rows = 0, channels = 0;
  std::vector<double> pred, target;
  // (metric, mode) -> values
  std::map<std::pair<std::string, std::string>, std::vector<double>> expect;
};

Fixture load(const std::string& name) {
  // GPUEVAL_FIXTURE_DIR in the environment wins: a test bundle runs from another checkout.
  const char* env = std::getenv("GPUEVAL_FIXTURE_DIR");
  const std::string dir = env != nullptr ? env : GPUEVAL_FIXTURE_DIR;
  const std::string path = dir + "/sklearn/" + name + ".txt";
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open fixture " + path);
  }
  Fixture f;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream s(line);
    std::string key;
    s >> key;
    auto read_values = [&](std::vector<double>& out) {
      std::string tok;
      while (s >> tok) {
        out.push_back(std::stod(tok)); // repr() output; nan/inf spelled as strtod reads them
      }
    };
    if (key == "rows") {
      s >> f.rows;
    } else if (key == "channels") {
      s >> f.channels;
    } else if (key == "pred") {
      read_values(f.pred);
    } else if (key == "target") {
      read_values(f.target);
    } else if (key == "expect") {
      std::string metric, mode;
      s >> metric >> mode;
      read_values(f.expect[{metric, mode}]);
    }
  }
  return f;
}

class SklearnParity : public ::testing::TestWithParam<const char*> {};

TEST_P(SklearnParity, MatchesScikitLearnAndScipy) {
  const Fixture f = load(GetParam());
  ASSERT_EQ(f.pred.size(), static_cast<std::size_t>(f.rows * f.channels));
  ASSERT_EQ(f.target.size(), f.pred.size());
  RegressionSpec spec;
  spec.metrics = all_metrics();
  const KeyLayout layout = KeyLayout::from(spec, {f.channels});
  std::vector<detail::FullRecord> records(static_cast<std::size_t>(f.channels));
  for (int r = 0; r < f.rows; ++r) {
    for (int c = 0; c < f.channels; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * f.channels + c);
      detail::FullOps::reduce(records[static_cast<std::size_t>(c)], f.pred[i], f.target[i]);
    }
  }
  // The quantile sketch, as a backend counts it.
  const int bits = spec.quantile_bits();
  const std::int64_t buckets = ops::sketch::buckets(bits);
  std::vector<std::uint64_t> sketch(static_cast<std::size_t>(f.channels * buckets), 0);
  for (std::size_t i = 0; i < f.pred.size(); ++i) {
    const auto c = static_cast<std::int64_t>(i % static_cast<std::size_t>(f.channels));
    ++sketch[static_cast<std::size_t>(c * buckets +
                                      ops::sketch::bucket(f.pred[i] - f.target[i], bits))];
  }
  const Report report = detail::build_report(spec, layout, records, sketch);

  // scikit-learn's float64 formulas are themselves accurate to ~1e-14 on these inputs; the
  // quantiles come from the sketch, within its relative accuracy.
  std::string metric_now;
  const auto close = [&](double got, double want, double scale) {
    const double tol = metric_now == "median_absolute_error" ? report.quantile_accuracy : 1e-9;
    return std::fabs(got - want) <= tol * std::max(std::fabs(want), scale);
  };
  int checked = 0;
  for (const auto& [key, values] : f.expect) {
    const auto& [metric, mode] = key;
    metric_now = metric;
    const double scale =
        (metric == "r2" || metric == "explained_variance" || metric == "pearson") ? 1.0 : 0.0;
    if (mode == "raw_values") {
      const std::vector<double>& got = report.per_channel_values(metric);
      ASSERT_EQ(got.size(), values.size()) << metric;
      for (std::size_t c = 0; c < values.size(); ++c) {
        EXPECT_TRUE(close(got[c], values[c], scale))
            << metric << " channel " << c << ": got " << got[c] << " want " << values[c];
      }
    } else if (mode == "uniform_average" || mode == "overall") {
      EXPECT_TRUE(close(report.value(metric), values[0], scale))
          << metric << " " << mode << ": got " << report.value(metric) << " want " << values[0];
    } else if (mode == "variance_weighted") {
      const double got = metric == "r2" ? report.variance_weighted_r2
                                        : report.variance_weighted_explained_variance;
      EXPECT_TRUE(close(got, values[0], scale))
          << metric << " variance_weighted: got " << got << " want " << values[0];
    } else {
      FAIL() << "unknown mode " << mode;
    }
    ++checked;
  }
  EXPECT_GE(checked, 17);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SklearnParity,
                         ::testing::Values("normal", "offset_1e4", "positive", "single_output",
                                           "float16", "mixed_scales"));

} // namespace
} // namespace gpueval
