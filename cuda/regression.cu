// The regression family's CUDA backend: one fused pass per batch over predictions, targets and
// mask (the quantile sketch's counts included), per-block partials merged on the device in a
// fixed tree, no host synchronisation and no allocation in update() (so it can be captured in a
// CUDA graph), compute() the only copy back.
//
// The work split is cuda/index_math.hpp; the statistics are ops/regression.hpp, the same
// run_fold, run_to_record and combine the CPU backend uses; the order of work across the
// callers' streams is cuda/stream_order.hpp. bench/NOTES.md has the registers, the instructions
// per pair and what bounds each configuration.
#include <cub/block/block_reduce.cuh>
#include <cuda_fp16.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.hpp"
#include "cuda/backend_device.hpp"
#include "cuda/backends.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/device_guard.hpp"
#include "cuda/device_view.cuh"
#include "cuda/index_math.hpp"
#include "cuda/launch.cuh"
#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/ops/regression.hpp"
#include "regression/aggregate.hpp"
#include "regression/backend.hpp"

namespace gpueval::cuda {

namespace {

using detail::FullRecord;

// Blocks of the dense fold kernels resident per SM that the register budget must allow (64K
// registers / (3 x 256 threads) = 85 per thread): enough loads in flight to cover the memory
// latency (bench/NOTES.md). The generic path (any layout, every statistic group, the sketch)
// holds more state: two blocks, 128 registers, fewer spills.
inline constexpr int kDenseMinBlocks = 3;
inline constexpr int kGenericMinBlocks = 2;
// Threads per key in the keys regime's merge of row chunks (at most kMaxChunks partials).
inline constexpr int kChunkMergeThreads = 32;

// What every fold kernel needs besides its inputs: the non-finite policy, and the quantile
// sketch's counts when the metrics ask for them.
struct FoldArgs {
  NanPolicy policy = NanPolicy::skip;
  std::uint64_t batch = 0;
  unsigned long long* first_bad = nullptr;
  unsigned long long* bad_weight = nullptr; // the first pair whose weight is not a weight
  unsigned long long* sketch = nullptr;     // channels x buckets counts, or null
  int sketch_bits = 0;
  std::int64_t sketch_buckets = 0;
  std::int64_t channels = 1;
};

// ---- sources: how a kernel reads the pair at element e of a batch -------------------------------
//
// A source's fetch(e) brings one pair (and its mask byte) into registers as stored; pred(),
// target(), finite() and in_mask() read it. Kernels fetch several pairs before folding any, so
// that several loads of each thread are in flight.

// Storage formats of the dense path: the stored value, its exact conversion to double, and a
// finiteness test on the bits (an integer test, not two FP64 operations).
struct F32 {
  using Raw = float;
  __device__ static double value(float x) { return x; }
  __device__ static bool finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
  }
};
struct F64 {
  using Raw = double;
  __device__ static double value(double x) { return x; }
  __device__ static bool finite(double x) { return (__double2hiint(x) & 0x7ff00000) != 0x7ff00000; }
};
struct F16 {
  using Raw = std::uint16_t;
  __device__ static double value(std::uint16_t b) { return __half2float(__ushort_as_half(b)); }
  __device__ static bool finite(std::uint16_t b) { return (b & 0x7c00u) != 0x7c00u; }
};
struct BF16 {
  using Raw = std::uint16_t;
  __device__ static double value(std::uint16_t b) {
    return __uint_as_float(static_cast<unsigned>(b) << 16);
  }
  __device__ static bool finite(std::uint16_t b) { return (b & 0x7f80u) != 0x7f80u; }
};

// C-contiguous, naturally aligned predictions and targets of fixed formats; optionally a
// C-contiguous one-byte mask of the tensor's shape or a prefix of it (`cover` consecutive
// elements share a mask byte).
template <class PF, class TF, bool kMask> struct DenseSource {
  static constexpr bool kMayPropagate = false; // nan_policy=propagate takes the generic path
  static constexpr int kMinBlocks = kDenseMinBlocks;
  const typename PF::Raw* __restrict__ pred;
  const typename TF::Raw* __restrict__ target;
  const unsigned char* __restrict__ mask;
  FastDivisor cover;

  struct Item {
    typename PF::Raw p;
    typename TF::Raw t;
    unsigned char m;
  };
  __device__ __forceinline__ Item fetch(std::int64_t e) const {
    Item it;
    it.p = pred[e];
    it.t = target[e];
    it.m = kMask ? mask[cover.divide(static_cast<std::uint64_t>(e))] : 1;
    return it;
  }
  __device__ __forceinline__ static double p_of(const Item& it) { return PF::value(it.p); }
  __device__ __forceinline__ static double t_of(const Item& it) { return TF::value(it.t); }
  __device__ __forceinline__ static bool finite(const Item& it) {
    return PF::finite(it.p) && TF::finite(it.t);
  }
  __device__ __forceinline__ static bool in_mask(const Item& it) { return it.m != 0; }
  __device__ __forceinline__ static double weight_of(const Item&) { return 1.0; }
};

// Any dtype, any strides (sliced, transposed, broadcast, misaligned), any mask; kWeighted: a
// weight per sample. Unweighted, every weight is the constant 1 and the compiler drops the
// products by it (a weighted instantiation costs the unweighted path nothing: bench/NOTES.md).
template <bool kWeighted> struct GenericSourceT : BatchViews {
  static constexpr bool kMayPropagate = true;
  static constexpr int kMinBlocks = kGenericMinBlocks;
  std::int64_t cover = 1;
  DeviceView weight; // kWeighted: a float view of the tensor's shape or a prefix of it
  std::int64_t weight_cover = 1;

  struct Item {
    double p, t, w;
    bool m;
  };
  __device__ __forceinline__ Item fetch(std::int64_t e) const {
    return Item{load(pred, e), load(target, e), kWeighted ? load(weight, e / weight_cover) : 1.0,
                !has_mask || mask_at(mask, cover, e)};
  }
  __device__ __forceinline__ static double weight_of(const Item& it) {
    return kWeighted ? it.w : 1.0;
  }
  __device__ __forceinline__ static double p_of(const Item& it) { return it.p; }
  __device__ __forceinline__ static double t_of(const Item& it) { return it.t; }
  __device__ __forceinline__ static bool finite(const Item& it) {
    return ops::is_finite(it.p) && ops::is_finite(it.t);
  }
  __device__ __forceinline__ static bool in_mask(const Item& it) { return it.m; }
};

// Pairs per thread fetched before any is folded: about 64 bytes of loads in flight per thread for
// the dense formats (bench/NOTES.md; scripts/kernel-report mirrors this rule), 4 for the generic
// path (whose loads branch on the dtype).
template <class Src> struct Unroll { static constexpr int value = 4; };
template <class PF, class TF, bool kMask> struct Unroll<DenseSource<PF, TF, kMask>> {
  static constexpr int bytes =
      static_cast<int>(sizeof(typename PF::Raw) + sizeof(typename TF::Raw)) + (kMask ? 1 : 0);
  static constexpr int value = 64 / bytes >= 13 ? 16 : (64 / bytes >= 6 ? 8 : 4);
};

// ---- the fold of one pair ---------------------------------------------------------------------

// Folds the pair at element e (when `valid`: a lane past the end folds nothing) into `run`, the
// same decisions the CPU backend makes: masked-out pairs and pairs of weight 0 are not counted;
// non-finite ones are skipped and counted, propagated, or (nan_policy=error) their position kept
// in `first_bad`, the thread's smallest, which the kernel publishes once at its end (no atomic,
// no branch in the hot loop). A pair whose weight is negative or not finite is left out and its
// position kept in `bad_weight` (compute() raises under every policy). Returns whether the pair
// was included. Every lane of a warp calls it (the sketch's warp aggregation needs them all).
template <class Src, unsigned G>
__device__ __forceinline__ bool
fold_pair(const FoldArgs& a, ops::Run<G>& run, const typename Src::Item& it, bool valid,
          std::int64_t e, unsigned long long& first_bad, unsigned long long& bad_weight) {
  const double p = Src::p_of(it);
  const double t = Src::t_of(it);
  const double w = Src::weight_of(it);
  const bool finite = Src::finite(it);
  const bool weighable = ops::is_weight(w);
  const bool counted = valid && Src::in_mask(it) && weighable && w != 0.0;
  const bool include = ops::included(counted, finite, a.policy == NanPolicy::propagate);
  // The ops take a finite weight on every lane: a bad one (left out, raised at compute) as 0.
  // For the unweighted sources w is the constant 1 and so is this.
  const double w_finite = weighable ? w : 0.0;
  if (Src::kMayPropagate && a.policy == NanPolicy::propagate) {
    ops::RegressionOps<G>::template run_fold<true>(run, p, t, include, w_finite);
  } else {
    // Included pairs are finite: max and min need not propagate a NaN.
    ops::RegressionOps<G>::run_fold_masked(run, p, t, include, w_finite);
  }
  const unsigned long long at = static_cast<unsigned long long>(e);
  bad_weight = (valid && !weighable && at < bad_weight) ? at : bad_weight; // masked or not
  run.skipped += ops::skipped(counted, finite, a.policy == NanPolicy::propagate) ? 1.0 : 0.0;
  first_bad = (counted && !finite && at < first_bad) ? at : first_bad;
  return include;
}

// Publishes a thread's first non-finite element (nan_policy=error) and first bad weight as the
// batch's, if they are the smallest: one atomic per thread that saw one.
__device__ __forceinline__ void publish_first_bad(const FoldArgs& a, unsigned long long element,
                                                  unsigned long long weight_element) {
  const std::uint64_t b =
      a.batch < (std::uint64_t{1} << 24) ? a.batch : (std::uint64_t{1} << 24) - 1;
  if (a.policy == NanPolicy::error && element != ~0ull) {
    atomicMin(a.first_bad, static_cast<unsigned long long>(encode_position(b, element)));
  }
  if (weight_element != ~0ull) {
    atomicMin(a.bad_weight, static_cast<unsigned long long>(encode_position(b, weight_element)));
  }
}

// Adds an included pair's |p - t| to its channel's sketch bucket. Lanes of a warp that hit the
// same bucket add together (one atomic for the group); the counts are integers, so the order of
// the additions does not matter. Every lane of the warp must call it.
__device__ __forceinline__ void sketch_add(const FoldArgs& a, std::int64_t channel, double p,
                                           double t, bool include) {
  const unsigned lane = threadIdx.x & 31u;
  const unsigned long long index =
      include ? static_cast<unsigned long long>(channel * a.sketch_buckets +
                                                ops::sketch::bucket(p - t, a.sketch_bits))
              : ~static_cast<unsigned long long>(lane); // a group of its own, adding nothing
  const unsigned peers = __match_any_sync(0xffffffffu, index);
  if (include && lane == static_cast<unsigned>(__ffs(static_cast<int>(peers)) - 1)) {
    atomicAdd(a.sketch + index, static_cast<unsigned long long>(__popc(peers)));
  }
}

// One iteration of a fold loop: the kUnroll pairs at elements base + u * stride, u < kUnroll, all
// fetched before any is folded. kFull: every element of the iteration is in range (the loop knows
// it), so no pair needs a bounds check; otherwise pairs at or past `limit` are not valid. Idle
// lanes (`active` false) fold nothing that is ever read: their fetches must be in range (the
// kernels give them an in-range base) and their runs are discarded.
//
// When every active lane's pairs are in the mask and finite, and their runs have their shift (the
// common case of dense data), the warp takes the hot form: no selects, no bookkeeping of
// excluded pairs, one count update. Otherwise each pair goes through fold_pair.
template <class Src, unsigned G, bool kSketch, int kUnroll, bool kFull>
__device__ __forceinline__ void
fold_iteration(const Src& src, const FoldArgs& a, ops::Run<G>& run, std::int64_t base,
               std::int64_t stride, std::int64_t limit, bool active, std::int64_t channel,
               unsigned long long& first_bad, unsigned long long& bad_weight) {
  typename Src::Item items[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::int64_t e = base + u * stride;
    items[u] = src.fetch(kFull || e < limit ? e : 0); // past the end: a harmless read of 0
  }
  if constexpr (kFull && !Src::kMayPropagate && !kSketch) {
    bool ready = run.k > 0.0;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      ready = ready & Src::in_mask(items[u]) & Src::finite(items[u]);
    }
    if (__all_sync(0xffffffffu, ready | !active)) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        ops::RegressionOps<G>::template run_fold_started<false>(run, Src::p_of(items[u]),
                                                                Src::t_of(items[u]));
      }
      run.k += static_cast<double>(kUnroll);
      run.w += static_cast<double>(kUnroll);
      return;
    }
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::int64_t e = base + u * stride;
    const bool valid = active && (kFull || e < limit);
    const bool included = fold_pair<Src, G>(a, run, items[u], valid, e, first_bad, bad_weight);
    if constexpr (kSketch) {
      sketch_add(a, channel, Src::p_of(items[u]), Src::t_of(items[u]), included);
    }
  }
}

