// The classification family's CUDA backend: one pass per batch, a thread per sample, each warp
// adding its lanes' counts together (one atomic per distinct word), each block counting into
// its own copy of the record in shared memory (when the record fits; else straight into the
// epoch record) and adding it to the epoch record with integer atomics. The statistics
// are integers and fixed-point sums (ops/classification.hpp), so the order in which blocks and
// threads add them does not change a bit: the epoch is the CPU backend's, exactly, on any GPU.
// No host synchronisation and no allocation in update().
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "classification/backend.hpp"
#include "core/registry.hpp"
#include "cuda/backend_device.hpp"
#include "cuda/backends.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_events.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/device_guard.hpp"
#include "cuda/device_view.cuh"
#include "cuda/index_math.hpp"
#include "cuda/launch.cuh"
#include "gpueval/error.hpp"
#include "gpueval/ops/classification.hpp"

namespace gpueval::cuda {

namespace {

inline constexpr int kClassThreads = 256;
inline constexpr int kClassMaxBlocks = 1024;
// A block keeps its own record in shared memory up to this many words (48 KiB).
inline constexpr std::int64_t kSharedWords = 6144;

struct ClassArgs : BatchViews {
  bool pred_scores = false;
  std::int64_t samples = 0;
  int axes = 0;
  std::int64_t shape[kMaxRank] = {};
  std::int64_t target_stride[kMaxRank] = {};
  std::int64_t pred_stride[kMaxRank] = {};
  std::int64_t mask_stride[kMaxRank] = {};
  std::int64_t element_stride[kMaxRank] = {};
  std::int64_t weight_stride[kMaxRank] = {};
  DeviceView weight;
  bool has_weight = false;
  std::int64_t pred_class_stride = 0, target_class_stride = 0, mask_class_stride = 0,
               element_class_stride = 0;
  ops::ClassLayout layout;
  ops::ClassParams params;
  bool record_bad = false;
  std::uint64_t batch = 0;
  unsigned long long* first_bad = nullptr;  // the first sample that raises
  unsigned long long* bad_weight = nullptr; // the first sample whose weight is not one
  std::uint64_t* epoch = nullptr;
  std::uint64_t* hist = nullptr; // params.hist, when on
  std::uint32_t* keys = nullptr; // params.hist.keyed(): each bin's shared key
};

// A histogram bin += 1 sample: its count, or (a weighted record) its two-word weight sum at
// 2 * index, added with carry; keyed histograms merge the score's key into the bin's
// (ops::merge_key, by compare-and-swap, as the CPU does).
__device__ __forceinline__ void count(const ClassArgs& a, std::int64_t index, double score,
                                      bool weighted, const ops::Weight& wt) {
  // A weight below 2^-64 adds no word: it notes no key either (the CPU's count_weight alike).
  const bool adds = !weighted || (wt.lo | wt.hi) != 0;
  if (a.keys != nullptr && adds) {
    unsigned* k = reinterpret_cast<unsigned*>(a.keys + index);
    const unsigned key = a.params.hist.key_of(score);
    unsigned old = *k; // a stale read only costs a retry: the CAS compares
    while (old != key && old != ops::kMixedKey) {
      const unsigned seen = atomicCAS(k, old, ops::merge_key(old, key));
      if (seen == old) {
        break;
      }
      old = seen;
    }
  }
  std::uint64_t* hist = a.hist;
  if (!weighted) {
    atomicAdd(reinterpret_cast<unsigned long long*>(hist + index), 1ull);
    return;
  }
  auto* at = reinterpret_cast<unsigned long long*>(hist + 2 * index);
  const unsigned long long old = atomicAdd(at, static_cast<unsigned long long>(wt.lo));
  const unsigned long long carry = old + wt.lo < old ? 1ull : 0ull;
  if (wt.hi + carry != 0) {
    atomicAdd(at + 1, static_cast<unsigned long long>(wt.hi) + carry);
  }
}

// Element `offset` (in elements, possibly negative) of a view.
__device__ __forceinline__ double value_at(const DeviceView& v, std::int64_t offset) {
  return load_at(v, v.data + offset * v.itemsize);
}

__device__ __forceinline__ bool mask_on(const DeviceView& m, std::int64_t offset) {
  const unsigned char* p = m.data + offset * m.itemsize;
  unsigned char any = 0;
  for (int k = 0; k < m.itemsize; ++k) {
    any |= p[k];
  }
  return any != 0;
}

// Adds `v` to word i of a record, and fixed-point numbers with their carry: integer atomics, so
// the result does not depend on the order of the additions.
struct AtomicRecord {
  std::uint64_t* w;
  __device__ __forceinline__ void add(std::int64_t i, std::uint64_t v) const {
    if (v != 0) {
      atomicAdd(reinterpret_cast<unsigned long long*>(w + i), static_cast<unsigned long long>(v));
    }
  }
  __device__ __forceinline__ void add_fixed(std::int64_t i, std::uint64_t lo,
                                            std::uint64_t hi) const {
    std::uint64_t carry = 0;
    if (lo != 0) { // whole weights have none: one atomic
      const unsigned long long old = atomicAdd(reinterpret_cast<unsigned long long*>(w + i),
                                               static_cast<unsigned long long>(lo));
      carry = (old + lo < old) ? 1u : 0u;
    }
    add(i + 1, hi + carry);
  }
  // ops::add_term with atomics: the same rounding of the term.
  __device__ __forceinline__ void add_term(std::int64_t i, double x) const {
    std::uint64_t words[2] = {0, 0};
    ops::add_term(words, x);
    add_fixed(i, words[0], words[1]);
  }
};

inline constexpr unsigned kFullWarp = 0xffffffffu;

__device__ __forceinline__ unsigned lane_id() {
  return threadIdx.x & 31u;
}
__device__ __forceinline__ bool leads(unsigned peers) {
  return lane_id() == static_cast<unsigned>(__ffs(static_cast<int>(peers)) - 1);
}

// Warp-aggregated additions: a warp adds its lanes' contributions to a word with one atomic,
// not 32 on the same word. Every lane of the warp calls them (converged, the same number of
// times); a lane that contributes nothing passes on = false. Integer sums (and fixed-point sums
// modulo 2^128) do not depend on the order of their terms, so the record is the CPU's, bit for
// bit.

// Fixed-point words i, i + 1 += the sum over the lanes with `on` of (lo, hi): a butterfly with
// carries (a sum modulo 2^128), added once.
__device__ __forceinline__ void add_fixed_sum(const AtomicRecord& r, std::int64_t i,
                                              unsigned long long lo, unsigned long long hi,
                                              bool on) {
  if (__ballot_sync(kFullWarp, on) == 0) {
    return; // the same answer on every lane: the warp skips the butterfly together
  }
  lo = on ? lo : 0ull;
  hi = on ? hi : 0ull;
  for (int d = 16; d >= 1; d /= 2) {
    const unsigned long long olo = __shfl_xor_sync(kFullWarp, lo, d);
    const unsigned long long ohi = __shfl_xor_sync(kFullWarp, hi, d);
    const unsigned long long sum = lo + olo;
    hi = hi + ohi + (sum < lo ? 1ull : 0ull);
    lo = sum;
  }
  if (lane_id() == 0 && (lo | hi) != 0) {
    r.add_fixed(i, lo, hi);
  }
}

// Word i += the number of lanes with `on`, and (a weighted record) its weight sum += their
// weights.
__device__ __forceinline__ void add_count(const AtomicRecord& r, const ops::ClassLayout& l,
                                          std::int64_t i, bool on, const ops::Weight& wt) {
  const unsigned n = static_cast<unsigned>(__popc(__ballot_sync(kFullWarp, on)));
  if (lane_id() == 0) {
    r.add(i, n);
  }
  if (l.weighted) {
    add_fixed_sum(r, l.weight_of(i), wt.lo, wt.hi, on);
  }
}

// Word `index` (which may differ per lane) += 1 for each lane with `on`, and word
// `index + flag_offset` += 1 for each of those lanes with `flag` (when flag_offset >= 0): one
// atomic per distinct index.
// A weighted record adds each lane's weight to the words' weight sums (one atomic pair per
// lane: the indices differ).
__device__ __forceinline__ void add_at(const AtomicRecord& r, const ops::ClassLayout& l,
                                       std::int64_t index, bool on, const ops::Weight& wt,
                                       std::int64_t flag_offset = -1, bool flag = false) {
  const long long key = on ? static_cast<long long>(index) : -1 - static_cast<long long>(lane_id());
  const unsigned peers = __match_any_sync(kFullWarp, key);
  const unsigned flagged = __ballot_sync(kFullWarp, on && flag) & peers;
  if (on && leads(peers)) {
    r.add(index, static_cast<unsigned>(__popc(peers)));
    if (flag_offset >= 0) {
      r.add(index + flag_offset, static_cast<unsigned>(__popc(flagged)));
    }
  }
  if (l.weighted && on) {
    r.add_fixed(l.weight_of(index), wt.lo, wt.hi);
    if (flag_offset >= 0 && flag) {
      r.add_fixed(l.weight_of(index + flag_offset), wt.lo, wt.hi);
    }
  }
}

// Fixed-point words i, i + 1 += the sum of the lanes' terms x (those with `on`): each term rounded
// as ops::add_term rounds it, summed across the warp modulo 2^128 (a butterfly with carries),
// added once.
__device__ __forceinline__ void add_term_sum(const AtomicRecord& r, std::int64_t i, double x,
                                             bool on) {
  std::uint64_t w[2] = {0, 0};
  if (on) {
    ops::add_term(w, x);
  }
  add_fixed_sum(r, i, w[0], w[1], on);
}

// A scored outcome's terms (ops::add_scored: each times the sample's weight), aggregated over
// the warp.
__device__ __forceinline__ void add_scored(const AtomicRecord& r, const ops::ClassLayout& l,
                                           const ops::Outcome& o, bool scored,
                                           const ops::Weight& wt) {
  add_count(r, l, ops::ClassLayout::kTerms, scored, wt);
  add_term_sum(r, l.log_loss, o.log_loss * wt.value, scored);
  add_term_sum(r, l.brier, o.brier * wt.value, scored);
  if (l.bins > 0) {
    const int b = scored ? ops::calibration_bin(o.confidence, l.bins) : 0;
    add_at(r, l, l.calib_count + b, scored, wt, l.calib_correct - l.calib_count, o.correct);
    if (scored) { // the bins differ between lanes: one fixed-point atomic pair per lane
      r.add_term(l.calib_conf + 2 * b, o.confidence * wt.value);
    }
  }
}

__device__ __forceinline__ void record_invalid(const ClassArgs& a, std::int64_t element) {
  if (a.record_bad) {
    const std::uint64_t b =
        a.batch < (std::uint64_t{1} << 24) ? a.batch : (std::uint64_t{1} << 24) - 1;
    atomicMin(a.first_bad, static_cast<unsigned long long>(
                               encode_position(b, static_cast<std::uint64_t>(element))));
  }
}

// Offsets of sample s in the targets, predictions, mask, weight and the target's element index.
struct SampleOffsets {
  std::int64_t t = 0, p = 0, m = 0, e = 0, w = 0;
};
__device__ __forceinline__ SampleOffsets offsets_of(const ClassArgs& a, std::int64_t s) {
  SampleOffsets o;
  std::int64_t rest = s;
  for (int d = a.axes - 1; d >= 0; --d) {
    const std::int64_t i = rest % a.shape[d];
    rest /= a.shape[d];
    o.t += i * a.target_stride[d];
    o.p += i * a.pred_stride[d];
    o.m += i * a.mask_stride[d];
    o.e += i * a.element_stride[d];
    o.w += i * a.weight_stride[d];
  }
  return o;
}

// Sample s's weight (1 without weights). A weight that is not one (ops::class_weight_ok) is
// recorded, masked or not, and leaves the sample out; so does a weight of 0.
__device__ __forceinline__ double sample_weight(const ClassArgs& a, const SampleOffsets& at,
                                                bool valid) {
  if (!a.has_weight || !valid) {
    return 1.0;
  }
  const double w = value_at(a.weight, at.w);
  if (!ops::class_weight_ok(w)) {
    const std::uint64_t b =
        a.batch < (std::uint64_t{1} << 24) ? a.batch : (std::uint64_t{1} << 24) - 1;
    atomicMin(a.bad_weight, static_cast<unsigned long long>(
                                encode_position(b, static_cast<std::uint64_t>(at.e))));
    return 0.0;
  }
  return w;
}

// Sample s of a binary or multiclass batch, folded by a whole warp (`valid`: s is a sample of the
// batch; the warp's other lanes pass false). The same decisions as ops::add on the CPU.
__device__ void fold_single(const ClassArgs& a, const AtomicRecord& r, std::int64_t s, bool valid) {
  const ops::ClassLayout& l = a.layout;
  const ops::ClassParams& prm = a.params;
  const SampleOffsets at = valid ? offsets_of(a, s) : SampleOffsets{};
  const double weight = sample_weight(a, at, valid);
  const ops::Weight wt = ops::weight_of(weight);
  const bool active = valid && weight != 0.0 && (!a.has_mask || mask_on(a.mask, at.m));
  ops::Outcome o;
  o.kind = ops::Outcome::ignored;
  if (active) {
    const double target = value_at(a.target, at.t);
    if (prm.task == ClassTask::binary) {
      o = ops::sample_binary(value_at(a.pred, at.p), !a.pred_scores, target, prm);
    } else if (a.pred_scores) {
      const std::int64_t stride = a.pred_class_stride;
      const std::int64_t p = at.p;
      o = ops::sample_multiclass([&](std::int64_t k) { return value_at(a.pred, p + k * stride); },
                                 target, prm);
    } else {
      o = ops::sample_multiclass_label(value_at(a.pred, at.p), target, prm);
    }
  }
  // Invalid and non-finite samples are counted together; the first that raises is recorded.
  const bool dropped =
      active && (o.kind == ops::Outcome::invalid || o.kind == ops::Outcome::nonfinite);
  const bool folded = active && o.kind == ops::Outcome::folded;
  add_count(r, l, ops::ClassLayout::kInvalid, dropped, wt);
  add_count(r, l, ops::ClassLayout::kIgnored, active && o.kind == ops::Outcome::ignored, wt);
  if (dropped && ops::raises(o.kind, prm)) {
    record_invalid(a, at.e);
  }
  add_count(r, l, ops::ClassLayout::kSamples, folded, wt);
  if (l.positions > 0) { // by_axis (ops::add_position): the index differs between lanes
    const std::int64_t n = l.positions;
    const std::int64_t pos = folded ? l.position_of(s) : 0;
    add_at(r, l, l.axis_counts + pos, folded, wt, n, o.target == o.pred);
    if (l.top_k) {
      add_at(r, l, l.axis_counts + 2 * n + pos, folded && o.top_k_hit, wt);
    }
    if (folded && o.scored) {
      r.add_term(l.axis_sums + 2 * pos, o.log_loss * wt.value);
      r.add_term(l.axis_sums + 2 * (n + pos), o.brier * wt.value);
    }
  }
  if (l.confusion >= 0) {
    add_at(r, l, l.confusion + (folded ? o.target * l.classes + o.pred : 0), folded, wt);
  } else { // ops::add_decision without the confusion matrix, across the warp
    const bool right = folded && o.target == o.pred;
    add_at(r, l, l.marginals + o.target, folded, wt);
    add_at(r, l, l.marginals + l.classes + o.pred, folded, wt);
    add_at(r, l, l.marginals + 2 * l.classes + o.target, right, wt);
    const double d = static_cast<double>(o.target > o.pred ? o.target - o.pred : o.pred - o.target);
    add_term_sum(r, l.class_distance, d * wt.value, folded && !right);
    add_term_sum(r, l.class_distance + 2, d * d * wt.value, folded && !right);
  }
  if (l.top_k) {
    add_count(r, l, l.topk_hits, folded && o.top_k_hit, wt);
  }
  const bool scored = folded && o.scored;
  if (l.scores) {
    add_scored(r, l, o, scored, wt);
  }
  if (a.hist != nullptr && scored) {
    if (prm.task == ClassTask::binary) {
      const double x = value_at(a.pred, at.p);
      count(a, prm.hist.index(0, o.target == 1, x), x, l.weighted, wt);
    } else {
      const std::int64_t stride = a.pred_class_stride;
      const std::int64_t p = at.p;
      const auto score = [&](std::int64_t k) { return value_at(a.pred, p + k * stride); };
      for (std::int64_t k = 0; k < l.classes; ++k) {
        const double q = ops::class_probability(score, k, o, prm);
        count(a, prm.hist.class_index(k, o.target, q), q, l.weighted, wt);
      }
    }
  }
}

// Sample s of a multilabel batch, folded by a whole warp: one invalid label drops the sample; a
// sample with no label in the mask is not counted; ignored labels are counted as ignored.
__device__ void fold_multilabel(const ClassArgs& a, const AtomicRecord& r, std::int64_t s,
                                bool valid) {
  const ops::ClassLayout& l = a.layout;
  const ops::ClassParams& prm = a.params;
  const SampleOffsets at = valid ? offsets_of(a, s) : SampleOffsets{};
  const double weight = sample_weight(a, at, valid); // per sample: every label's
  const ops::Weight wt = ops::weight_of(weight);
  const auto label_on = [&](std::int64_t k) {
    return valid && weight != 0.0 &&
           (!a.has_mask || mask_on(a.mask, at.m + k * a.mask_class_stride));
  };
  const auto outcome = [&](std::int64_t k) {
    return ops::sample_binary(value_at(a.pred, at.p + k * a.pred_class_stride), !a.pred_scores,
                              value_at(a.target, at.t + k * a.target_class_stride), prm);
  };
  // A sample with a bad (invalid or non-finite) label is dropped; it raises when any of its bad
  // labels does.
  bool any = false, ok = true, raise = false;
  for (std::int64_t k = 0; k < l.classes; ++k) {
    if (label_on(k)) {
      any = true;
      const ops::Outcome::Kind kind = outcome(k).kind;
      const bool bad = kind == ops::Outcome::invalid || kind == ops::Outcome::nonfinite;
      ok = ok && !bad;
      raise = raise || (bad && ops::raises(kind, prm));
    }
  }
  add_count(r, l, ops::ClassLayout::kInvalid, !ok, wt);
  if (raise) {
    record_invalid(a, at.e); // the sample's first label, as the CPU backend reports it
  }
  const bool counted_sample = ok && any;
  ops::LabelTally tally;
  for (std::int64_t k = 0; k < l.classes; ++k) { // the same trip count on every lane
    const bool on = counted_sample && label_on(k);
    ops::Outcome o;
    o.kind = ops::Outcome::ignored;
    if (on) {
      o = outcome(k);
    }
    add_count(r, l, ops::ClassLayout::kIgnored, on && o.kind == ops::Outcome::ignored, wt);
    const bool folded = on && o.kind == ops::Outcome::folded;
    const bool y = o.target != 0, yhat = o.pred != 0;
    add_at(r, l, (y ? (yhat ? l.tp : l.fn) : (yhat ? l.fp : l.tn)) + k, folded, wt);
    const bool scored = folded && o.scored;
    if (l.scores) {
      add_scored(r, l, o, scored, wt);
    }
    if (a.hist != nullptr && scored) {
      const double x = value_at(a.pred, at.p + k * a.pred_class_stride);
      count(a, prm.hist.index(k, y, x), x, l.weighted, wt);
    }
    if (folded) {
      tally.add(y, yhat);
    }
  }
  const bool rows = counted_sample && tally.counted > 0;
  add_count(r, l, ops::ClassLayout::kSamples, counted_sample, wt);
  add_count(r, l, l.subset_rows, rows, wt);
  add_count(r, l, l.subset_right, rows && tally.right, wt);
  if (l.per_sample) { // the sample's own scores (ops::add_label_sample), across the warp
    const ops::SampleScores sc =
        ops::sample_scores(static_cast<double>(tally.tp), static_cast<double>(tally.fp),
                           static_cast<double>(tally.fn), prm.beta2);
    for (int k = 0; k < 3; ++k) {
      add_count(r, l, l.sample_undefined + k, rows && sc.undefined[k], wt);
    }
    for (int k = 0; k < 5; ++k) {
      add_term_sum(r, l.sample_sums + 2 * k, sc.value[k] * wt.value, rows);
    }
  }
}

// Reading the histograms back: their nonzero words compacted on the device, in index order, so
// that a read copies what the data filled, not the whole table. Tiles of kCompactTile words, a
// block each; thread t reads words t, t + kCompactThreads, ... of its tile (coalesced).
inline constexpr int kCompactThreads = 256;
inline constexpr int kCompactRows = 16;
inline constexpr std::int64_t kCompactTile = std::int64_t{kCompactThreads} * kCompactRows;

// tile_counts[tile] = the tile's nonzero words.
__global__ void __launch_bounds__(kCompactThreads)
    count_nonzero_kernel(const std::uint64_t* hist, std::int64_t n, unsigned* tile_counts) {
  using Reduce = cub::BlockReduce<unsigned, kCompactThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const std::int64_t tile = static_cast<std::int64_t>(blockIdx.x) * kCompactTile;
  unsigned c = 0;
  for (int k = 0; k < kCompactRows; ++k) {
    const std::int64_t i = tile + std::int64_t{k} * kCompactThreads + threadIdx.x;
    c += i < n && hist[i] != 0 ? 1u : 0u;
  }
  const unsigned total = Reduce(temp).Sum(c);
  if (threadIdx.x == 0) {
    tile_counts[blockIdx.x] = total;
  }
}

// Each tile's nonzero words, ascending, from offsets[tile] (the exclusive sum of the counts): the
// word's index, its value and (keyed histograms) its bin's shared key.
__global__ void __launch_bounds__(kCompactThreads)
    compact_kernel(const std::uint64_t* hist, std::int64_t n, const unsigned long long* offsets,
                   const std::uint32_t* keys, std::int64_t words_per_bin,
                   unsigned long long* out_index, unsigned long long* out_value,
                   std::uint32_t* out_key) {
  using Scan = cub::BlockScan<unsigned, kCompactThreads>;
  __shared__ typename Scan::TempStorage temp;
  const std::int64_t tile = static_cast<std::int64_t>(blockIdx.x) * kCompactTile;
  unsigned long long base = offsets[blockIdx.x];
  for (int k = 0; k < kCompactRows; ++k) { // rows in order: the output stays ascending
    const std::int64_t i = tile + std::int64_t{k} * kCompactThreads + threadIdx.x;
    const std::uint64_t v = i < n ? hist[i] : 0;
    unsigned rank = 0, total = 0;
    Scan(temp).ExclusiveSum(v != 0 ? 1u : 0u, rank, total);
    if (v != 0) {
      const unsigned long long at = base + rank;
      out_index[at] = static_cast<unsigned long long>(i);
      out_value[at] = v;
      if (keys != nullptr) {
        out_key[at] = keys[i / words_per_bin];
      }
    }
    base += total;
    __syncthreads(); // the scan's storage is reused by the next row
  }
}

// Samples in grid-stride rounds of one sample per thread (every thread of a block makes the same
// number of rounds, so that warps stay converged for their aggregated additions); a block's
// counts in shared memory when `shared`, then added to the epoch.
__global__ void __launch_bounds__(kClassThreads) class_kernel(ClassArgs a, bool shared) {
  extern __shared__ std::uint64_t block_words[];
  const std::int64_t words = a.layout.words;
  if (shared) {
    for (std::int64_t i = threadIdx.x; i < words; i += blockDim.x) {
      block_words[i] = 0;
    }
    __syncthreads();
  }
  const AtomicRecord r{shared ? block_words : a.epoch};
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t s0 = static_cast<std::int64_t>(blockIdx.x) * blockDim.x; s0 < a.samples;
       s0 += step) {
    const std::int64_t s = s0 + threadIdx.x;
    if (a.params.task == ClassTask::multilabel) {
      fold_multilabel(a, r, s, s < a.samples);
    } else {
      fold_single(a, r, s, s < a.samples);
    }
  }
  if (shared) {
    __syncthreads();
    const AtomicRecord epoch{a.epoch};
    for (std::int64_t i = threadIdx.x; i < a.layout.fixed; i += blockDim.x) {
      epoch.add(i, block_words[i]);
    }
    for (std::int64_t i = a.layout.fixed + 2 * threadIdx.x; i < words; i += 2 * blockDim.x) {
      epoch.add_fixed(i, block_words[i], block_words[i + 1]);
    }
  }
}

class CudaClassBackend final : public detail::ClassBackend {
public:
  explicit CudaClassBackend(int index) : index_(index), device_(index) {}

