// Parity cases: an evaluator on the device under test (tests/device_cases.hpp) against one on the
// CPU, on the same batches: regression within the accuracy rule, classification bit for bit. The
// same cases run on the CPU in every build (gpueval_tests) and on a GPU where one is present
// (gpueval_gpu_tests, label `gpu`; tests named *Small* also run under compute-sanitizer in
// scripts/gpu-check).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "batch_data.hpp"
#include "device_cases.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/geometry.hpp"
#include "gpueval/regression.hpp"
#include "reference.hpp"

namespace gpueval {
namespace {

using test::device_under_test;
using test::TypedBuffer;

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    n *= d;
  }
  return n;
}

// A tensor given as host bytes plus a layout: C-contiguous over `shape` unless `strides` (in
// elements) are given, its first element at `first` elements into the buffer.
struct Layout {
  std::vector<std::int64_t> shape, strides;
  std::int64_t first = 0;
};

TensorView layout_view(const unsigned char* base, DType dtype, const Layout& l, DeviceKind kind,
                       int index) {
  TensorView v =
      TensorView::contiguous(base + l.first * static_cast<std::int64_t>(dtype_size(dtype)), dtype,
                             l.shape.data(), static_cast<int>(l.shape.size()), kind, index);
  for (std::size_t i = 0; i < l.strides.size(); ++i) {
    v.strides[i] = l.strides[i];
  }
  return v;
}

// The same tensor on the host and on the device under test (both copies owned here).
struct Placed {
  TensorView host, device;
  std::shared_ptr<const TypedBuffer> host_memory;
  std::shared_ptr<const unsigned char> memory;
};
Placed place(const TypedBuffer& b, const Layout& l, std::size_t misalign = 0) {
  Placed p;
  p.host_memory = std::make_shared<const TypedBuffer>(b);
  p.memory = device_under_test().copy(b.data(), b.size() * dtype_size(b.dtype()), misalign);
  p.host = layout_view(p.host_memory->data(), b.dtype(), l, DeviceKind::cpu, 0);
  p.device = layout_view(p.memory.get(), b.dtype(), l, device_under_test().kind(),
                         device_under_test().index());
  return p;
}

TypedBuffer random_buffer(DType dtype, std::int64_t n, double mean, double spread,
                          std::uint64_t seed) {
  TypedBuffer b(dtype, static_cast<std::size_t>(n));
  std::mt19937_64 rng(seed);
  for (std::int64_t i = 0; i < n; ++i) {
    b.set(static_cast<std::size_t>(i),
          test::sample_value(dtype, mean + static_cast<double>(i % 7), spread, rng));
  }
  return b;
}

// A prediction near each target of `t`.
TypedBuffer near(const TypedBuffer& t, DType dtype, double spread, double nan_rate,
                 std::uint64_t seed) {
  TypedBuffer p(dtype, t.size());
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u;
  for (std::size_t i = 0; i < t.size(); ++i) {
    p.set(i, test::sample_value(dtype, t.get(i), spread, rng));
    if (nan_rate > 0 && dtype_is_float(dtype) && u(rng) < nan_rate) {
      p.set(i, std::nan(""));
    }
  }
  return p;
}

TypedBuffer random_mask(std::int64_t n, double keep, std::uint64_t seed, DType dtype = DType::u8) {
  TypedBuffer m(dtype, static_cast<std::size_t>(n));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u;
  for (std::int64_t i = 0; i < n; ++i) {
    m.set(static_cast<std::size_t>(i), u(rng) < keep ? 1 : 0);
  }
  return m;
}

// Sample weights: a tenth 0 (left out), the rest 1/4 .. 8 in steps of 1/4 (exact in every float
// dtype).
TypedBuffer random_weights(DType dtype, std::int64_t n, std::uint64_t seed) {
  TypedBuffer w(dtype, static_cast<std::size_t>(n));
  std::mt19937_64 rng(seed);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t r = rng() % 40;
    w.set(static_cast<std::size_t>(i), r < 4 ? 0.0 : static_cast<double>(r - 3) * 0.25);
  }
  return w;
}

// ---- regression ---------------------------------------------------------------------------------

// A batch on both sides.
struct Batch {
  Placed pred, target, mask;
  bool masked = false;
};

// Folds the batches into an evaluator on the CPU and one on the device under test.
struct Pair {
  Evaluator cpu, dut;
  explicit Pair(const RegressionSpec& spec)
      : cpu(spec, Device::cpu(2)), dut(spec, device_under_test().device()) {}
  void update(const Batch& b) {
    cpu.update(b.pred.host, b.target.host, b.masked ? b.mask.host : TensorView{});
    dut.update(b.pred.device, b.target.device, b.masked ? b.mask.device : TensorView{});
  }
};

// The accuracy rule's scale for metric i of a report (the same rule as the reference tests).
double scale_of(const Report& r, std::size_t i) {
  const Metric m = r.spec.metrics[i];
  if (m == Metric::bias) {
    return r.has("rmse") ? std::fabs(r.flat_value("rmse")) : 0.0;
  }
  const bool bounded = m == Metric::r2 || m == Metric::explained_variance || m == Metric::pearson ||
                       m == Metric::ccc || m == Metric::cosine;
  return bounded ? 1.0 : 0.0;
}

// Reports of the same batches agree within the accuracy rule: headline, flat, every channel and
// every by-axis value; counts exactly; the quantile sketch's values exactly (integer counts).
void expect_parity(const Report& cpu, const Report& dut, const std::string& what) {
  ASSERT_EQ(cpu.count, dut.count) << what;
  ASSERT_EQ(cpu.skipped_nonfinite, dut.skipped_nonfinite) << what;
  ASSERT_EQ(cpu.per_channel_count, dut.per_channel_count) << what;
  ASSERT_EQ(cpu.by_axis_count, dut.by_axis_count) << what;
  for (std::size_t i = 0; i < cpu.spec.metrics.size(); ++i) {
    const Metric m = cpu.spec.metrics[i];
    const double tol = test::is_quantile_metric(m) ? 0.0 : 1e-9;
    const double scale = scale_of(cpu, i);
    const std::string name = std::string(metric_name(m));
    EXPECT_TRUE(test::within_accuracy(dut.flat[i], cpu.flat[i], scale, tol))
        << what << " flat " << name << ": " << dut.flat[i] << " vs " << cpu.flat[i];
    EXPECT_TRUE(test::within_accuracy(dut.headline[i], cpu.headline[i], scale, tol))
        << what << " headline " << name;
    for (std::size_t c = 0; c < cpu.per_channel[i].size(); ++c) {
      EXPECT_TRUE(test::within_accuracy(dut.per_channel[i][c], cpu.per_channel[i][c], scale, tol))
          << what << " " << name << " channel " << c << ": " << dut.per_channel[i][c] << " vs "
          << cpu.per_channel[i][c];
    }
    if (!cpu.by_axis.empty()) {
      for (std::size_t j = 0; j < cpu.by_axis[i].size(); ++j) {
        EXPECT_TRUE(test::within_accuracy(dut.by_axis[i][j], cpu.by_axis[i][j], scale, tol))
            << what << " " << name << " by_axis " << j;
      }
    }
  }
}

