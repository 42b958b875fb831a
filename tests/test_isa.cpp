// The fold kernels of every instruction set this CPU runs give bitwise the same runs, fast and
// masked, for every statistic group set: the ISA changes speed, never results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/regression_lanes.hpp"

namespace gpueval::cpu {

namespace {

struct Variant {
  const char* name;
  bool supported;
  FoldFast (*fast)(unsigned);
  FoldGeneral (*general)(unsigned);
};

std::vector<LaneBlock> run(const Variant& v, unsigned groups, bool masked, bool weighted,
                           const double* p, const double* t, const double* inc, const double* skip,
                           int lanes, int count) {
  std::vector<LaneBlock> blocks(static_cast<std::size_t>((lanes + 7) / 8));
  for (LaneBlock& b : blocks) {
    b.clear();
  }
  if (masked) {
    v.general(groups)(blocks.data(), 0, lanes, count, lanes, true, weighted, p, t, inc, skip);
  } else {
    v.fast(groups)(blocks.data(), 0, lanes, count, lanes, true, p, t);
  }
  return blocks;
}

TEST(Isa, EveryVariantGivesTheSameBits) {
  __builtin_cpu_init();
  const Variant variants[] = {
      {"x86-64", true, isa_baseline::fold_fast_function, isa_baseline::fold_general_function},
      {"avx2", __builtin_cpu_supports("avx2") != 0, isa_avx2::fold_fast_function,
       isa_avx2::fold_general_function},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0, isa_avx512::fold_fast_function,
       isa_avx512::fold_general_function},
  };
  const int lanes = 43, count = 100; // five full blocks and a partial one
  std::mt19937_64 rng(5);
  std::normal_distribution<double> z;
  std::vector<double> p(lanes * count), t(p.size()), inc(p.size()), skip(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    t[i] = 1e3 + z(rng);
    p[i] = t[i] + 0.1 * z(rng) + 0.5;
    inc[i] = (rng() % 7 != 0) ? 1.0 : 0.0;
    skip[i] = inc[i] == 0.0 && rng() % 2 ? 1.0 : 0.0;
    if (inc[i] == 0.0 && rng() % 3 == 0) {
      p[i] = std::nan(""); // excluded lanes may hold anything
    }
  }
  std::vector<double> pf = p; // the fast path needs finite values everywhere
  for (std::size_t i = 0; i < pf.size(); ++i) {
    if (pf[i] != pf[i]) {
      pf[i] = 2.0;
    }
  }
  // Weights: the included lanes' 0/1 replaced by values over four decades.
  std::vector<double> w = inc;
  for (double& x : w) {
    x = x == 0.0 ? 0.0 : std::ldexp(1.0 + static_cast<double>(rng() % 255), -4);
  }
  for (unsigned groups = 0; groups < 8; ++groups) {
    for (int mode = 0; mode < 3; ++mode) { // fast, masked, weighted
      const bool masked = mode > 0, weighted = mode == 2;
      const double* include = weighted ? w.data() : inc.data();
      const auto want = run(variants[0], groups, masked, weighted, masked ? p.data() : pf.data(),
                            t.data(), include, skip.data(), lanes, count);
      for (const Variant& v : variants) {
        if (!v.supported) {
          continue;
        }
        const auto got = run(v, groups, masked, weighted, masked ? p.data() : pf.data(), t.data(),
                             include, skip.data(), lanes, count);
        EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(LaneBlock)), 0)
            << v.name << " groups " << groups
            << (mode == 0   ? " fast"
                : mode == 1 ? " masked"
                            : " weighted");
      }
      if (mode == 1) { // the mask's 0/1 values given as weights: the same bits
        const auto as_weights = run(variants[0], groups, true, true, p.data(), t.data(), inc.data(),
                                    skip.data(), lanes, count);
        EXPECT_EQ(std::memcmp(as_weights.data(), want.data(), want.size() * sizeof(LaneBlock)), 0)
            << "groups " << groups;
      }
    }
  }
  std::printf("fold kernels in use here: %s\n", fold_isa_name());
}

} // namespace
} // namespace gpueval::cpu

namespace gpueval::cpu {
namespace {

// msle's vector log1p and log (regression_kernels.cpp) against long double, in every ISA variant:
// each lane folds a (1, 1) pair (the run's first group, scalar) and then one test pair (vector).
TEST(Isa, VectorLogsMatchLongDouble) {
  __builtin_cpu_init();
  std::vector<std::pair<double, double>> pairs;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-300, 300);
  for (int i = 0; i < 400; ++i) {
    const double t = std::pow(10.0, u(rng) / 10);
    pairs.push_back({t * (1 + 1e-9 * (i % 7)), t});     // log1p branch, tiny x
    pairs.push_back({t * (1.2 + 0.002 * (i % 50)), t}); // around |x| = 1/4
    pairs.push_back({t * (0.7 + 0.002 * (i % 50)), t}); // x around -1/4 and below
    pairs.push_back({std::pow(10.0, u(rng)), t});       // log branch, any ratio
  }
  pairs.push_back({0, 1e300});
  pairs.push_back({1e300, 0});
  pairs.push_back({1e-300, 0});
  pairs.push_back({0, 0});
  while (pairs.size() % 8 != 0) {
    pairs.push_back({2, 1});
  }
  const int lanes = static_cast<int>(pairs.size());
  std::vector<double> p(2 * pairs.size(), 1.0), t(2 * pairs.size(), 1.0);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    p[pairs.size() + i] = pairs[i].first;
    t[pairs.size() + i] = pairs[i].second;
  }
  using FastFor = FoldFast (*)(unsigned);
  const struct {
    const char* name;
    bool supported;
    FastFor fast;
  } variants[] = {
      {"x86-64", true, isa_baseline::fold_fast_function},
      {"avx2", __builtin_cpu_supports("avx2") != 0, isa_avx2::fold_fast_function},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0, isa_avx512::fold_fast_function}};
  for (const auto& v : variants) {
    if (!v.supported) {
      continue;
    }
    std::vector<LaneBlock> blocks(static_cast<std::size_t>(lanes / 8));
    for (LaneBlock& b : blocks) {
      b.clear();
    }
    v.fast(kGroupLog)(blocks.data(), 0, lanes, 2, lanes, true, p.data(), t.data());
    for (int j = 0; j < lanes; ++j) {
      const long double lp = pairs[static_cast<std::size_t>(j)].first;
      const long double lt = pairs[static_cast<std::size_t>(j)].second;
      const long double x = (lp - lt) / (1 + lt);
      const long double d = std::fabs(x) < 0.25L ? std::log1p(x) : std::log((1 + lp) / (1 + lt));
      const double got = std::sqrt(blocks[static_cast<std::size_t>(j / 8)].sum_sle[j % 8]);
      EXPECT_NEAR(got, static_cast<double>(std::fabs(d)),
                  2e-15 * static_cast<double>(std::fabs(d)) + 1e-300)
          << v.name << " p " << pairs[static_cast<std::size_t>(j)].first << " t "
          << pairs[static_cast<std::size_t>(j)].second;
    }
  }
}

} // namespace
} // namespace gpueval::cpu