  void configure(const ops::ClassLayout& l, const ops::ClassParams& p, NanPolicy policy) override {
    DeviceGuard guard(index_);
    // Everything allocated before anything is replaced: a failed allocation (a second configure,
    // when a weighted batch widens the record) leaves the backend as it was.
    // A weighted record's histograms hold a two-word weight sum per bin.
    const std::int64_t hist_size = p.hist.on ? p.hist.size() * (l.weighted ? 2 : 1) : 0;
    DeviceBuffer epoch(index_, static_cast<std::size_t>(l.words) * 8);
    DeviceBuffer hist, keys;
    if (hist_size > 0) {
      hist = DeviceBuffer(index_, static_cast<std::size_t>(hist_size) * 8);
    }
    const std::int64_t key_bins = p.hist.keyed() ? p.hist.size() : 0;
    if (key_bins > 0) {
      keys = DeviceBuffer(index_, static_cast<std::size_t>(key_bins) * 4);
    }
    // Slot 0: the first sample that raises; slot 1: the first bad weight.
    DeviceBuffer first_bad(index_, 2 * sizeof(unsigned long long));
    GPUEVAL_CUDA_TRY(cudaDeviceSynchronize()); // earlier work on the old buffers has run
    words_ = l.words;
    policy_ = policy;
    hist_size_ = hist_size;
    key_bins_ = key_bins;
    words_per_bin_ = l.weighted ? 2 : 1;
    epoch_ = std::move(epoch);
    hist_ = std::move(hist);
    keys_ = std::move(keys);
    first_bad_ = std::move(first_bad);
    configured_ = true;
    reset(nullptr);
    GPUEVAL_CUDA_TRY(cudaDeviceSynchronize());
    device_.settled();
  }