// A batch of `shape` with targets around 50 and predictions near them, a mask of the first
// `mask_rank` axes (0: none).
Batch make_batch(DType pd, DType td, const std::vector<std::int64_t>& shape, int mask_rank,
                 double nan_rate, std::uint64_t seed, DType md = DType::u8) {
  const std::int64_t n = numel(shape);
  const TypedBuffer t = random_buffer(td, n, 50.0, 2.0, seed);
  const TypedBuffer p = near(t, pd, 0.5, nan_rate, seed + 1);
  Batch b;
  b.pred = place(p, {shape, {}, 0});
  b.target = place(t, {shape, {}, 0});
  if (mask_rank > 0) {
    const std::vector<std::int64_t> ms(shape.begin(), shape.begin() + mask_rank);
    b.mask = place(random_mask(numel(ms), 0.85, seed + 2, md), {ms, {}, 0});
    b.masked = true;
  }
  return b;
}

RegressionSpec every_metric_for(std::int64_t channels) {
  RegressionSpec spec;
  spec.metrics = all_metrics();
  if (channels > 4095) { // the quantile sketch stops at 4,095 channels (128 KiB of counts each)
    std::vector<Metric> m;
    for (Metric x : spec.metrics) {
      if (!test::is_quantile_metric(x)) {
        m.push_back(x);
      }
    }
    spec.metrics = m;
  }
  return spec;
}

TEST(DeviceParity, SmallEveryKeyCountAndEveryMetric) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // K <= 64: the rows regime; above: the keys regime (one chunk, and row chunks for K = 65).
  for (std::int64_t k : {1, 3, 17, 20, 32, 33, 64, 65, 1000, 10000}) {
    Pair pair(every_metric_for(k));
    for (std::int64_t rows :
         {std::int64_t{9}, std::int64_t{1}, std::int64_t{0}, std::int64_t{130}, 3000 / k + 70}) {
      pair.update(make_batch(DType::f32, DType::f32, {rows, k}, 0, 0,
                             static_cast<std::uint64_t>(rows * 7 + k)));
    }
    expect_parity(pair.cpu.compute(), pair.dut.compute(), "K=" + std::to_string(k));
  }
}

TEST(DeviceParity, SmallDtypesMasksAndPolicies) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // The dense pairs of the CUDA fold, then the generic path's.
  const DType pairs[][2] = {{DType::f32, DType::f32},  {DType::bf16, DType::bf16},
                            {DType::f16, DType::f16},  {DType::f64, DType::f64},
                            {DType::bf16, DType::f32}, {DType::f16, DType::f32},
                            {DType::i32, DType::f32},  {DType::u8, DType::i64}};
  for (const auto& dt : pairs) {
    for (int mask_rank : {0, 2, 3}) {
      for (NanPolicy policy : {NanPolicy::skip, NanPolicy::propagate}) {
        for (bool all : {false, true}) {
          RegressionSpec spec = all ? every_metric_for(3) : RegressionSpec{};
          spec.nan_policy = policy;
          Pair pair(spec);
          pair.update(make_batch(dt[0], dt[1], {12, 25, 3}, mask_rank, 0.02, 7));
          pair.update(make_batch(dt[0], dt[1], {300, 25, 3}, mask_rank, 0.0, 8));
          expect_parity(pair.cpu.compute(), pair.dut.compute(),
                        std::string(dtype_name(dt[0])) + "/" + std::string(dtype_name(dt[1])) +
                            " mask rank " + std::to_string(mask_rank));
        }
      }
    }
  }
  // Masks of another integer type than one byte.
  Pair wide(RegressionSpec{});
  wide.update(make_batch(DType::f32, DType::f32, {40, 25, 3}, 2, 0.01, 9, DType::i32));
  expect_parity(wide.cpu.compute(), wide.dut.compute(), "int32 mask");
}

TEST(DeviceParity, SmallBreakdownsOfEveryKeyCount) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  struct Case {
    std::vector<std::int64_t> shape;
    int by_axis;
  };
  // K = 75 (keys regime), K = 100 over 200 rows (row chunks and their merge), K = 4,096, and
  // K = 270,000 (past the 262,144 threads of a full grid of key blocks).
  for (const Case& c :
       {Case{{12, 25, 3}, 1}, Case{{200, 100}, 1}, Case{{4, 64, 64}, 1}, Case{{3, 270000}, 1}}) {
    RegressionSpec spec;
    spec.by_axis = c.by_axis;
    if (c.shape.size() == 2) {
      spec.channel_axis.reset(); // a breakdown of a [rows, K] batch: no channel axis
    }
    Pair pair(spec);
    pair.update(make_batch(DType::f32, DType::f32, c.shape, 0, 0.001, 10));
    pair.update(make_batch(DType::f32, DType::f32, c.shape, 2, 0.0, 11));
    expect_parity(pair.cpu.compute(), pair.dut.compute(),
                  "by_axis over " + std::to_string(numel(c.shape)));
  }
}

TEST(DeviceParity, SmallEmptyBatches) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  Pair pair(RegressionSpec{});
  pair.update(make_batch(DType::f32, DType::f32, {0, 20}, 0, 0, 12)); // fixes the sample shape
  pair.update(make_batch(DType::f32, DType::f32, {16, 20}, 1, 0, 13));
  pair.update(make_batch(DType::f32, DType::f32, {0, 20}, 1, 0, 14));
  const Report dut = pair.dut.compute();
  EXPECT_EQ(pair.dut.batches(), 3u);
  expect_parity(pair.cpu.compute(), dut, "empty batches");
  Evaluator only_empty(RegressionSpec{}, device_under_test().device());
  only_empty.update(make_batch(DType::f32, DType::f32, {0, 5}, 0, 0, 15).pred.device,
                    make_batch(DType::f32, DType::f32, {0, 5}, 0, 0, 15).target.device);
  EXPECT_EQ(only_empty.compute().count, 0u);
}