template <unsigned G> struct Combine {
  using Record = ops::RegressionRecord<G>;
  __device__ __forceinline__ Record operator()(const Record& x, const Record& y) const {
    return ops::RegressionOps<G>::combine(x, y);
  }
};

// Folds `run` into the thread's record in shared memory and starts a new run. The record lives
// in shared memory, not registers, so that the hot loop keeps only the run.
template <unsigned G>
__device__ __forceinline__ void flush(ops::Run<G>& run, ops::RegressionRecord<G>& record) {
  using Ops = ops::RegressionOps<G>;
  record = Ops::combine(record, Ops::run_to_record(run));
  run = ops::Run<G>{};
}

// ---- rows regime (K <= kMaxRowKeys) -------------------------------------------------------------

// Block b folds its rows; thread t (< lanes) the elements of key t % K; then the threads of each
// key merge in a fixed pairwise tree into the block's partial for that key.
template <class Src, unsigned G, bool kSketch>
__global__ void __launch_bounds__(kThreads, Src::kMinBlocks)
    rows_kernel(Src src, FoldArgs a, RowSplit split, ops::RegressionRecord<G>* partials) {
  using Ops = ops::RegressionOps<G>;
  using Record = typename Ops::Record;
  constexpr int kUnroll = Unroll<Src>::value;
  constexpr int kFlushEvery = ops::kMaxRunLength / kUnroll; // iterations per run
  extern __shared__ __align__(16) unsigned char smem[];
  Record* records = reinterpret_cast<Record*>(smem);
  const int b = static_cast<int>(blockIdx.x);
  const int t = static_cast<int>(threadIdx.x);
  const bool active = t < split.lanes;
  const std::int64_t keys = split.keys;
  const std::int64_t end = split.row_end(b) * keys;
  const std::int64_t lanes = split.lanes;
  const std::int64_t channel = (t % keys) % a.channels;
  records[t] = Record{};
  ops::Run<G> run{};
  unsigned long long first_bad = ~0ull, bad_weight = ~0ull;
  // The same trip counts for every thread of the block: warps stay converged. The inner loop is
  // one run of at most kMaxRunLength pairs; the flush (two divisions) sits outside it. An idle
  // thread walks lane 0's elements (in range, never folded).
  const std::int64_t block_first = split.row_begin(b) * keys;
  const std::int64_t first = block_first + (active ? t : 0);
  const std::int64_t step = static_cast<std::int64_t>(kUnroll) * lanes;
  const std::int64_t iterations = split.iterations(kUnroll);
  const std::int64_t full_iterations = (end - block_first) / step; // no element past the end
  for (std::int64_t run_start = 0; run_start < iterations; run_start += kFlushEvery) {
    const std::int64_t run_end =
        run_start + kFlushEvery < iterations ? run_start + kFlushEvery : iterations;
    for (std::int64_t it = run_start; it < run_end; ++it) {
      if (it < full_iterations) {
        fold_iteration<Src, G, kSketch, kUnroll, true>(src, a, run, first + it * step, lanes, end,
                                                       active, channel, first_bad, bad_weight);
      } else {
        fold_iteration<Src, G, kSketch, kUnroll, false>(src, a, run, first + it * step, lanes, end,
                                                        active, channel, first_bad, bad_weight);
      }
    }
    flush(run, records[t]);
  }
  publish_first_bad(a, first_bad, bad_weight);
  // records[j], j < lanes, belongs to key j % K: pairwise tree over each key's lanes / K records.
  const int per_key = split.lanes / static_cast<int>(keys);
  const int slot = t / static_cast<int>(keys);
  for (int s = 1; s < per_key; s *= 2) {
    __syncthreads();
    if (active && slot % (2 * s) == 0 && slot + s < per_key) {
      records[t] = Ops::combine(records[t], records[t + s * static_cast<int>(keys)]);
    }
  }
  __syncthreads();
  if (t < keys) {
    partials[static_cast<std::int64_t>(b) * keys + t] = records[t];
  }
}