  void update(const detail::ClassBatch& b, StreamHandle stream) override {
    DeviceGuard guard(index_);
    read_words_.clear(); // the histograms change: the last read's keys are stale
    ClassArgs a;
    static_cast<BatchViews&>(a) = batch_views(b.pred, b.target, b.mask);
    a.pred_scores = b.pred_scores;
    a.samples = b.samples;
    a.axes = b.axes;
    for (int d = 0; d < b.axes; ++d) {
      a.shape[d] = b.shape[d];
      a.target_stride[d] = b.target_stride[d];
      a.pred_stride[d] = b.pred_stride[d];
      a.mask_stride[d] = b.mask_stride[d];
      a.element_stride[d] = b.element_stride[d];
      a.weight_stride[d] = b.weight_stride[d];
    }
    a.has_weight = b.has_weight();
    if (a.has_weight) {
      a.weight = device_view(b.weight);
    }
    a.pred_class_stride = b.pred_class_stride;
    a.target_class_stride = b.target_class_stride;
    a.mask_class_stride = b.mask_class_stride;
    a.element_class_stride = b.element_class_stride;
    a.layout = layout;
    a.params = params;
    a.params.clip_eps = dtype_epsilon(b.pred.dtype);
    a.record_bad = a.params.raise_nonfinite || a.params.raise_invalid;
    a.batch = b.index;
    a.first_bad = first_bad_.as<unsigned long long>();
    a.bad_weight = a.first_bad + 1;
    a.epoch = epoch_.as<std::uint64_t>();
    a.hist = hist_ ? hist_.as<std::uint64_t>() : nullptr;
    a.keys = keys_ ? keys_.as<std::uint32_t>() : nullptr;
    const bool shared = words_ <= kSharedWords;
    const std::int64_t wanted = (b.samples + kClassThreads - 1) / kClassThreads;
    const int blocks = static_cast<int>(wanted < kClassMaxBlocks ? wanted : kClassMaxBlocks);
    const std::size_t smem = shared ? static_cast<std::size_t>(words_) * 8 : 0;
    const auto s = static_cast<cudaStream_t>(stream);
    captured_ = captured_ || CudaEvents{}.capturing(s);
    device_.before(s);
    GPUEVAL_LAUNCH(class_kernel, blocks, kClassThreads, smem, s, a, shared);
    device_.wrote(s);
    device_.updated(s);
  }

