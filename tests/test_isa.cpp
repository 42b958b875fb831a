// The fold kernels of every instruction set this CPU runs give bitwise the same runs, fast and
// masked, for every statistic group set: the ISA changes speed, never results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/load.hpp"
#include "cpu/regression_lanes.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/regression.hpp"

namespace gpueval::cpu {

namespace {

// Each ISA build's kernels, and whether this CPU runs them.
struct Variant {
  const char* name;
  bool supported;
  FoldFast (*fast)(unsigned);
  FoldGeneral (*general)(unsigned);
  FoldFastFrom (*from)(unsigned, DType, DType);
  AllFinite (*finite)(DType);
  SketchBuckets (*buckets)();
  SketchBucketsFrom (*buckets_from)(DType, DType);
};

std::vector<Variant> variants() {
  __builtin_cpu_init();
#define GPUEVAL_VARIANT(ns, name, supported)                                                       \
  Variant {                                                                                        \
    name, supported, ns::fold_fast_function, ns::fold_general_function,                            \
        ns::fold_fast_from_function, ns::all_finite_function, ns::sketch_buckets_function,         \
        ns::sketch_buckets_from_function                                                           \
  }
  return {GPUEVAL_VARIANT(isa_baseline, "x86-64", true),
          GPUEVAL_VARIANT(isa_avx2, "avx2", __builtin_cpu_supports("avx2") != 0),
          GPUEVAL_VARIANT(isa_avx512, "avx512f", __builtin_cpu_supports("avx512f") != 0)};
#undef GPUEVAL_VARIANT
}

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
  const std::vector<Variant> all = variants();
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
      const auto want = run(all[0], groups, masked, weighted, masked ? p.data() : pf.data(),
                            t.data(), include, skip.data(), lanes, count);
      for (const Variant& v : all) {
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
        const auto as_weights = run(all[0], groups, true, true, p.data(), t.data(), inc.data(),
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
  pairs.push_back({1.1e308, 1e308}); // near 1, p + t past the largest double
  pairs.push_back({1e308, 1.1e308});
  pairs.push_back({0, 1.7e308}); // a subnormal ratio
  pairs.push_back({1e-300, 1.7e308});
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
  for (const Variant& v : variants()) {
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
                  1e-15 * static_cast<double>(std::fabs(d)) + 1e-300)
          << v.name << " p " << pairs[static_cast<std::size_t>(j)].first << " t "
          << pairs[static_cast<std::size_t>(j)].second;
    }
  }
}

// A vector whose lanes all have ratios near 1 takes msle's one-division path, one with a lane far
// from 1 the two-division path: a lane's bits must not depend on its neighbours (or a batch split
// that regroups lanes would change msle). Each trial folds seven random pairs near 1 into lanes
// 0-6 of two blocks whose lane 7 differs (near, far); every ISA, and every ISA the same bits.
TEST(Isa, MsleLaneDoesNotDependOnItsNeighbours) {
  const int trials = 64, lanes = 16 * trials;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  // Group 0 is (1, 1) everywhere (the runs' shifts); group 1 holds the trials.
  std::vector<double> p(2 * lanes, 1.0), t(2 * lanes, 1.0);
  for (int k = 0; k < trials; ++k) {
    double* pa = p.data() + lanes + 16 * k; // block 2k: lane 7 near
    double* ta = t.data() + lanes + 16 * k;
    for (int j = 0; j < 7; ++j) {
      const double tj = std::exp(6 * u(rng)), pj = tj * (1 + 0.2 * u(rng)) + 0.1 * u(rng);
      pa[j] = pa[8 + j] = std::max(pj, 0.0);
      ta[j] = ta[8 + j] = tj;
    }
    pa[7] = 1.05; // near: block 2k takes the one-division path
    ta[7] = 1.0;
    pa[15] = 90.0; // far: block 2k + 1 takes the two-division path
    ta[15] = 0.5;
  }
  std::vector<double> first;
  for (const Variant& v : variants()) {
    if (!v.supported) {
      continue;
    }
    std::vector<LaneBlock> blocks(2 * trials);
    for (LaneBlock& b : blocks) {
      b.clear();
    }
    v.fast(kGroupLog)(blocks.data(), 0, lanes, 2, lanes, true, p.data(), t.data());
    std::vector<double> got;
    for (int k = 0; k < trials; ++k) {
      const LaneBlock &near = blocks[static_cast<std::size_t>(2 * k)],
                      &far = blocks[static_cast<std::size_t>(2 * k + 1)];
      for (int j = 0; j < 7; ++j) {
        EXPECT_EQ(std::memcmp(&near.sum_sle[j], &far.sum_sle[j], sizeof(double)), 0)
            << v.name << " trial " << k << " lane " << j << ": " << near.sum_sle[j] << " vs "
            << far.sum_sle[j];
        got.push_back(near.sum_sle[j]);
      }
      EXPECT_GT(far.sum_sle[7], 1.0) << v.name; // lane 7's own value: log(91 / 1.5)^2
    }
    if (first.empty()) {
      first = got;
    } else {
      EXPECT_EQ(std::memcmp(first.data(), got.data(), got.size() * sizeof(double)), 0) << v.name;
    }
  }
}

} // namespace
} // namespace gpueval::cpu