// Views that are not C-contiguous read exactly what their contiguous copies hold: every other
// row, reversed rows (negative strides), a broadcast target (zero strides), a transposed
// tensor, misaligned data, and masks sliced with steps and transposed.
TEST(DeviceParity, SmallStridedReversedBroadcastMisalignedViews) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  const std::int64_t rows = 33, keys = 7;
  const TypedBuffer t = random_buffer(DType::f32, 2 * rows * keys, 40.0, 3.0, 16);
  const TypedBuffer p = near(t, DType::f32, 0.4, 0.01, 17);
  const TypedBuffer m = random_mask(2 * rows * keys, 0.7, 18);
  // The reference: contiguous copies of what each view selects, on the CPU.
  const auto gather = [](const TypedBuffer& src, const Layout& l) {
    TypedBuffer out(src.dtype(), static_cast<std::size_t>(numel(l.shape)));
    std::vector<std::int64_t> idx(l.shape.size(), 0);
    for (std::int64_t i = 0; i < numel(l.shape); ++i) {
      std::int64_t off = l.first, rest = i;
      for (int d = static_cast<int>(l.shape.size()) - 1; d >= 0; --d) {
        off +=
            (rest % l.shape[static_cast<std::size_t>(d)]) * l.strides[static_cast<std::size_t>(d)];
        rest /= l.shape[static_cast<std::size_t>(d)];
      }
      out.set(static_cast<std::size_t>(i), src.get(static_cast<std::size_t>(off)));
    }
    return out;
  };
  struct Case {
    const char* name;
    Layout pred, target, mask;
    std::size_t misalign;
  };
  const Layout every_other{{rows, keys}, {2 * keys, 1}, 0};
  const Layout reversed{{rows, keys}, {-keys, 1}, (rows - 1) * keys};
  const Layout broadcast{{rows, keys}, {0, 1}, 0};
  const Layout transposed{{rows, keys}, {1, rows}, 0};
  const Layout plain{{rows, keys}, {keys, 1}, 0};
  const Layout mask_stepped{{rows, keys}, {2 * keys, 2}, 0}; // [:, ::2] of a [rows, 2 keys] mask
  const Layout mask_rows_stepped{{rows}, {3}, 1};            // a prefix mask, every third byte
  const Layout mask_transposed{{rows, keys}, {1, rows}, 0};
  const std::vector<Case> cases = {
      {"every other row", every_other, every_other, {}, 0},
      {"reversed rows", reversed, reversed, mask_stepped, 0},
      {"broadcast target", plain, broadcast, mask_rows_stepped, 0},
      {"transposed", transposed, transposed, mask_transposed, 0},
      {"misaligned by 1", plain, plain, mask_stepped, 1},
      {"misaligned by 3", every_other, plain, {}, 3},
  };
  for (const Case& c : cases) {
    const bool masked = !c.mask.shape.empty();
    Placed pp = place(p, c.pred, c.misalign), tp = place(t, c.target, c.misalign);
    Placed mp;
    if (masked) {
      mp = place(m, c.mask);
    }
    Evaluator dut(RegressionSpec{}, device_under_test().device());
    dut.update(pp.device, tp.device, masked ? mp.device : TensorView{});
    // The same values, contiguous, on the CPU.
    const TypedBuffer gp = gather(p, c.pred), gt = gather(t, c.target);
    Evaluator cpu(RegressionSpec{}, Device::cpu(2));
    if (masked) {
      const TypedBuffer gm = gather(m, c.mask);
      cpu.update(gp.view(c.pred.shape), gt.view(c.target.shape), gm.view(c.mask.shape));
    } else {
      cpu.update(gp.view(c.pred.shape), gt.view(c.target.shape));
    }
    const Report want = cpu.compute();
    ASSERT_GT(want.count, 0u) << c.name;
    expect_parity(want, dut.compute(), c.name);
  }
}

// Sample weights: every float dtype, of the tensor's shape and of a prefix, with and without a
// mask, on the dense dtypes (which the CUDA fold sends to the generic path when weighted) and a
// strided weight; then a negative weight, which the CPU refuses at update and CUDA at compute().
TEST(DeviceParity, SmallWeightsOfEveryDtypeAndShape) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  RegressionSpec spec = every_metric_for(3);
  std::vector<Metric> weighted;
  for (Metric m : spec.metrics) {
    if (!test::is_quantile_metric(m)) {
      weighted.push_back(m);
    }
  }
  spec.metrics = weighted;
  std::uint64_t seed = 70;
  for (DType wd : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    for (int weight_rank : {1, 3}) {
      for (int mask_rank : {0, 2}) {
        Evaluator cpu(spec, Device::cpu(2)), dut(spec, device_under_test().device());
        for (std::int64_t rows : {std::int64_t{12}, std::int64_t{0}, std::int64_t{300}}) {
          const std::vector<std::int64_t> shape = {rows, 25, 3};
          const Batch b = make_batch(DType::f32, DType::f32, shape, mask_rank, 0.0, ++seed);
          const std::vector<std::int64_t> ws(shape.begin(), shape.begin() + weight_rank);
          const Placed w = place(random_weights(wd, numel(ws), ++seed), {ws, {}, 0});
          const TensorView none{};
          cpu.update(b.pred.host, b.target.host, b.masked ? b.mask.host : none, w.host);
          dut.update(b.pred.device, b.target.device, b.masked ? b.mask.device : none, w.device);
        }
        const Report rc = cpu.compute(), rd = dut.compute();
        expect_parity(rc, rd,
                      std::string(dtype_name(wd)) + " weight rank " + std::to_string(weight_rank) +
                          " mask rank " + std::to_string(mask_rank));
        EXPECT_TRUE(test::within_accuracy(rd.weight_sum, rc.weight_sum, 0.0));
      }
    }
  }
  // A negative weight: InvalidArgument naming it, at update (CPU) or at compute() (CUDA).
  const Batch b = make_batch(DType::f32, DType::f32, {10, 4}, 0, 0.0, 90);
  TypedBuffer bad = random_weights(DType::f32, 10, 91);
  bad.set(6, -0.5);
  const Placed w = place(bad, {{10}, {}, 0});
  Evaluator dut(spec, device_under_test().device());
  try {
    dut.update(b.pred.device, b.target.device, TensorView{}, w.device);
    (void)dut.compute();
    ADD_FAILURE() << "no error for a negative weight";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("finite and >= 0"), std::string::npos) << e.what();
  }
}