  void hold(std::shared_ptr<void> owner) override { device_.hold(std::move(owner)); }

  // Widening reallocates the record: a captured graph would keep the old buffers' addresses.
  void check_reconfigure(StreamHandle stream) override {
    GPUEVAL_EXPECTS(!captured_ && !CudaEvents{}.capturing(static_cast<cudaStream_t>(stream)),
                    "a weighted batch after unweighted ones widens this evaluator's record, "
                    "which reallocates it, and an update of it was (or is being) captured in a "
                    "CUDA graph: give the first batch, before any capture, its weights (ones "
                    "where there are none), so that the record is weighted from the start");
  }

  std::vector<std::uint64_t> words(StreamHandle stream) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(words_));
    device_.copy_out(out.data(), epoch_.get(), out.size() * 8, stream);
    return out;
  }

  detail::NonFiniteLocation first_bad(StreamHandle stream) override { return slot(0, stream); }
  detail::NonFiniteLocation bad_weight(StreamHandle stream) override { return slot(1, stream); }

  void load(const std::vector<std::uint64_t>& w, detail::NonFiniteLocation where,
            StreamHandle stream) override {
    device_.copy_in(epoch_.get(), w.data(), w.size() * 8, stream);
    const unsigned long long pos =
        where.found() ? encode_position(where.batch, where.element) : ~0ull;
    device_.copy_in(first_bad_.get(), &pos, sizeof pos, stream);
  }

  // Enqueued on `stream`; later operations on other streams wait for it on the device.
  void reset(StreamHandle stream) override {
    if (!configured_) {
      return;
    }
    read_words_.clear();
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    device_.before(s);
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(epoch_.get(), 0, static_cast<std::size_t>(words_) * 8, s));
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(first_bad_.get(), 0xff, 2 * sizeof(unsigned long long), s));
    if (hist_) {
      GPUEVAL_CUDA_TRY(
          cudaMemsetAsync(hist_.get(), 0, static_cast<std::size_t>(hist_size_) * 8, s));
    }
    if (keys_) {
      GPUEVAL_CUDA_TRY(cudaMemsetAsync(keys_.get(), 0, static_cast<std::size_t>(key_bins_) * 4, s));
    }
    device_.wrote(s);
  }

  // The nonzero words, compacted on the device (count_nonzero_kernel, then compact_kernel at
  // each tile's offset) and copied back: a read costs the table's one pass on the device and
  // the data's words over the link. Their bins' keys come along, for histogram_keys().
  Sparse histogram(StreamHandle stream) override {
    Sparse out;
    read_keys_.clear();
    read_words_.clear();
    if (!hist_) {
      return out;
    }
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    const auto tiles = static_cast<int>((hist_size_ + kCompactTile - 1) / kCompactTile);
    DeviceBuffer counts(index_, static_cast<std::size_t>(tiles) * sizeof(unsigned));
    device_.before(s); // after every update that wrote the histograms, on any stream
    GPUEVAL_LAUNCH(count_nonzero_kernel, tiles, kCompactThreads, 0, s, hist_.as<std::uint64_t>(),
                   hist_size_, counts.as<unsigned>());
    std::vector<unsigned> tile_counts(static_cast<std::size_t>(tiles));
    device_.copy_out(tile_counts.data(), counts.get(), tile_counts.size() * sizeof(unsigned),
                     stream);
    std::vector<unsigned long long> offsets(tile_counts.size());
    unsigned long long total = 0;
    for (std::size_t t = 0; t < tile_counts.size(); ++t) {
      offsets[t] = total;
      total += tile_counts[t];
    }
    if (total == 0) {
      return out;
    }
    DeviceBuffer offsets_d(index_, offsets.size() * sizeof(unsigned long long));
    DeviceBuffer index_d(index_, total * 8), value_d(index_, total * 8),
        key_d(index_, keys_ ? total * 4 : 1);
    device_.copy_in(offsets_d.get(), offsets.data(), offsets.size() * sizeof(unsigned long long),
                    stream);
    GPUEVAL_LAUNCH(compact_kernel, tiles, kCompactThreads, 0, s, hist_.as<std::uint64_t>(),
                   hist_size_, offsets_d.as<unsigned long long>(),
                   keys_ ? keys_.as<std::uint32_t>() : nullptr,
                   static_cast<std::int64_t>(words_per_bin_), index_d.as<unsigned long long>(),
                   value_d.as<unsigned long long>(), key_d.as<std::uint32_t>());
    std::vector<unsigned long long> index(total), value(total);
    device_.copy_out(index.data(), index_d.get(), total * 8, stream);
    device_.copy_out(value.data(), value_d.get(), total * 8, stream);
    out.reserve(total);
    for (std::size_t i = 0; i < index.size(); ++i) {
      out.emplace_back(index[i], value[i]);
    }
    if (keys_) {
      read_keys_.resize(total);
      device_.copy_out(read_keys_.data(), key_d.get(), total * 4, stream);
      read_words_ = out;
    }
    return out;
  }

  void load_histogram(const Sparse& counts, StreamHandle stream) override {
    read_words_.clear();
    if (!hist_) {
      return;
    }
    std::vector<std::uint64_t> dense(static_cast<std::size_t>(hist_size_), 0);
    for (const auto& [index, n] : counts) {
      dense[static_cast<std::size_t>(index)] = n;
    }
    device_.copy_in(hist_.get(), dense.data(), dense.size() * 8, stream);
  }

  Keys histogram_keys(const Sparse& words, StreamHandle stream) override {
    Keys out;
    if (!keys_ || words.empty()) {
      return out;
    }
    if (words == read_words_) { // the last read's words: their keys came along (once)
      read_words_.clear();
      return std::move(read_keys_);
    }
    std::vector<std::uint32_t> dense(static_cast<std::size_t>(key_bins_));
    device_.copy_out(dense.data(), keys_.get(), dense.size() * 4, stream);
    out.reserve(words.size());
    for (const auto& word : words) {
      out.push_back(dense[static_cast<std::size_t>(word.first / words_per_bin_)]);
    }
    return out;
  }

  void load_histogram_keys(const Sparse& words, const Keys& keys, StreamHandle stream) override {
    read_words_.clear();
    if (!keys_) {
      return;
    }
    GPUEVAL_EXPECTS(keys.size() == words.size(), "histogram keys do not match their words");
    std::vector<std::uint32_t> dense(static_cast<std::size_t>(key_bins_), 0);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      dense[static_cast<std::size_t>(words[i].first / words_per_bin_)] = keys[i];
    }
    device_.copy_in(keys_.get(), dense.data(), dense.size() * 4, stream);
  }

  Device device() const override { return device_.device(); }
  std::string describe() const override { return device_.describe(); }

private:
  // A position slot of first_bad_ (0: the first sample that raises, 1: the first bad weight).
  detail::NonFiniteLocation slot(int i, StreamHandle stream) {
    return device_.read_position(first_bad_.as<unsigned long long>() + i, stream);
  }

  int index_;
  bool configured_ = false;
  bool captured_ = false; // an update was enqueued during a stream capture
  std::int64_t words_ = 0;
  NanPolicy policy_ = NanPolicy::skip;
  std::int64_t hist_size_ = 0, key_bins_ = 0;
  std::uint64_t words_per_bin_ = 1;
  Sparse read_words_; // histogram()'s last words (keyed histograms), and their bins' keys
  Keys read_keys_;
  DeviceBuffer epoch_, first_bad_, hist_, keys_;
  // Last: destroyed first, so that every enqueued use of the buffers has run before they go.
  BackendDevice device_;
};

} // namespace

void register_classification_backend() {
  detail::register_backend(typeid(detail::ClassBackend), DeviceKind::cuda,
                           [](Device d) -> void* { return new CudaClassBackend(d.index); });
}

} // namespace gpueval::cuda