namespace gpueval::cpu {
namespace {

// `n` values of dtype d as bytes, and the doubles staging reads from them.
struct Values {
  std::vector<unsigned char> bytes;
  std::vector<double> staged;
};
Values values_of(DType d, const std::vector<double>& x) {
  Values v;
  v.bytes.resize(x.size() * dtype_size(d));
  for (std::size_t i = 0; i < x.size(); ++i) {
    unsigned char* at = v.bytes.data() + i * dtype_size(d);
    if (d == DType::f64) {
      std::memcpy(at, &x[i], 8);
    } else if (d == DType::f32) {
      const float f = static_cast<float>(x[i]);
      std::memcpy(at, &f, 4);
    } else {
      const std::uint16_t h = d == DType::f16 ? float_to_half_bits(static_cast<float>(x[i]))
                                              : float_to_bf16_bits(static_cast<float>(x[i]));
      std::memcpy(at, &h, 2);
    }
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    double out = 0;
    visit_dtype(d, [&](auto k) {
      out = load_as_double<decltype(k)::value>(v.bytes.data() + i * dtype_size(d));
    });
    v.staged.push_back(out);
  }
  return v;
}

// The fold that reads values where they are gives bitwise the runs of the fold over their staged
// doubles, for every dtype pair it takes, every statistic group set and ISA: f16 subnormals and
// signed zeros included, a partial block, a first group that starts the runs.
TEST(Isa, InPlaceFoldsGiveTheStagedBits) {
  const int lanes = 43, count = 37;
  std::mt19937_64 rng(9);
  std::normal_distribution<double> z;
  std::vector<double> p(lanes * count), t(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    t[i] = 3 + z(rng);
    p[i] = t[i] + 0.3 * z(rng);
    switch (i % 11) {
    case 3:
      p[i] = 3e-6 * z(rng); // an f16 subnormal
      break;
    case 5:
      t[i] = -0.0;
      break;
    case 7:
      p[i] = 6e-8; // the smallest f16 subnormal's neighbourhood
      break;
    default:
      break;
    }
  }
  const std::pair<DType, DType> pairs[] = {{DType::f32, DType::f32},   {DType::f64, DType::f64},
                                           {DType::bf16, DType::bf16}, {DType::f16, DType::f16},
                                           {DType::bf16, DType::f32},  {DType::f16, DType::f32},
                                           {DType::f64, DType::f32}};
  for (const Variant& v : variants()) {
    if (!v.supported) {
      continue;
    }
    for (const auto& [dp, dt] : pairs) {
      const Values pv = values_of(dp, p), tv = values_of(dt, t);
      for (unsigned groups = 0; groups <= kAllGroups; ++groups) {
        const FoldFastFrom from = v.from(groups, dp, dt);
        ASSERT_NE(from, nullptr) << v.name << " " << dtype_name(dp) << "/" << dtype_name(dt);
        std::vector<LaneBlock> staged(6), in_place(6);
        for (std::size_t b = 0; b < 6; ++b) {
          staged[b].clear();
          in_place[b].clear();
        }
        v.fast(groups)(staged.data(), 0, lanes, count, lanes, true, pv.staged.data(),
                       tv.staged.data());
        from(in_place.data(), 0, lanes, count, lanes, true, pv.bytes.data(), tv.bytes.data());
        EXPECT_EQ(std::memcmp(staged.data(), in_place.data(), sizeof(LaneBlock) * 6), 0)
            << v.name << " " << dtype_name(dp) << "/" << dtype_name(dt) << " groups " << groups;
      }
      EXPECT_TRUE(v.finite(dp)(pv.bytes.data(), static_cast<std::int64_t>(p.size())));
      // The sketch's buckets from the values in place: those of the staged pairs (an odd count,
      // so the one-at-a-time tail runs too), at a few mantissa widths.
      const int n = static_cast<int>(p.size()) - 3;
      for (const int bits : {1, 7, 10}) {
        std::vector<std::uint32_t> want(p.size()), got(p.size());
        v.buckets()(pv.staged.data(), tv.staged.data(), n, bits, want.data());
        v.buckets_from(dp, dt)(pv.bytes.data(), tv.bytes.data(), n, bits, got.data());
        EXPECT_EQ(want, got) << v.name << " " << dtype_name(dp) << "/" << dtype_name(dt) << " bits "
                             << bits;
      }
    }
    EXPECT_EQ(v.buckets_from(DType::f32, DType::f16), nullptr);
    EXPECT_EQ(v.from(0, DType::i32, DType::f32), nullptr);
    EXPECT_EQ(v.from(0, DType::f32, DType::f16), nullptr);
  }
}

TEST(Isa, AllFiniteFindsEveryInfinityAndNan) {
  for (const Variant& v : variants()) {
    if (!v.supported) {
      continue;
    }
    for (const DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
      for (const double bad : {double{INFINITY}, double{-INFINITY}, double{NAN}}) {
        for (const int at : {0, 1, 7, 8, 15, 16, 63, 64, 99}) {
          std::vector<double> x(100, 1.5);
          x[static_cast<std::size_t>(at)] = bad;
          const Values vals = values_of(d, x);
          EXPECT_FALSE(v.finite(d)(vals.bytes.data(), 100))
              << v.name << " " << dtype_name(d) << " " << bad << " at " << at;
          EXPECT_TRUE(v.finite(d)(vals.bytes.data(), at)) << v.name << " " << dtype_name(d);
        }
      }
      // The largest finite values are finite.
      const Values big = values_of(d, {d == DType::f16 ? 65504.0 : 3e38, -1e-300, 0.0});
      EXPECT_TRUE(v.finite(d)(big.bytes.data(), 3)) << v.name << " " << dtype_name(d);
    }
  }
}

TEST(Isa, VectorSketchBucketsAreTheScalarBuckets) {
  std::vector<double> p, t;
  for (int e = -1080; e <= 1030; e += 3) {
    for (const double m : {1.0, 1.3, 1.999}) {
      p.push_back(std::ldexp(m, e));
      t.push_back(0.0);
      p.push_back(0.0);
      t.push_back(std::ldexp(m, e)); // negative differences
    }
  }
  const double inf = INFINITY, nan = NAN;
  for (const double x : {0.0, -0.0, inf, -inf, nan, 5e-324, 0x1p-64, 0x1p64}) {
    p.push_back(x);
    t.push_back(0.0);
  }
  std::vector<std::uint32_t> out(p.size());
  for (const Variant& v : variants()) {
    if (!v.supported) {
      continue;
    }
    for (int bits = ops::sketch::kMinBits; bits <= ops::sketch::kMaxBits; ++bits) {
      v.buckets()(p.data(), t.data(), static_cast<int>(p.size()), bits, out.data());
      for (std::size_t i = 0; i < p.size(); ++i) {
        ASSERT_EQ(out[i], ops::sketch::bucket(p[i] - t[i], bits))
            << v.name << " " << p[i] << " - " << t[i] << " bits " << bits;
      }
    }
  }
}

} // namespace
} // namespace gpueval::cpu