// Merge: block k folds key k's `count` partials (partial i of key k at i * keys + k) into the
// epoch record: thread i takes partials i, i + kMergeThreads, ... in order, then a fixed cub tree.
template <unsigned G, int kMergeThreads>
__global__ void __launch_bounds__(kMergeThreads)
    merge_kernel(const ops::RegressionRecord<G>* partials, int count, std::int64_t keys,
                 ops::RegressionRecord<G>* epoch) {
  using Ops = ops::RegressionOps<G>;
  using Record = typename Ops::Record;
  using Reduce = cub::BlockReduce<Record, kMergeThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const std::int64_t k = blockIdx.x;
  Record acc{};
  for (int i = static_cast<int>(threadIdx.x); i < count; i += kMergeThreads) {
    acc = Ops::combine(acc, partials[static_cast<std::int64_t>(i) * keys + k]);
  }
  const Record total = Reduce(temp).Reduce(acc, Combine<G>{});
  if (threadIdx.x == 0) {
    epoch[k] = Ops::combine(epoch[k], total);
  }
}

// ---- keys regime (K > kMaxRowKeys) --------------------------------------------------------------

// Thread t of key block x owns key x * kThreads + t and folds rows [row_begin(c), row_end(c)) of
// it, c = blockIdx.y; with one chunk straight into the epoch record (no other thread touches
// it), else into the chunk's partial.
template <class Src, unsigned G, bool kSketch>
__global__ void __launch_bounds__(kThreads, Src::kMinBlocks)
    keys_kernel(Src src, FoldArgs a, KeySplit split, ops::RegressionRecord<G>* out, bool direct) {
  using Ops = ops::RegressionOps<G>;
  using Record = typename Ops::Record;
  constexpr int kUnroll = Unroll<Src>::value;
  constexpr int kFlushEvery = ops::kMaxRunLength / kUnroll;
  extern __shared__ __align__(16) unsigned char smem[];
  Record* records = reinterpret_cast<Record*>(smem);
  const int t = static_cast<int>(threadIdx.x);
  const int c = static_cast<int>(blockIdx.y);
  const std::int64_t k = split.key(static_cast<int>(blockIdx.x), t);
  const bool active = k >= 0;
  const std::int64_t keys = split.keys;
  const std::int64_t r0 = split.row_begin(c), r1 = split.row_end(c);
  const std::int64_t channel = active ? k % a.channels : 0;
  records[t] = Record{};
  ops::Run<G> run{};
  unsigned long long first_bad = ~0ull, bad_weight = ~0ull;
  const std::int64_t column = active ? k : 0; // an idle thread walks key 0 (never folded)
  const std::int64_t iterations = (r1 - r0 + kUnroll - 1) / kUnroll; // the same for the block
  const std::int64_t full_iterations = (r1 - r0) / kUnroll;
  for (std::int64_t run_start = 0; run_start < iterations; run_start += kFlushEvery) {
    const std::int64_t run_end =
        run_start + kFlushEvery < iterations ? run_start + kFlushEvery : iterations;
    for (std::int64_t it = run_start; it < run_end; ++it) {
      const std::int64_t base = KeySplit::element(r0 + it * kUnroll, column, keys);
      if (it < full_iterations) {
        fold_iteration<Src, G, kSketch, kUnroll, true>(src, a, run, base, keys, 0, active, channel,
                                                       first_bad, bad_weight);
      } else {
        fold_iteration<Src, G, kSketch, kUnroll, false>(src, a, run, base, keys,
                                                        KeySplit::element(r1, 0, keys), active,
                                                        channel, first_bad, bad_weight);
      }
    }
    flush(run, records[t]);
  }
  publish_first_bad(a, first_bad, bad_weight);
  if (active) {
    if (direct) {
      out[k] = Ops::combine(out[k], records[t]);
    } else {
      out[static_cast<std::int64_t>(c) * keys + k] = records[t];
    }
  }
}