TEST(DeviceParity, SmallNanPolicyErrorAndStatesAcrossBackends) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  RegressionSpec err;
  err.nan_policy = NanPolicy::error;
  Evaluator ev(err, device_under_test().device());
  const Batch ok = make_batch(DType::f64, DType::f64, {10, 4}, 0, 0, 19);
  TypedBuffer bad_t = random_buffer(DType::f64, 40, 50.0, 2.0, 20);
  bad_t.set(22, INFINITY);
  bad_t.set(31, NAN);
  const Placed bt = place(bad_t, {{10, 4}, {}, 0});
  ev.update(ok.pred.device, ok.target.device);
  ev.update(ok.pred.device, bt.device);
  try {
    (void)ev.compute();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.batch, 1u);
    EXPECT_EQ(e.element, 22u);
  }
  // A state of the device under test merges into a CPU evaluator and back.
  const Batch a = make_batch(DType::f32, DType::f32, {50, 6}, 1, 0, 21);
  const Batch b = make_batch(DType::f32, DType::f32, {70, 6}, 0, 0, 22);
  RegressionSpec spec = every_metric_for(6);
  Evaluator dut(spec, device_under_test().device()), cpu(spec, Device::cpu(2));
  Evaluator both(spec, Device::cpu(2));
  dut.update(a.pred.device, a.target.device, a.mask.device);
  cpu.update(b.pred.host, b.target.host);
  both.update(a.pred.host, a.target.host, a.mask.host);
  both.update(b.pred.host, b.target.host);
  cpu.merge(dut.state());
  expect_parity(both.compute(), cpu.compute(), "device state into cpu");
  // An idle CPU rank's state (its shape given by the spec) changes nothing.
  RegressionSpec idle_spec = spec;
  idle_spec.sample_shape = {6};
  dut.merge(Evaluator(idle_spec, Device::cpu(1)).state());
  Evaluator back(spec, device_under_test().device());
  back.merge(cpu.state());
  expect_parity(both.compute(), back.compute(), "cpu state into the device");
  // reset() forgets every batch; the next ones count from zero.
  back.reset();
  back.update(b.pred.device, b.target.device);
  Evaluator only_b(spec, Device::cpu(2));
  only_b.update(b.pred.host, b.target.host);
  expect_parity(only_b.compute(), back.compute(), "after reset");
}

// ---- classification
// ------------------------------------------------------------------------------

// Everything but the device line.
std::string values(ClassificationReport r) {
  r.device.clear();
  return r.to_json();
}

struct ClassCase {
  ClassTask task;
  std::int64_t classes;
  bool logits;
  bool labels;
  int mask; // 0: none; 1: the samples' shape; 2: the full shape of the scores' targets
  int class_axis = 1;
  std::int64_t extra = 0; // a trailing sample axis of this length (class axis not last)
  int weight = 0;         // sample weights of rank `weight` (0: none)
  bool ovo = false;       // auroc_ovo too (by name only: not in "all")
  bool no_matrix = false; // per-class counts instead of the confusion matrix
  int by_axis = 0;        // a breakdown axis of the targets (0: none)
};

// Scores with ties: a fifth of the samples have two equal highest scores (the lowest index wins).
void check_class_parity(const ClassCase& c, std::int64_t n, std::uint64_t seed,
                        std::size_t misalign = 0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u;
  const bool binary = c.task == ClassTask::binary;
  const std::int64_t per = binary ? 1 : c.classes;
  const std::int64_t extra = c.extra > 0 ? c.extra : 1;
  std::vector<std::int64_t> tshape = {n}, pshape = {n};
  if (c.task == ClassTask::multilabel) {
    tshape.push_back(c.classes);
  }
  if (!binary && !(c.labels && c.task == ClassTask::multiclass)) {
    pshape.push_back(c.classes); // the class (label) axis, at 1
  }
  if (c.extra > 0) {
    tshape.push_back(c.extra);
    pshape.push_back(c.extra);
  }
  TypedBuffer target(DType::i64, static_cast<std::size_t>(numel(tshape)));
  for (std::size_t i = 0; i < target.size(); ++i) {
    target.set(i, std::floor(u(g) * (c.task == ClassTask::multiclass ? c.classes : 2)));
  }
  const DType pdt = c.labels ? DType::i32 : DType::f32;
  TypedBuffer pred(pdt, static_cast<std::size_t>(numel(pshape)));
  for (std::size_t i = 0; i < pred.size(); ++i) {
    if (c.labels) {
      pred.set(i, c.task == ClassTask::multiclass
                      ? std::floor(u(g) * c.classes)
                      : static_cast<double>(static_cast<int>(target.get(i % target.size())) ^
                                            (u(g) < 0.2 ? 1 : 0)));
    } else {
      pred.set(i, c.logits ? 2 * z(g) : u(g));
    }
  }
  if (!c.labels && !binary && c.task == ClassTask::multiclass) {
    // Exact ties of the top two scores in every fifth sample (class axis at 1).
    for (std::int64_t s = 0; s < n; s += 5) {
      for (std::int64_t e = 0; e < extra; ++e) {
        const std::size_t base = static_cast<std::size_t>(s * per * extra + e);
        double best = -1e300;
        for (std::int64_t k = 0; k < per; ++k) {
          best = std::max(best, pred.get(base + static_cast<std::size_t>(k * extra)));
        }
        pred.set(base + static_cast<std::size_t>(((s / 5) % per) * extra), best);
      }
    }
  }
  if (!c.labels && !c.logits && c.task == ClassTask::multiclass) {
    // Probability rows that sum to 1 (as float32 rounds them): equal scores stay equal.
    for (std::int64_t s = 0; s < n; ++s) {
      for (std::int64_t e = 0; e < extra; ++e) {
        const auto at = [&](std::int64_t k) {
          return static_cast<std::size_t>((s * per + k) * extra + e);
        };
        double sum = 0;
        for (std::int64_t k = 0; k < per; ++k) {
          sum += pred.get(at(k));
        }
        for (std::int64_t k = 0; k < per; ++k) {
          pred.set(at(k), pred.get(at(k)) / sum);
        }
      }
    }
  }
  if (!c.labels) {
    pred.set(3, NAN); // an invalid score, skipped and counted by both
  }
  ClassificationSpec spec;
  spec.task = c.task;
  spec.num_classes = c.classes;
  spec.all_metrics = true;
  if (c.ovo) { // every metric "all" has, and the one-vs-one histograms
    spec.all_metrics = false;
    spec.pred = PredKind::scores;
    spec.top_k = 2;
    for (int m = 0; m < kNumClassMetrics; ++m) {
      const ClassMetricInfo& info = class_metric_info(static_cast<ClassMetric>(m));
      if ((info.tasks & (1u << static_cast<unsigned>(c.task))) != 0) {
        spec.metrics.push_back(info.metric);
      }
    }
  }
  spec.scores = c.logits ? ScoreKind::logits : ScoreKind::probabilities;
  spec.top_k = c.task == ClassTask::multiclass && !c.labels ? 2 : 0;
  if (c.no_matrix) {
    spec.confusion_matrix = false;
  }
  spec.class_axis = c.class_axis;
  if (c.by_axis != 0) {
    spec.by_axis = c.by_axis;
  }
  spec.nan_policy = NanPolicy::skip;
  spec.invalid = InvalidPolicy::skip; // the planted invalid values are counted on both devices
  const Placed pp = place(pred, {pshape, {}, 0}, misalign);
  const Placed tp = place(target, {tshape, {}, 0});
  Placed mp;
  if (c.mask > 0) {
    const std::vector<std::int64_t> ms = c.mask == 1 ? std::vector<std::int64_t>{n} : tshape;
    mp = place(random_mask(numel(ms), 0.8, seed + 3), {ms, {}, 0});
  }
  Placed wp;
  if (c.weight > 0) {
    const std::vector<std::int64_t> ws(tshape.begin(), tshape.begin() + c.weight);
    wp = place(random_weights(DType::f32, numel(ws), seed + 5), {ws, {}, 0});
  }
  ClassificationEvaluator cpu(spec, Device::cpu(2));
  ClassificationEvaluator dut(spec, device_under_test().device());
  cpu.update(pp.host, tp.host, c.mask > 0 ? mp.host : TensorView{},
             c.weight > 0 ? wp.host : TensorView{});
  dut.update(pp.device, tp.device, c.mask > 0 ? mp.device : TensorView{},
             c.weight > 0 ? wp.device : TensorView{});
  const std::string what = std::string(class_task_name(c.task)) +
                           " C=" + std::to_string(c.classes) + (c.logits ? " logits" : "") +
                           (c.labels ? " labels" : "") + " mask " + std::to_string(c.mask) +
                           " weight rank " + std::to_string(c.weight);
  const ClassificationReport want = cpu.compute();
  ASSERT_GT(want.count, 0u) << what;
  EXPECT_EQ(values(dut.compute()), values(want)) << what;
  // The states are bitwise the same (records and auroc histograms), and cross backends.
  EXPECT_EQ(dut.state().bytes, cpu.state().bytes) << what;
  ClassificationEvaluator both(spec, Device::cpu(1));
  both.merge(dut.state());
  both.merge(cpu.state());
  dut.merge(cpu.state());
  EXPECT_EQ(values(both.compute()), values(dut.compute())) << what;
}