namespace gpueval {
namespace {

// Through the evaluator: a contiguous batch (folded in place) and the same values behind a
// strided view (staged) give the same state bit for bit, in both regimes (few keys: rows; 600
// keys: key blocks), with tiles that hold a non-finite value under each policy, for float32 and
// float16 predictions; and the same with a mask per pair (contiguous or strided) and a mask per
// row, the values in place or staged. The quantile sketch is in the state: its buckets come from
// the values in place too.
TEST(CpuFold, InPlaceAndStagedBatchesGiveTheSameState) {
  const std::vector<Metric> metrics = {Metric::mse,
                                       Metric::mae,
                                       Metric::r2,
                                       Metric::nrmse_range,
                                       Metric::mape,
                                       Metric::msle,
                                       Metric::median_absolute_error};
  for (const auto& [rows, keys] : {std::pair<std::int64_t, std::int64_t>{701, 20}, {40, 600}}) {
    for (const NanPolicy policy : {NanPolicy::skip, NanPolicy::propagate}) {
      for (const DType pred_dtype : {DType::f32, DType::f16}) {
        const std::int64_t n = rows * keys;
        std::mt19937_64 rng(11);
        std::normal_distribution<double> z;
        std::vector<double> t(static_cast<std::size_t>(n)), p(t.size());
        for (std::size_t i = 0; i < t.size(); ++i) {
          t[i] = std::abs(3 + z(rng));
          p[i] = std::abs(t[i] + 0.3 * z(rng));
        }
        p[static_cast<std::size_t>(n / 3)] = NAN; // one tile is staged for the policy
        const cpu::Values pv = cpu::values_of(pred_dtype, p), tv = cpu::values_of(DType::f32, t);
        // The strided copies: each row followed by a row of junk.
        const auto spread = [&](const cpu::Values& v, DType d) {
          const std::size_t row = static_cast<std::size_t>(keys) * dtype_size(d);
          std::vector<unsigned char> out(2 * v.bytes.size(), 0xff);
          for (std::int64_t r = 0; r < rows; ++r) {
            std::memcpy(out.data() + 2 * static_cast<std::size_t>(r) * row,
                        v.bytes.data() + static_cast<std::size_t>(r) * row, row);
          }
          return out;
        };
        const std::vector<unsigned char> ps = spread(pv, pred_dtype), ts = spread(tv, DType::f32);
        const auto strided = [&](const std::vector<unsigned char>& bytes, DType d) {
          TensorView v = TensorView::contiguous(bytes.data(), d, {rows, keys});
          v.strides[0] = 2 * keys;
          return v;
        };
        RegressionSpec spec;
        spec.metrics = metrics;
        spec.nan_policy = policy;
        Evaluator in_place(spec, Device::cpu(2)), staged(spec, Device::cpu(2));
        in_place.update(TensorView::contiguous(pv.bytes.data(), pred_dtype, {rows, keys}),
                        TensorView::contiguous(tv.bytes.data(), DType::f32, {rows, keys}));
        const TensorView sp = strided(ps, pred_dtype), st = strided(ts, DType::f32);
        ASSERT_FALSE(sp.is_contiguous());
        staged.update(sp, st);
        EXPECT_EQ(in_place.state().bytes, staged.state().bytes)
            << rows << "x" << keys << " " << dtype_name(pred_dtype) << " policy "
            << static_cast<int>(policy);

        std::vector<unsigned char> mask(static_cast<std::size_t>(n)), spread_mask(2 * mask.size());
        for (std::size_t i = 0; i < mask.size(); ++i) {
          mask[i] = rng() % 5 != 0 ? 1 : 0;
          spread_mask[2 * (i / keys) * keys + i % keys] = mask[i];
        }
        TensorView strided_mask =
            TensorView::contiguous(spread_mask.data(), DType::u8, {rows, keys});
        strided_mask.strides[0] = 2 * keys;
        Evaluator masked(spec, Device::cpu(2)), masked_staged(spec, Device::cpu(2));
        masked.update(TensorView::contiguous(pv.bytes.data(), pred_dtype, {rows, keys}),
                      TensorView::contiguous(tv.bytes.data(), DType::f32, {rows, keys}),
                      TensorView::contiguous(mask.data(), DType::u8, {rows, keys}));
        masked_staged.update(sp, st, strided_mask);
        EXPECT_EQ(masked.state().bytes, masked_staged.state().bytes)
            << "masked " << rows << "x" << keys << " " << dtype_name(pred_dtype);
        EXPECT_NE(masked.state().bytes, in_place.state().bytes);

        // A mask per row (each element covers `keys` pairs), values in place and strided.
        std::vector<unsigned char> row_mask(static_cast<std::size_t>(rows));
        for (unsigned char& m : row_mask) {
          m = rng() % 4 != 0 ? 1 : 0;
        }
        const TensorView rm = TensorView::contiguous(row_mask.data(), DType::u8, {rows});
        Evaluator by_row(spec, Device::cpu(2)), by_row_staged(spec, Device::cpu(2));
        by_row.update(TensorView::contiguous(pv.bytes.data(), pred_dtype, {rows, keys}),
                      TensorView::contiguous(tv.bytes.data(), DType::f32, {rows, keys}), rm);
        by_row_staged.update(sp, st, rm);
        EXPECT_EQ(by_row.state().bytes, by_row_staged.state().bytes)
            << "row mask " << rows << "x" << keys << " " << dtype_name(pred_dtype);
      }
    }
  }
}

// What a mask hides does not change the bits of the pairs it includes: a masked-out NaN (its tile
// staged and classified) and a masked-out finite value (its tile folded in place) give the same
// state under every policy, in both regimes.
TEST(CpuFold, WhatTheMaskHidesDoesNotChangeTheBits) {
  const std::vector<Metric> metrics = {Metric::mse, Metric::r2, Metric::mape, Metric::msle,
                                       Metric::median_absolute_error};
  for (const auto& [rows, keys] : {std::pair<std::int64_t, std::int64_t>{701, 20}, {40, 600}}) {
    const std::int64_t n = rows * keys;
    std::mt19937_64 rng(13);
    std::normal_distribution<double> z;
    std::vector<float> t(static_cast<std::size_t>(n)), p(t.size());
    std::vector<unsigned char> mask(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      t[i] = static_cast<float>(std::abs(3 + z(rng)));
      p[i] = static_cast<float>(std::abs(t[i] + 0.3 * z(rng)));
      mask[i] = rng() % 5 != 0 ? 1 : 0;
    }
    const std::size_t hidden = static_cast<std::size_t>(n / 3);
    mask[hidden] = 0;
    std::vector<float> with_nan = p;
    with_nan[hidden] = NAN;
    for (const NanPolicy policy : {NanPolicy::skip, NanPolicy::propagate, NanPolicy::error}) {
      RegressionSpec spec;
      spec.metrics = metrics;
      spec.nan_policy = policy;
      Evaluator finite(spec, Device::cpu(2)), nan(spec, Device::cpu(2));
      const TensorView tv = TensorView::contiguous(t.data(), DType::f32, {rows, keys});
      const TensorView mv = TensorView::contiguous(mask.data(), DType::u8, {rows, keys});
      finite.update(TensorView::contiguous(p.data(), DType::f32, {rows, keys}), tv, mv);
      nan.update(TensorView::contiguous(with_nan.data(), DType::f32, {rows, keys}), tv, mv);
      EXPECT_EQ(finite.state().bytes, nan.state().bytes)
          << rows << "x" << keys << " policy " << static_cast<int>(policy);
    }
  }
}

} // namespace
} // namespace gpueval