template <unsigned G>
__global__ void init_kernel(ops::RegressionRecord<G>* epoch, std::int64_t keys) {
  const std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < keys) {
    epoch[k] = ops::RegressionRecord<G>{};
  }
}

// ---- host side ----------------------------------------------------------------------------------

// Where one update's kernels write.
struct Target {
  void* epoch = nullptr;
  void* partials = nullptr;
  cudaStream_t stream = nullptr;
};

// Everything that depends on the statistic groups, behind one interface.
class KernelSet {
public:
  virtual ~KernelSet() = default;
  virtual std::size_t record_size() const = 0;
  virtual void init(void* epoch, std::int64_t keys, cudaStream_t s) = 0;
  virtual void update(const detail::Batch& batch, const FoldArgs& a, const Target& out) = 0;
  virtual std::vector<FullRecord> widen(const std::vector<unsigned char>& raw,
                                        std::int64_t keys) const = 0;
  virtual std::vector<unsigned char> narrow(const std::vector<FullRecord>& full) const = 0;
};

bool aligned(const void* p, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

template <unsigned G> class KernelSetFor final : public KernelSet {
public:
  using Record = ops::RegressionRecord<G>;
  std::size_t record_size() const override { return sizeof(Record); }

  void init(void* epoch, std::int64_t keys, cudaStream_t s) override {
    const int blocks = static_cast<int>((keys + kThreads - 1) / kThreads);
    GPUEVAL_LAUNCH(init_kernel<G>, blocks, kThreads, 0, s, static_cast<Record*>(epoch), keys);
  }

  void update(const detail::Batch& batch, const FoldArgs& a, const Target& out) override {
    // The dense path: default metrics, no sketch, nan_policy skip or error, contiguous aligned
    // float inputs of the common dtype pairs, no mask or a contiguous one-byte mask. Everything
    // else: the generic path.
    if constexpr (G == 0) {
      if (a.sketch == nullptr && a.policy != NanPolicy::propagate && !batch.has_weight() &&
          dense_dispatch(batch, a, out)) {
        return;
      }
    }
    if (batch.has_weight()) { // weights and quantile metrics do not meet (the evaluator)
      GenericSourceT<true> src;
      static_cast<BatchViews&>(src) = batch_views(batch.pred, batch.target, batch.mask);
      src.cover = batch.mask_cover;
      src.weight = device_view(batch.weight);
      src.weight_cover = batch.weight_cover;
      run<GenericSourceT<true>, false>(src, batch, a, out);
      return;
    }
    GenericSourceT<false> src;
    static_cast<BatchViews&>(src) = batch_views(batch.pred, batch.target, batch.mask);
    src.cover = batch.mask_cover;
    if (a.sketch != nullptr) {
      run<GenericSourceT<false>, true>(src, batch, a, out);
    } else {
      run<GenericSourceT<false>, false>(src, batch, a, out);
    }
  }

  std::vector<FullRecord> widen(const std::vector<unsigned char>& raw,
                                std::int64_t keys) const override {
    std::vector<FullRecord> out(static_cast<std::size_t>(keys));
    for (std::int64_t k = 0; k < keys; ++k) {
      Record r;
      std::memcpy(&r, raw.data() + k * sizeof(Record), sizeof(Record));
      out[static_cast<std::size_t>(k)] = ops::widen<kAllGroups>(r);
    }
    return out;
  }

  std::vector<unsigned char> narrow(const std::vector<FullRecord>& full) const override {
    std::vector<unsigned char> out(full.size() * sizeof(Record));
    for (std::size_t k = 0; k < full.size(); ++k) {
      Record r{};
      static_cast<ops::CoreStats&>(r) = static_cast<const ops::CoreStats&>(full[k]);
      if constexpr ((G & kGroupRange) != 0) {
        static_cast<ops::RangeStats&>(r) = static_cast<const ops::RangeStats&>(full[k]);
      }
      if constexpr ((G & kGroupPct) != 0) {
        static_cast<ops::PctStats&>(r) = static_cast<const ops::PctStats&>(full[k]);
      }
      if constexpr ((G & kGroupLog) != 0) {
        static_cast<ops::LogStats&>(r) = static_cast<const ops::LogStats&>(full[k]);
      }
      std::memcpy(out.data() + k * sizeof(Record), &r, sizeof(Record));
    }
    return out;
  }

private:
  // Launches the pass (and the merge) for a source.
  template <class Src, bool kSketch>
  void run(const Src& src, const detail::Batch& batch, const FoldArgs& a, const Target& out) {
    const std::int64_t keys = batch.keys;
    const std::size_t smem = static_cast<std::size_t>(kThreads) * sizeof(Record);
    auto* epoch = static_cast<Record*>(out.epoch);
    auto* partials = static_cast<Record*>(out.partials);
    if (keys <= kMaxRowKeys) {
      const RowSplit split = row_split(batch.rows, keys);
      GPUEVAL_LAUNCH((rows_kernel<Src, G, kSketch>), split.blocks, kThreads, smem, out.stream, src,
                     a, split, partials);
      GPUEVAL_LAUNCH((merge_kernel<G, kThreads>), static_cast<unsigned>(keys), kThreads, 0,
                     out.stream, partials, split.blocks, keys, epoch);
      return;
    }
    const KeySplit split = key_split(batch.rows, keys);
    const bool direct = split.chunks == 1;
    const dim3 grid(static_cast<unsigned>(split.key_blocks), static_cast<unsigned>(split.chunks));
    GPUEVAL_LAUNCH((keys_kernel<Src, G, kSketch>), grid, kThreads, smem, out.stream, src, a, split,
                   direct ? epoch : partials, direct);
    if (!direct) {
      GPUEVAL_LAUNCH((merge_kernel<G, kChunkMergeThreads>), static_cast<unsigned>(keys),
                     kChunkMergeThreads, 0, out.stream, partials, split.chunks, keys, epoch);
    }
  }

  template <class PF, class TF>
  bool dense_with(const detail::Batch& batch, const FoldArgs& a, const Target& out) {
    if (!aligned(batch.pred.data, sizeof(typename PF::Raw)) ||
        !aligned(batch.target.data, sizeof(typename TF::Raw))) {
      return false;
    }
    const auto* p = static_cast<const typename PF::Raw*>(batch.pred.data);
    const auto* t = static_cast<const typename TF::Raw*>(batch.target.data);
    if (!batch.has_mask()) {
      run<DenseSource<PF, TF, false>, false>({p, t, nullptr, FastDivisor{}}, batch, a, out);
      return true;
    }
    const TensorView& m = batch.mask;
    if (!m.is_contiguous() || dtype_size(m.dtype) != 1) {
      return false;
    }
    const FastDivisor cover = FastDivisor::make(static_cast<std::uint64_t>(batch.mask_cover));
    run<DenseSource<PF, TF, true>, false>({p, t, static_cast<const unsigned char*>(m.data), cover},
                                          batch, a, out);
    return true;
  }

  bool dense_dispatch(const detail::Batch& batch, const FoldArgs& a, const Target& out) {
    if (!batch.pred.is_contiguous() || !batch.target.is_contiguous()) {
      return false;
    }
    const DType pd = batch.pred.dtype, td = batch.target.dtype;
    if (pd == DType::f32 && td == DType::f32) {
      return dense_with<F32, F32>(batch, a, out);
    }
    if (pd == DType::bf16 && td == DType::bf16) {
      return dense_with<BF16, BF16>(batch, a, out);
    }
    if (pd == DType::f16 && td == DType::f16) {
      return dense_with<F16, F16>(batch, a, out);
    }
    if (pd == DType::f64 && td == DType::f64) {
      return dense_with<F64, F64>(batch, a, out);
    }
    if (pd == DType::bf16 && td == DType::f32) { // autocast predictions, float targets
      return dense_with<BF16, F32>(batch, a, out);
    }
    if (pd == DType::f16 && td == DType::f32) {
      return dense_with<F16, F32>(batch, a, out);
    }
    return false;
  }
};

std::unique_ptr<KernelSet> kernel_set(unsigned groups) {
  switch (groups & kAllGroups) {
  case 0:
    return std::make_unique<KernelSetFor<0>>();
  case 1:
    return std::make_unique<KernelSetFor<1>>();
  case 2:
    return std::make_unique<KernelSetFor<2>>();
  case 3:
    return std::make_unique<KernelSetFor<3>>();
  case 4:
    return std::make_unique<KernelSetFor<4>>();
  case 5:
    return std::make_unique<KernelSetFor<5>>();
  case 6:
    return std::make_unique<KernelSetFor<6>>();
  default:
    return std::make_unique<KernelSetFor<7>>();
  }
}

class CudaBackend final : public detail::Backend {
public:
  explicit CudaBackend(int index) : index_(index), device_(index) {}

  // Allocates everything update() will ever need: update itself never allocates (a CUDA graph
  // can capture it once the layout is known, i.e. after the first update or from a spec with
  // its sample shape).
  void configure(const RegressionSpec& spec_in, const KeyLayout& layout_in) override {
    DeviceGuard guard(index_);
    kernels_ = kernel_set(spec_in.groups());
    policy_ = spec_in.nan_policy;
    keys_ = layout_in.keys;
    const std::size_t record = kernels_->record_size();
    epoch_ = DeviceBuffer(index_, static_cast<std::size_t>(keys_) * record);
    partials_ = DeviceBuffer(index_, static_cast<std::size_t>(partial_records(keys_)) * record);
    first_bad_ = DeviceBuffer(index_, 2 * sizeof(unsigned long long)); // non-finite, weight
    sketch_bits_ = spec_in.quantile_bits();
    channels_ = layout_in.channels;
    sketch_size_ = sketch_bits_ > 0 ? channels_ * ops::sketch::buckets(sketch_bits_) : 0;
    if (sketch_size_ > 0) {
      sketch_ = DeviceBuffer(index_, static_cast<std::size_t>(sketch_size_) * 8);
    }
    configured_ = true;
    reset(nullptr);
    GPUEVAL_CUDA_TRY(cudaDeviceSynchronize());
    device_.settled();
  }

  void update(const detail::Batch& batch, StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    FoldArgs a;
    a.policy = policy_;
    a.batch = batch.index;
    a.first_bad = first_bad_.as<unsigned long long>();
    a.bad_weight = a.first_bad + 1;
    if (sketch_size_ > 0) {
      a.sketch = sketch_.as<unsigned long long>();
      a.sketch_bits = sketch_bits_;
      a.sketch_buckets = ops::sketch::buckets(sketch_bits_);
      a.channels = channels_;
    }
    device_.before(s);
    kernels_->update(batch, a, Target{epoch_.get(), partials_.get(), s});
    device_.wrote(s);
    device_.updated(s);
  }

  void hold(std::shared_ptr<void> owner) override { device_.hold(std::move(owner)); }

  std::vector<std::uint64_t> sketch(StreamHandle stream) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(sketch_size_));
    if (sketch_size_ > 0) {
      device_.copy_out(out.data(), sketch_.get(), out.size() * 8, stream);
    }
    return out;
  }

  void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle stream) override {
    if (sketch_size_ > 0) {
      device_.copy_in(sketch_.get(), counts.data(), counts.size() * 8, stream);
    }
  }

  std::vector<FullRecord> records(StreamHandle stream) override {
    std::vector<unsigned char> raw(static_cast<std::size_t>(keys_) * kernels_->record_size());
    device_.copy_out(raw.data(), epoch_.get(), raw.size(), stream);
    return kernels_->widen(raw, keys_);
  }

  detail::NonFiniteLocation first_bad(StreamHandle stream) override { return read_flag(0, stream); }
  detail::NonFiniteLocation bad_weight(StreamHandle stream) override {
    return read_flag(1, stream);
  }

  void load(const std::vector<FullRecord>& records_in, detail::NonFiniteLocation where,
            StreamHandle stream) override {
    const std::vector<unsigned char> raw = kernels_->narrow(records_in);
    device_.copy_in(epoch_.get(), raw.data(), raw.size(), stream);
    const unsigned long long pos =
        where.found() ? encode_position(where.batch, where.element) : ~0ull;
    // Slot 0 only: a bad weight this evaluator has seen (slot 1) stays until compute() raises it
    // or reset() clears it; a merge must not hide it.
    device_.copy_in(first_bad_.get(), &pos, sizeof pos, stream);
  }

  // Enqueued on `stream`; later operations on other streams wait for it on the device.
  void reset(StreamHandle stream) override {
    if (!configured_) {
      return; // nothing allocated, nothing to clear
    }
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    device_.before(s);
    kernels_->init(epoch_.get(), keys_, s);
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(first_bad_.get(), 0xff, 2 * sizeof(unsigned long long), s));
    if (sketch_size_ > 0) {
      GPUEVAL_CUDA_TRY(
          cudaMemsetAsync(sketch_.get(), 0, static_cast<std::size_t>(sketch_size_) * 8, s));
    }
    device_.wrote(s);
  }

  Device device() const override { return device_.device(); }
  std::string describe() const override { return device_.describe(); }

private:
  // Flag `slot` of first_bad_ (0: the first non-finite pair, 1: the first bad weight).
  detail::NonFiniteLocation read_flag(int slot, StreamHandle stream) {
    return device_.read_position(first_bad_.as<unsigned long long>() + slot, stream);
  }

  int index_;
  bool configured_ = false;
  std::unique_ptr<KernelSet> kernels_;
  NanPolicy policy_ = NanPolicy::skip;
  std::int64_t keys_ = 1;
  int sketch_bits_ = 0;
  std::int64_t channels_ = 1;
  std::int64_t sketch_size_ = 0;
  DeviceBuffer epoch_, partials_, first_bad_, sketch_;
  // Last: destroyed first, so that every enqueued use of the buffers above has run (and every
  // held input is dropped) before they are freed.
  BackendDevice device_;
};

} // namespace

void register_regression_backend() {
  detail::register_backend(typeid(detail::Backend), DeviceKind::cuda,
                           [](Device d) -> void* { return new CudaBackend(d.index); });
}

} // namespace gpueval::cuda