TEST(DeviceParity, SmallClassificationEveryTask) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  check_class_parity({ClassTask::binary, 2, false, false, 0}, 1000, 1);
  check_class_parity({ClassTask::binary, 2, true, false, 1}, 1000, 2);
  check_class_parity({ClassTask::binary, 2, false, true, 0}, 1000, 3);
  check_class_parity({ClassTask::multiclass, 10, false, false, 1}, 2000, 4);
  check_class_parity({ClassTask::multiclass, 10, true, false, 0}, 2000, 5);
  check_class_parity({ClassTask::multiclass, 7, false, true, 0}, 2000, 6);
  check_class_parity({ClassTask::multilabel, 5, false, false, 1}, 1000, 7);
  check_class_parity({ClassTask::multilabel, 5, true, false, 0}, 1000, 8);
  check_class_parity({ClassTask::multilabel, 5, false, false, 2}, 1000, 9);     // full-shape mask
  check_class_parity({ClassTask::multiclass, 6, false, false, 0}, 1000, 10, 1); // misaligned
}

TEST(DeviceParity, SmallClassificationWeights) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // Weighted records: every count's weight sum and the weighted terms, bitwise on both devices.
  check_class_parity({ClassTask::binary, 2, false, false, 0, 1, 0, 1}, 1000, 21);
  check_class_parity({ClassTask::binary, 2, true, false, 1, 1, 0, 1}, 1000, 22);
  check_class_parity({ClassTask::multiclass, 10, false, false, 1, 1, 0, 1}, 2000, 23);
  check_class_parity({ClassTask::multiclass, 10, true, false, 0, 1, 0, 1}, 2000, 24);
  check_class_parity({ClassTask::multiclass, 7, false, true, 0, 1, 0, 1}, 2000, 25);
  check_class_parity({ClassTask::multilabel, 5, false, false, 2, 1, 0, 1}, 1000, 26);
  check_class_parity({ClassTask::multilabel, 5, true, false, 0, 1, 0, 1}, 1000, 27);
  check_class_parity({ClassTask::multiclass, 5, true, false, 0, 1, 3, 2}, 500, 28); // [N, 3]
  // A weighted batch after an unweighted one widens the record on both devices alike.
  ClassificationSpec spec;
  spec.task = ClassTask::binary;
  spec.all_metrics = true;
  TypedBuffer s(DType::f32, 64), t(DType::i64, 64);
  for (std::size_t i = 0; i < 64; ++i) {
    s.set(i, static_cast<double>((i * 37) % 64) / 64.0);
    t.set(i, static_cast<double>((i * 11) % 3 == 0));
  }
  const Placed sp = place(s, {{64}, {}, 0}), tp = place(t, {{64}, {}, 0});
  const Placed w = place(random_weights(DType::f64, 64, 29), {{64}, {}, 0});
  ClassificationEvaluator cpu(spec, Device::cpu(1)), dut(spec, device_under_test().device());
  cpu.update(sp.host, tp.host);
  dut.update(sp.device, tp.device);
  cpu.update(sp.host, tp.host, TensorView{}, w.host);
  dut.update(sp.device, tp.device, TensorView{}, w.device);
  EXPECT_EQ(values(dut.compute()), values(cpu.compute()));
  EXPECT_EQ(dut.state().bytes, cpu.state().bytes);
  // A bad weight: InvalidArgument naming it, at update (CPU) or at compute() (CUDA).
  TypedBuffer bad = random_weights(DType::f32, 64, 30);
  bad.set(9, -1.0);
  const Placed bw = place(bad, {{64}, {}, 0});
  ClassificationEvaluator fresh(spec, device_under_test().device());
  try {
    fresh.update(sp.device, tp.device, TensorView{}, bw.device);
    (void)fresh.compute();
    ADD_FAILURE() << "no error for a negative weight";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("within [2^-24, 2^32)"), std::string::npos) << e.what();
  }
}

TEST(DeviceParity, SmallClassificationOneVsOne) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // Histograms per (class, target): one-vs-one AUROC, and one-vs-rest summed from them.
  check_class_parity({ClassTask::multiclass, 6, false, false, 1, 1, 0, 0, true}, 1500, 31);
  check_class_parity({ClassTask::multiclass, 6, true, false, 0, 1, 0, 1, true}, 1500, 32);
}

