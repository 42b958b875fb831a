// The fold kernels of every instruction set this CPU runs give bitwise the same runs, fast and
// masked, for every statistic group set: the ISA changes speed, never results.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "cpu/lanes.hpp"

namespace gpueval::cpu {

namespace {

struct Variant {
  const char* name;
  bool supported;
  FoldFast (*fast)(unsigned);
  FoldGeneral (*general)(unsigned);
};

std::vector<LaneBlock> run(const Variant& v, unsigned groups, bool masked, const double* p,
                           const double* t, const double* inc, const double* skip, int lanes,
                           int count) {
  std::vector<LaneBlock> blocks(static_cast<std::size_t>((lanes + 7) / 8));
  for (LaneBlock& b : blocks) {
    b.clear();
  }
  if (masked) {
    v.general(groups)(blocks.data(), 0, lanes, count, lanes, true, p, t, inc, skip);
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
  for (unsigned groups = 0; groups < 8; ++groups) {
    for (bool masked : {false, true}) {
      const auto want = run(variants[0], groups, masked, masked ? p.data() : pf.data(), t.data(),
                            inc.data(), skip.data(), lanes, count);
      for (const Variant& v : variants) {
        if (!v.supported) {
          continue;
        }
        const auto got = run(v, groups, masked, masked ? p.data() : pf.data(), t.data(), inc.data(),
                             skip.data(), lanes, count);
        EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(LaneBlock)), 0)
            << v.name << " groups " << groups << (masked ? " masked" : " fast");
      }
    }
  }
  std::printf("fold kernels in use here: %s\n", fold_isa_name());
}

} // namespace
} // namespace gpueval::cpu