TEST(DeviceParity, SmallClassificationWithoutTheConfusionMatrix) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // Per-class counts and class-distance sums: any C, the same bits on both devices.
  check_class_parity({ClassTask::multiclass, 10, false, false, 1, 1, 0, 0, false, true}, 2000, 41);
  check_class_parity({ClassTask::multiclass, 10, true, false, 0, 1, 0, 1, false, true}, 2000, 42);
  check_class_parity({ClassTask::multiclass, 3000, false, true, 0, 1, 0, 0, false, true}, 4000, 43);
  check_class_parity({ClassTask::multiclass, 3000, true, false, 0, 1, 0, 0, false, true}, 300, 44);
}

TEST(DeviceParity, SmallClassificationClassAxisNotLast) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // Scores [N, C, 3], targets [N, 3]: the class axis is 1 and not the last.
  check_class_parity({ClassTask::multiclass, 5, true, false, 0, 1, 3}, 500, 11);
  check_class_parity({ClassTask::multiclass, 5, false, false, 1, 1, 3}, 500, 12);
}

TEST(DeviceParity, SmallClassificationByAxis) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // Per index of a breakdown axis ([N, 7] targets): each sample's counts and terms at its index,
  // the same bits on both devices; weighted, without the matrix, binary and labels too.
  using T = ClassTask;
  check_class_parity({T::multiclass, 5, true, false, 0, 1, 7, 0, false, false, 1}, 400, 51);
  check_class_parity({T::multiclass, 5, false, false, 1, 1, 7, 1, false, true, -1}, 400, 52);
  check_class_parity({T::binary, 2, true, false, 0, 1, 9, 2, false, false, 1}, 300, 53);
  check_class_parity({T::multiclass, 7, false, true, 0, 1, 5, 0, false, false, 1}, 300, 54);
}

TEST(DeviceParity, SmallClassificationByAxisStepsLargeRecordsAndKeys) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // Binary scores by axis 1 of [N, 7, 3] (each index spans 3 samples of a row), of [3, 2500]
  // (a record too large for a CUDA block's shared memory), and float64 scores on a grid with
  // some between float32 values (their bins' keys mixed): records, histograms and keys bitwise
  // the same on both devices.
  struct Shape {
    std::vector<std::int64_t> shape;
    DType dtype;
  };
  const Shape shapes[] = {{{50, 7, 3}, DType::f32}, {{3, 2500}, DType::f32}, {{40, 9}, DType::f64}};
  std::mt19937_64 g(61);
  std::uniform_real_distribution<double> u;
  for (const Shape& c : shapes) {
    const std::int64_t n = numel(c.shape);
    TypedBuffer s(c.dtype, static_cast<std::size_t>(n)), t(DType::i64, static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < s.size(); ++i) {
      const double grid = std::floor(u(g) * 20.0) * 0.05; // ties
      s.set(i, c.dtype == DType::f64 && i % 3 == 0 ? grid + 1e-12 : grid);
      t.set(i, u(g) < grid ? 1.0 : 0.0);
    }
    ClassificationSpec spec;
    spec.task = ClassTask::binary;
    spec.all_metrics = true;
    spec.by_axis = 1;
    const Placed sp = place(s, {c.shape, {}, 0}), tp = place(t, {c.shape, {}, 0});
    ClassificationEvaluator cpu(spec, Device::cpu(2)), dut(spec, device_under_test().device());
    cpu.update(sp.host, tp.host);
    dut.update(sp.device, tp.device);
    const std::string what =
        "shape " + std::to_string(c.shape.size()) + " axes, " + std::string(dtype_name(c.dtype));
    const ClassificationReport want = cpu.compute();
    ASSERT_EQ(want.by_axis_count.size(), static_cast<std::size_t>(c.shape[1])) << what;
    EXPECT_EQ(values(dut.compute()), values(want)) << what;
    EXPECT_EQ(dut.state().bytes, cpu.state().bytes) << what;
  }
}

TEST(DeviceParity, SmallClassificationNanPolicyErrorNamesTheFirstInvalidSample) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  ClassificationSpec spec;
  spec.nan_policy = NanPolicy::error;
  ClassificationEvaluator dut(spec, device_under_test().device());
  TypedBuffer p(DType::f32, 100), t(DType::i64, 100);
  for (std::size_t i = 0; i < 100; ++i) {
    p.set(i, 0.5);
    t.set(i, 1);
  }
  p.set(42, 2.0);
  p.set(77, NAN);
  const Placed pp = place(p, {{100}, {}, 0}), tp = place(t, {{100}, {}, 0});
  dut.update(pp.device, tp.device);
  try {
    (void)dut.compute();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.batch, 0u);
    EXPECT_EQ(e.element, 42u);
  }
  // Each policy raises for its own kind: the out-of-range 2.0 (invalid) at 42, the NaN at 77.
  const struct {
    NanPolicy nan;
    InvalidPolicy invalid;
    std::int64_t first; // -1: no error
  } policies[] = {{NanPolicy::skip, InvalidPolicy::error, 42},
                  {NanPolicy::error, InvalidPolicy::skip, 77},
                  {NanPolicy::skip, InvalidPolicy::skip, -1}};
  for (const auto& c : policies) {
    spec.nan_policy = c.nan;
    spec.invalid = c.invalid;
    ClassificationEvaluator ev(spec, device_under_test().device());
    ev.update(pp.device, tp.device);
    std::int64_t first = -1;
    try {
      EXPECT_EQ(ev.compute().skipped_invalid, 2u);
    } catch (const NonFiniteError& e) {
      first = static_cast<std::int64_t>(e.element);
    }
    EXPECT_EQ(first, c.first);
  }
}

TEST(DeviceParity, LargeClassificationRecordsAndManySamples) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // 1000 classes: the record (1M words) does not fit shared memory on a GPU.
  check_class_parity({ClassTask::multiclass, 1000, true, false, 0}, 3000, 13);
  check_class_parity({ClassTask::binary, 2, false, false, 1}, 1000000, 14);
}

// ---- geometry ------------------------------------------------------------------------------

// Poses, flow or any vectors: `shape` with the vector axis at spec.vector_axis, a 0/1 mask and
// a weight of the vector-less shape (each optional), a few non-finite vectors; the device's
// state against the CPU's, bit for bit, over `batches` batches.
struct GeoCase {
  std::vector<std::int64_t> shape;
  DType dtype;
  bool mask, weight;
  int nonfinite; // vectors with a NaN
  std::size_t misalign = 0;
  std::int64_t modes = 0;  // mode_axis 1: pred [N, modes, target's sample]
  bool normalizer = false; // a PCKh normalizer per row, [N]
};

void check_geo_parity(const GeometrySpec& spec, const GeoCase& c, int batches, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> z;
  const std::int64_t n = numel(c.shape);
  const int rank = static_cast<int>(c.shape.size());
  const int given = spec.vector_axis.value_or(-1);
  const int vaxis = given < 0 ? given + rank : given;
  std::vector<std::int64_t> vshape;
  for (int a = 0; a < rank; ++a) {
    if (a != vaxis) {
      vshape.push_back(c.shape[static_cast<std::size_t>(a)]);
    }
  }
  const std::int64_t vectors = numel(vshape);
  GeometryEvaluator cpu(spec, Device::cpu(2)), dut(spec, device_under_test().device());
  const std::int64_t k_modes = c.modes > 0 ? c.modes : 1;
  std::vector<std::int64_t> pshape = c.shape;
  if (c.modes > 0) {
    pshape.insert(pshape.begin() + 1, c.modes);
  }
  for (int k = 0; k < batches; ++k) {
    TypedBuffer p(c.dtype, static_cast<std::size_t>(n * k_modes), c.misalign),
        t(c.dtype, static_cast<std::size_t>(n), c.misalign);
    const std::int64_t per_row = n / c.shape[0];
    for (std::size_t i = 0; i < t.size(); ++i) {
      t.set(i, 3 * z(g));
    }
    for (std::size_t i = 0; i < p.size(); ++i) { // row, mode, then the target's element
      const auto at = static_cast<std::int64_t>(i);
      const std::int64_t row = at / (per_row * k_modes), e = at % per_row;
      p.set(i, 1.05 * t.get(static_cast<std::size_t>(row * per_row + e)) + 0.3 + 0.4 * z(g));
    }
    for (int b = 0; b < c.nonfinite; ++b) {
      p.set(static_cast<std::size_t>(g() % static_cast<std::uint64_t>(n * k_modes)), NAN);
    }
    TypedBuffer m(DType::u8, static_cast<std::size_t>(vectors)),
        w(DType::f32, static_cast<std::size_t>(vectors));
    for (std::size_t i = 0; i < m.size(); ++i) {
      m.set(i, g() % 5 != 0 ? 1.0 : 0.0);
      w.set(i, g() % 4 == 0 ? 0.0 : 0.25 * static_cast<double>(g() % 9));
    }
    const Placed pp = place(p, {pshape, {}, 0}, c.misalign),
                 tp = place(t, {c.shape, {}, 0}, c.misalign);
    const Placed mp = place(m, {vshape, {}, 0}), wp = place(w, {vshape, {}, 0});
    TypedBuffer z(DType::f32, static_cast<std::size_t>(c.shape[0]));
    for (std::size_t i = 0; i < z.size(); ++i) {
      z.set(i, 0.5 + 0.25 * static_cast<double>(g() % 7));
    }
    const Placed zp = place(z, {{c.shape[0]}, {}, 0});
    cpu.update(pp.host, tp.host, c.mask ? mp.host : TensorView{}, c.weight ? wp.host : TensorView{},
               c.normalizer ? zp.host : TensorView{});
    dut.update(pp.device, tp.device, c.mask ? mp.device : TensorView{},
               c.weight ? wp.device : TensorView{}, c.normalizer ? zp.device : TensorView{});
    device_under_test().synchronize();
  }
  EXPECT_EQ(dut.state().bytes, cpu.state().bytes);
  const GeometryReport a = dut.compute(), b = cpu.compute();
  EXPECT_EQ(a.names, b.names);
  EXPECT_EQ(a.count, b.count);
  // Bit for bit, NaN (a key with a non-finite vector under propagate) included.
  ASSERT_EQ(a.per_key.size(), b.per_key.size());
  for (std::size_t i = 0; i < a.per_key.size(); ++i) {
    ASSERT_EQ(a.per_key[i].size(), b.per_key[i].size());
    EXPECT_EQ(std::memcmp(a.per_key[i].data(), b.per_key[i].data(), a.per_key[i].size() * 8), 0)
        << a.names[i];
  }
}

TEST(DeviceParity, SmallGeometryEveryPath) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  GeometrySpec poses;
  poses.key_axis = 1;
  poses.pck_thresholds = {1.0, 4.0};
  // Poses per joint: masks, weights, non-finite vectors skipped, the alignments on.
  check_geo_parity(poses, {{300, 17, 3}, DType::f32, true, true, 3}, 3, 71);
  poses.nan_policy = NanPolicy::propagate;
  check_geo_parity(poses, {{64, 17, 3}, DType::f64, true, false, 2}, 2, 72);
  // 2-D vectors, float16 misaligned; flow with the vector axis 1 and a validity mask.
  GeometrySpec plane;
  check_geo_parity(plane, {{50, 9, 2}, DType::f16, false, true, 0, 2}, 2, 73);
  GeometrySpec flow;
  flow.vector_axis = 1;
  flow.metrics = {GeoMetric::mpjpe, GeoMetric::px1, GeoMetric::px3, GeoMetric::outlier_rate};
  check_geo_parity(flow, {{2, 2, 40, 50}, DType::bf16, true, false, 1}, 2, 74);
  // 400 keys: records past a block's shared memory, added to the epoch directly.
  GeometrySpec many;
  many.key_axis = 1;
  check_geo_parity(many, {{6, 400, 3}, DType::f32, false, true, 1}, 2, 75);
  // Motion [N, T, J, 3]: fde at the last frame, the error by frame (records per index).
  GeometrySpec motion;
  motion.time_axis = 1;
  motion.by_axis = 1;
  motion.key_axis = 2;
  check_geo_parity(motion, {{30, 8, 5, 3}, DType::f32, true, true, 2}, 2, 77);
  motion.nan_policy = NanPolicy::propagate; // the non-finite vectors' keys and indices read NaN
  check_geo_parity(motion, {{30, 8, 5, 3}, DType::f32, true, false, 2}, 1, 81);
  // Each frame's joints aligned on their own (sample_axes 2), and each joint's track (1): the
  // samples read in their order, the non-finite vectors named in C order.
  GeometrySpec frames;
  frames.sample_axes = {2};
  frames.by_axis = 1;
  frames.key_axis = 2;
  check_geo_parity(frames, {{20, 6, 5, 3}, DType::f32, true, true, 2}, 2, 83);
  GeometrySpec tracks;
  tracks.sample_axes = {1};
  check_geo_parity(tracks, {{20, 6, 5, 3}, DType::f64, false, true, 1}, 1, 84);
  // 30 indices and 20 keys: records past a block's shared memory, by indices included.
  GeometrySpec long_motion;
  long_motion.time_axis = 1;
  long_motion.by_axis = 1;
  long_motion.key_axis = 2;
  check_geo_parity(long_motion, {{12, 30, 20, 3}, DType::f32, false, true, 2}, 1, 82);
  // Trajectories: 6 modes [N, 6, 12, 2] against [N, 12, 2]: the samples' best modes.
  GeometrySpec modes;
  modes.mode_axis = 1;
  modes.time_axis = 1;
  modes.miss_threshold = 1.0;
  check_geo_parity(modes, {{40, 12, 2}, DType::f32, true, true, 2, 0, 6}, 2, 78);
  modes.nan_policy = NanPolicy::propagate;
  check_geo_parity(modes, {{20, 12, 2}, DType::f64, false, false, 1, 0, 3}, 1, 79);
  // PCKh: each row's errors divided by its normalizer for pck and the AUC grid.
  GeometrySpec pckh;
  pckh.key_axis = 1;
  pckh.pck_thresholds = {0.5, 1.0};
  pckh.auc_max = 2.0;
  check_geo_parity(pckh, {{200, 16, 2}, DType::f32, true, true, 2, 0, 0, true}, 2, 85);
  // The error sketch (quantiles; unweighted): its counts in the state, bit for bit.
  GeometrySpec quantiles;
  quantiles.metrics = {GeoMetric::mpjpe, GeoMetric::median_error, GeoMetric::error_q99};
  check_geo_parity(quantiles, {{64, 17, 3}, DType::f32, true, false, 1}, 2, 80);
}

TEST(DeviceParity, SmallGeometryErrorsNameTheVector) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  GeometrySpec spec;
  spec.nan_policy = NanPolicy::error;
  TypedBuffer p(DType::f32, 60), t(DType::f32, 60), w(DType::f32, 20);
  for (std::size_t i = 0; i < 60; ++i) {
    p.set(i, static_cast<double>(i));
    t.set(i, 0.5 * static_cast<double>(i));
  }
  for (std::size_t i = 0; i < 20; ++i) {
    w.set(i, 1.0);
  }
  p.set(3 * 13 + 1, NAN); // row 2, vector 3: vector 13 of the batch
  const Placed pp = place(p, {{4, 5, 3}, {}, 0}), tp = place(t, {{4, 5, 3}, {}, 0});
  GeometryEvaluator dut(spec, device_under_test().device());
  dut.update(pp.device, tp.device);
  try {
    (void)dut.compute();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.element, 13u);
  }
  w.set(7, -1.0);
  const Placed wp = place(w, {{4, 5}, {}, 0});
  GeometryEvaluator weighted(GeometrySpec{}, device_under_test().device());
  bool raised = false;
  try {
    weighted.update(pp.device, tp.device, TensorView{}, wp.device);
    (void)weighted.compute(); // the CPU raises at update, CUDA at compute
  } catch (const InvalidArgument& e) {
    raised = std::string(e.what()).find("the weight of vector 7") != std::string::npos;
  }
  EXPECT_TRUE(raised);
  // Under a mask that leaves the vector out, the bad weight still raises (every weight is
  // checked), and a merge into the evaluator does not hide it.
  TypedBuffer m(DType::u8, 20);
  for (std::size_t i = 0; i < 20; ++i) {
    m.set(i, i == 7 ? 0.0 : 1.0);
  }
  const Placed mp = place(m, {{4, 5}, {}, 0});
  GeometryEvaluator masked(GeometrySpec{}, device_under_test().device());
  GeometryEvaluator other(GeometrySpec{}, Device::cpu(1));
  other.update(pp.host, tp.host);
  raised = false;
  try {
    masked.update(pp.device, tp.device, mp.device, wp.device);
    masked.merge(other.state());
    (void)masked.compute();
  } catch (const InvalidArgument& e) {
    raised = std::string(e.what()).find("the weight of vector 7") != std::string::npos;
  }
  EXPECT_TRUE(raised);
}

TEST(DeviceParity, SmallGeometryNamesTheBadNormalizer) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  GeometrySpec spec;
  spec.pck_thresholds = {0.5};
  TypedBuffer p(DType::f32, 60), t(DType::f32, 60), n(DType::f32, 20);
  for (std::size_t i = 0; i < 60; ++i) {
    p.set(i, static_cast<double>(i));
    t.set(i, 0.5 * static_cast<double>(i));
  }
  for (std::size_t i = 0; i < 20; ++i) {
    n.set(i, i == 11 ? 0.0 : 2.0); // row 2, vector 1: vector 11 of the batch
  }
  const Placed pp = place(p, {{4, 5, 3}, {}, 0}), tp = place(t, {{4, 5, 3}, {}, 0}),
               np = place(n, {{4, 5}, {}, 0});
  GeometryEvaluator dut(spec, device_under_test().device());
  bool raised = false;
  try {
    dut.update(pp.device, tp.device, TensorView{}, TensorView{}, np.device);
    (void)dut.compute(); // the CPU raises at update, CUDA at compute
  } catch (const InvalidArgument& e) {
    raised = std::string(e.what()).find("the normalizer of vector 11") != std::string::npos;
  }
  EXPECT_TRUE(raised);
}

TEST(DeviceParity, SmallGeometryModesNameTheBadWeight) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  GeometrySpec spec;
  spec.mode_axis = 1;
  spec.time_axis = 1;
  TypedBuffer p(DType::f32, 5 * 3 * 4 * 2), t(DType::f32, 5 * 4 * 2), w(DType::f32, 20);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p.set(i, 0.1 * static_cast<double>(i % 13));
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    t.set(i, 0.2 * static_cast<double>(i % 7));
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    w.set(i, i == 9 ? NAN : 1.0); // row 2, step 1
  }
  const Placed pp = place(p, {{5, 3, 4, 2}, {}, 0}), tp = place(t, {{5, 4, 2}, {}, 0}),
               wp = place(w, {{5, 4}, {}, 0});
  GeometryEvaluator dut(spec, device_under_test().device());
  bool raised = false;
  try {
    dut.update(pp.device, tp.device, TensorView{}, wp.device);
    (void)dut.compute();
  } catch (const InvalidArgument& e) {
    raised = std::string(e.what()).find("the weight of vector 9") != std::string::npos;
  }
  EXPECT_TRUE(raised);
}

TEST(DeviceParity, LargeGeometryRowsPastOneAlignmentChunk) {
  GPUEVAL_REQUIRE_DEVICE_UNDER_TEST();
  // 70,000 rows: the CUDA backend aligns them in two chunks of its scratch.
  GeometrySpec spec;
  spec.metrics = {GeoMetric::pa_mpjpe, GeoMetric::n_mpjpe, GeoMetric::mpjpe};
  check_geo_parity(spec, {{70000, 4, 2}, DType::f32, false, false, 0}, 1, 76);
}

} // namespace
} // namespace gpueval
