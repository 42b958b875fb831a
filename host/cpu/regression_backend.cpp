// The CPU backend: fixed-size work split, lanes of runs, merges in index order.
//
// Two regimes, both independent of the thread count:
// - rows (K < kKeyBlockThreshold): the batch is cut into chunks of whole rows, about kChunkPairs
//   pairs each. A chunk folds its pairs into L lanes (lane i mod L; L a multiple of K, so a lane
//   holds one key), flushes the lanes every kMaxRunLength groups into K chunk records, and the
//   chunk records are merged into the epoch in chunk order.
// - keys (K >= kKeyBlockThreshold): the keys are cut into blocks of kKeyBlock; a task owns one
//   block for the whole batch, folds it several rows at a time into lanes (one key each) and
//   flushes its runs straight into the epoch records it owns. No per-chunk records, so memory stays
//   at K records however many keys there are.
// The chunk and block sizes depend only on K and the number of rows, so the same batch gives
// bitwise the same epoch on 1, 2 or 64 threads. Batch sequences whose batches are whole
// multiples of the chunk (rows regime) fold identically too: chunk records are merged into the
// epoch one by one in order, whatever batch they came from.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/registry.hpp"
#include "cpu/backends.hpp"
#include "cpu/regression_lanes.hpp"
#include "cpu/regression_stage.hpp"
#include "cpu/thread_pool.hpp"
#include "gpueval/ops/inclusion.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "regression/backend.hpp"

namespace gpueval::cpu {

namespace {

using detail::FullOps;
using detail::FullRecord;

inline constexpr std::int64_t kChunkPairs = 1 << 16;
inline constexpr std::int64_t kKeyBlockThreshold = 512;
inline constexpr int kKeyBlock = 128;
inline constexpr int kRunGroups = ops::kMaxRunLength;
inline constexpr std::int64_t kWaveRecordBytes = std::int64_t{4} << 20;

// Lanes for the rows regime: a multiple of K and of kBlockLanes (at least 16, for instruction
// level parallelism), unless that would exceed kTile lanes; then K lanes, the last block partial.
int lanes_for(std::int64_t keys) {
  const std::int64_t m = kBlockLanes / std::gcd(keys, std::int64_t{kBlockLanes});
  std::int64_t lanes = keys * m;
  while (lanes < 16) {
    lanes *= 2;
  }
  return static_cast<int>(lanes <= kTile ? lanes : keys);
}

struct Scratch {
  std::vector<LaneBlock> blocks;
  std::vector<unsigned char> records; // the task's records of the requested groups
  bool started = false;               // every lane's run holds a pair (FoldFast may continue it)
  bool finite = true;                 // every value staged in the current tile is finite
  double p[kTile], t[kTile];
  std::uint8_t mask[kTile];
  double weight[kTile];
  double include[kTile];       // 0/1: a vector of lanes loads and compares it as doubles
  double skipped[kTile];       // 0/1
  std::uint32_t bucket[kTile]; // the quantile sketch's bucket of each staged pair
};

// Records of the requested groups only (ops::RegressionRecord<G>), kept as raw storage so that
// the backend is not a template: runs flush into them with the narrow combine, and they are
// widened to the epoch's FullRecord once per chunk (rows regime) or per batch (keys regime).
struct RecordOps {
  std::size_t size;
  // recs[0 .. n) = empty records
  void (*clear)(unsigned char* recs, std::int64_t n);
  // lane j's run -> recs[j % keys], lanes in order
  void (*flush)(const LaneBlock* blocks, int lanes, std::int64_t keys, unsigned char* recs);
  // out[k] = combine(out[k], recs[k]), k in [0, n)
  void (*merge_into)(const unsigned char* recs, std::int64_t n, FullRecord* out);
};

template <unsigned G> struct RecordOpsFor {
  using Ops = ops::RegressionOps<G>;
  using Record = typename Ops::Record;
  static void clear(unsigned char* recs, std::int64_t n) {
    auto* r = reinterpret_cast<Record*>(recs);
    std::fill(r, r + n, Record{});
  }
  static void flush(const LaneBlock* blocks, int lanes, std::int64_t keys, unsigned char* recs) {
    auto* r = reinterpret_cast<Record*>(recs);
    for (int j = 0; j < lanes; ++j) {
      LaneBlock& b = const_cast<LaneBlock&>(blocks[j / kBlockLanes]);
      const LaneRef lane = lane_ref(b, j % kBlockLanes);
      if (lane.k == 0.0 && lane.skipped == 0.0) {
        continue;
      }
      Record& into = r[j % keys];
      into = Ops::combine(into, Ops::run_to_record(lane));
    }
  }
  static void merge_into(const unsigned char* recs, std::int64_t n, FullRecord* out) {
    const auto* r = reinterpret_cast<const Record*>(recs);
    for (std::int64_t k = 0; k < n; ++k) {
      out[k] = FullOps::combine(out[k], ops::widen<kAllGroups>(r[k]));
    }
  }
  static constexpr RecordOps table{sizeof(Record), clear, flush, merge_into};
};

const RecordOps& record_ops(unsigned groups) {
  static constexpr const RecordOps* table[8] = {&RecordOpsFor<0>::table, &RecordOpsFor<1>::table,
                                                &RecordOpsFor<2>::table, &RecordOpsFor<3>::table,
                                                &RecordOpsFor<4>::table, &RecordOpsFor<5>::table,
                                                &RecordOpsFor<6>::table, &RecordOpsFor<7>::table};
  return *table[groups & kAllGroups];
}

class CpuBackend final : public detail::Backend {
public:
  explicit CpuBackend(int threads) {
    threads_ = ThreadPool::threads_for(threads);
    pool_ = std::make_unique<ThreadPool>(threads_);
    scratch_.resize(static_cast<std::size_t>(threads_));
  }

  void configure(const RegressionSpec& spec_in, const KeyLayout& layout_in) override {
    groups_ = spec_in.groups();
    policy_ = spec_in.nan_policy;
    keys_ = layout_in.keys;
    key_regime_ = keys_ >= kKeyBlockThreshold;
    lanes_ = key_regime_ ? kKeyBlock : lanes_for(keys_);
    static_assert(kTile % kKeyBlock == 0, "a tile holds whole rows of a key block");
    for (auto& s : scratch_) {
      s = std::make_unique<Scratch>();
      s->blocks.resize(static_cast<std::size_t>((lanes_ + kBlockLanes - 1) / kBlockLanes));
      s->records.resize(static_cast<std::size_t>(key_regime_ ? kKeyBlock : keys_) *
                        record_ops(groups_).size);
    }
    epoch_.assign(static_cast<std::size_t>(keys_), FullRecord{});
    sketch_bits_ = spec_in.quantile_bits();
    channels_ = layout_in.channels;
    sketch_size_ = sketch_bits_ > 0 ? channels_ * ops::sketch::buckets(sketch_bits_) : 0;
    clear_sketches();
  }

  void update(const detail::Batch& batch, StreamHandle) override {
    if (batch.has_weight()) { // checked before anything is folded: a bad batch changes nothing
      double value = 0;
      const TensorView& given = batch.user_weight.data ? batch.user_weight : batch.weight;
      const std::int64_t bad = first_bad_weight(given, &value);
      GPUEVAL_EXPECTS(bad < 0, detail::bad_weight_message(batch.index, bad, value));
    }
    BatchJob job{batch,
                 batch.pred.is_contiguous(),
                 batch.target.is_contiguous(),
                 batch.has_mask() && batch.mask.is_contiguous(),
                 fold_fast_function(groups_),
                 fold_general_function(groups_),
                 sketch_buckets_function(),
                 policy_,
                 record_ops(groups_),
                 nullptr,
                 nullptr,
                 nullptr,
                 nullptr,
                 nullptr};
    // Unweighted, contiguous float values: the fold (and the sketch's buckets) read them in
    // place, converting in registers, with no staging copy; a mask is staged a tile at a time
    // as before (tiles that hold a non-finite value are still staged whole, for the policy).
    if (!batch.has_weight() && job.pred_contiguous && job.target_contiguous) {
      const DType pd = batch.pred.dtype, td = batch.target.dtype;
      job.pred_finite = all_finite_function(pd);
      job.target_finite = all_finite_function(td);
      job.sketch_from = sketch_size_ > 0 ? sketch_buckets_from_function(pd, td) : nullptr;
      if (job.pred_finite != nullptr && job.target_finite != nullptr &&
          (sketch_size_ == 0 || job.sketch_from != nullptr)) {
        if (batch.has_mask()) {
          job.fold_masked_from = fold_masked_from_function(groups_, pd, td);
        } else {
          job.fold_from = fold_fast_from_function(groups_, pd, td);
        }
      }
    }
    if (key_regime_) {
      update_by_keys(job);
    } else {
      update_by_rows(job);
    }
  }

  std::vector<FullRecord> records(StreamHandle) override { return epoch_; }
  detail::NonFiniteLocation first_bad(StreamHandle) override { return first_bad_; }

  void load(const std::vector<FullRecord>& records, detail::NonFiniteLocation where,
            StreamHandle) override {
    epoch_ = records;
    first_bad_ = where;
  }

  void reset(StreamHandle) override {
    std::fill(epoch_.begin(), epoch_.end(), FullRecord{});
    first_bad_ = {};
    clear_sketches();
  }

  std::vector<std::uint64_t> sketch(StreamHandle) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(sketch_size_), 0);
    for (const SketchTable& t : sketches_) {
      for (std::int64_t i = 0; i < sketch_size_; ++i) {
        out[static_cast<std::size_t>(i)] += t.get()[i];
      }
    }
    return out;
  }

  void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle) override {
    clear_sketches();
    for (std::size_t i = 0; i < counts.size() && sketch_size_ > 0; ++i) {
      if (counts[i] != 0) { // untouched pages stay untouched
        sketches_[0][i] = counts[i];
      }
    }
  }

  Device device() const override { return Device::cpu(threads_); }
  std::string describe() const override { return device().describe(); }

private:
  struct BatchJob {
    const detail::Batch& batch;
    bool pred_contiguous, target_contiguous, mask_contiguous;
    FoldFast fold_fast;
    FoldGeneral fold_general;
    SketchBuckets sketch_buckets;
    NanPolicy policy;
    const RecordOps& records;
    // The in-place folds (at most one is set; neither: stage every tile), their finiteness
    // checks, and the sketch's buckets in place when there is a sketch.
    FoldFastFrom fold_from;          // unmasked
    FoldMaskedFrom fold_masked_from; // masked
    AllFinite pred_finite, target_finite;
    SketchBucketsFrom sketch_from;

    // Element i of a contiguous view.
    static const unsigned char* at(const TensorView& v, std::int64_t i) {
      return static_cast<const unsigned char*>(v.data) +
             i * static_cast<std::int64_t>(dtype_size(v.dtype));
    }
    // Whether pairs [i0, i0 + n) are finite (an in-place fold set). No software prefetch: the
    // prefetcher follows the two streams, and prefetching the next tile (or two, four or eight
    // tiles ahead, into L1 or L2) measured the same within this VM's noise.
    bool finite(std::int64_t i0, std::int64_t n) const {
      return pred_finite(at(batch.pred, i0), n) && target_finite(at(batch.target, i0), n);
    }
  };

  // Stages pairs [i0, i0 + n) of the batch into s.p/s.t/s.mask at `offset`; clears s.finite
  // when a value is not finite (the caller sets it before a tile's first range).
  static void stage_range(const BatchJob& job, Scratch& s, std::int64_t i0, int n, int offset) {
    const detail::Batch& b = job.batch;
    const bool finite_p = stage_values(b.pred, job.pred_contiguous, i0, n, s.p + offset);
    const bool finite_t = stage_values(b.target, job.target_contiguous, i0, n, s.t + offset);
    s.finite = s.finite && finite_p && finite_t;
    if (b.has_mask()) {
      stage_mask(b.mask, job.mask_contiguous, b.mask_cover, i0, n, s.mask + offset);
    }
    if (b.has_weight()) {
      stage_weight(b.weight, b.weight_cover, i0, n, s.weight + offset);
    }
  }

  // The quantile sketch: counts staged pairs [offset, offset + n) of s, whose elements are
  // element0, element0 + 1, ..., into `table` (the worker's own: no atomics; counts are integers,
  // so the sum over tables is the same whatever worker took which pairs). Pairs are included as
  // in the fold: by the mask, and when finite unless the policy propagates (a weight does not
  // change a count). Done as the fold stages each tile, so the batch is read and converted once.
  void sketch_range(const BatchJob& job, Scratch& s, int offset, int n, std::int64_t element0,
                    std::uint64_t* table) const {
    const double* p = s.p + offset;
    const double* t = s.t + offset;
    job.sketch_buckets(p, t, n, sketch_bits_, s.bucket);
    const std::uint8_t* mask = job.batch.has_mask() ? s.mask + offset : nullptr;
    if (s.finite || policy_ == NanPolicy::propagate) { // the mask alone decides
      count_buckets(s.bucket, mask, n, element0, table);
      return;
    }
    count_buckets_if(s.bucket, n, element0, table, [&](std::int64_t i) {
      return ops::included(mask == nullptr || mask[i] != 0,
                           std::isfinite(p[i]) && std::isfinite(t[i]), false)
                 ? 1
                 : 0;
    });
  }

  // The sketch of n finite pairs from element element0 on, included where mask[i] != 0 (mask
  // nullptr: every pair): buckets from the values where they are (job.sketch_from), then counted.
  void sketch_in_place(const BatchJob& job, Scratch& s, std::int64_t element0, int n,
                       const std::uint8_t* mask, std::uint64_t* table) const {
    job.sketch_from(BatchJob::at(job.batch.pred, element0),
                    BatchJob::at(job.batch.target, element0), n, sketch_bits_, s.bucket);
    count_buckets(s.bucket, mask, n, element0, table);
  }

  // Adds one to bucket[i] of element element0 + i's channel for every i < n with mask[i] != 0
  // (mask nullptr: every i).
  void count_buckets(const std::uint32_t* bucket, const std::uint8_t* mask, int n,
                     std::int64_t element0, std::uint64_t* table) const {
    if (mask == nullptr) {
      count_buckets_if(bucket, n, element0, table, [](std::int64_t) { return 1; });
    } else {
      count_buckets_if(bucket, n, element0, table,
                       [mask](std::int64_t i) { return mask[i] != 0 ? 1 : 0; });
    }
  }

  // Adds in(i) (0 or 1) to bucket[i] of element element0 + i's channel, for every i < n: a
  // channel at a time (its pairs are `channels` apart), so the loop is a load and an increment
  // a pair.
  template <class In>
  void count_buckets_if(const std::uint32_t* bucket, int n, std::int64_t element0,
                        std::uint64_t* table, In in) const {
    const std::int64_t buckets = ops::sketch::buckets(sketch_bits_);
    const std::int64_t c0 = element0 % channels_;
    const std::int64_t step = std::min<std::int64_t>(channels_, n);
    for (std::int64_t i0 = 0; i0 < step; ++i0) { // element element0 + i0's channel and its pairs
      std::uint64_t* row = table + (c0 + i0) % channels_ * buckets;
      for (std::int64_t i = i0; i < n; i += channels_) {
        row[bucket[i]] += in(i);
      }
    }
  }

  // A tile of finite values whose mask is staged in s.mask[0, n): what classify_tile gives then.
  static void include_from_mask(Scratch& s, int n) {
    for (int i = 0; i < n; ++i) {
      s.include[i] = s.mask[i] != 0 ? 1.0 : 0.0;
    }
    std::fill_n(s.skipped, n, 0.0);
  }

  // After a general fold of lanes [0, count): whether each of them holds a pair.
  static void note_started(Scratch& s, int count) {
    s.started = true;
    for (int j = 0; j < count && s.started; ++j) {
      s.started = s.blocks[static_cast<std::size_t>(j / kBlockLanes)].k[j % kBlockLanes] > 0.0;
    }
  }

  // Classifies the first n staged pairs. all_included: no mask and every value finite, so the
  // fast fold applies. first_bad: the tile index of the first non-finite pair the mask includes
  // (-1: none).
  struct Staged {
    bool all_included;
    int first_bad;
  };
  Staged classify_tile(const BatchJob& job, Scratch& s, int n) const {
    const bool masked = job.batch.has_mask(), weighted = job.batch.has_weight();
    if (!masked && !weighted && s.finite) {
      return {true, -1};
    }
    if (!weighted && s.finite) { // what classify() gives when every value is finite
      include_from_mask(s, n);
      return {false, -1};
    }
    return {false, classify(s.p, s.t, masked ? s.mask : nullptr, weighted ? s.weight : nullptr, n,
                            policy_, s.include, s.skipped)};
  }

  // Folds `groups` groups of `count` staged pairs (group g at offset g * stride) into lanes
  // 0 .. count - 1. `fresh`: the lanes hold empty runs.
  static void fold(const BatchJob& job, Scratch& s, const Staged& staged, int count, int groups,
                   int stride, bool fresh) {
    if (staged.all_included && (fresh || s.started)) {
      job.fold_fast(s.blocks.data(), 0, count, groups, stride, fresh, s.p, s.t);
      s.started = true;
      return;
    }
    if (staged.all_included) { // some lane's run is still empty: the general form sets shifts
      const int n = (groups - 1) * stride + count;
      std::fill_n(s.include, n, 1.0);
      std::fill_n(s.skipped, n, 0.0);
    }
    // Every included value is finite when no included pair is non-finite (values behind the
    // mask do not count), or when the policy leaves non-finite pairs out: then whole vectors
    // fold, whatever the policy, so a pair's bits depend neither on the policy nor on what the
    // mask hides.
    const bool finite_included = staged.first_bad < 0 || job.policy != NanPolicy::propagate;
    job.fold_general(s.blocks.data(), 0, count, groups, stride, finite_included,
                     job.batch.has_weight(), s.p, s.t, s.include, s.skipped);
    note_started(s, count);
  }

  static void clear_lanes(Scratch& s) {
    for (LaneBlock& b : s.blocks) {
      b.clear();
    }
    s.started = false;
  }

  // Rows regime: one chunk of whole rows into `out` (K records, cleared by the caller). A tile
  // is whole groups of L pairs (the last one may be partial); lane j holds key j mod K.
  std::int64_t fold_chunk(const BatchJob& job, Scratch& s, std::int64_t row0, std::int64_t row1,
                          FullRecord* out, std::uint64_t* sketch) const {
    const int lanes = lanes_;
    const int tile_groups = kTile / lanes;
    std::int64_t first_bad = -1;
    int groups = 0; // groups in the current run
    clear_lanes(s);
    job.records.clear(s.records.data(), keys_);
    auto flush = [&] {
      job.records.flush(s.blocks.data(), lanes, keys_, s.records.data());
      clear_lanes(s);
      groups = 0;
    };
    const std::int64_t end = row1 * keys_;
    for (std::int64_t pos = row0 * keys_; pos < end;) {
      // Never cross the end of a run (kRunGroups groups).
      const int want = std::min(tile_groups, kRunGroups - groups);
      const int n = static_cast<int>(std::min<std::int64_t>(end - pos, std::int64_t{want} * lanes));
      const int full = n / lanes, tail = n % lanes; // tail: the chunk's last, partial group
      if (job.fold_from != nullptr && (groups == 0 || s.started) && job.finite(pos, n)) {
        // In place: what fold() does with staged pairs that are all included.
        const unsigned char* p = BatchJob::at(job.batch.pred, pos);
        const unsigned char* t = BatchJob::at(job.batch.target, pos);
        if (full > 0) {
          job.fold_from(s.blocks.data(), 0, lanes, full, lanes, groups == 0, p, t);
        }
        if (tail > 0) { // the chunk's last, partial group
          job.fold_from(s.blocks.data(), 0, tail, 1, lanes, groups == 0 && full == 0,
                        BatchJob::at(job.batch.pred, pos + std::int64_t{full} * lanes),
                        BatchJob::at(job.batch.target, pos + std::int64_t{full} * lanes));
        }
        if (sketch != nullptr) {
          sketch_in_place(job, s, pos, n, nullptr, sketch);
        }
        s.started = true;
      } else if (job.fold_masked_from != nullptr && job.finite(pos, n)) {
        // Values in place, the mask staged: what fold() does with a finite masked tile.
        const detail::Batch& b = job.batch;
        stage_mask(b.mask, job.mask_contiguous, b.mask_cover, pos, n, s.mask);
        include_from_mask(s, n);
        if (sketch != nullptr) {
          sketch_in_place(job, s, pos, n, s.mask, sketch);
        }
        if (full > 0) {
          job.fold_masked_from(s.blocks.data(), 0, lanes, full, lanes, lanes,
                               BatchJob::at(b.pred, pos), BatchJob::at(b.target, pos), s.include,
                               s.skipped);
          note_started(s, lanes);
        }
        if (tail > 0) { // lanes 0 .. tail - 1
          const int offset = full * lanes;
          job.fold_masked_from(
              s.blocks.data(), 0, tail, 1, lanes, lanes, BatchJob::at(b.pred, pos + offset),
              BatchJob::at(b.target, pos + offset), s.include + offset, s.skipped + offset);
          note_started(s, tail);
        }
      } else {
        s.finite = true;
        stage_range(job, s, pos, n, 0);
        if (sketch != nullptr) {
          sketch_range(job, s, 0, n, pos, sketch);
        }
        const Staged staged = classify_tile(job, s, n);
        if (staged.first_bad >= 0 && first_bad < 0) {
          first_bad = pos + staged.first_bad;
        }
        if (full > 0) {
          fold(job, s, staged, lanes, full, lanes, groups == 0);
        }
        if (tail > 0) { // lanes 0 .. tail - 1
          const int offset = full * lanes;
          std::copy_n(s.p + offset, tail, s.p);
          std::copy_n(s.t + offset, tail, s.t);
          if (!staged.all_included) {
            std::copy_n(s.include + offset, tail, s.include);
            std::copy_n(s.skipped + offset, tail, s.skipped);
          }
          fold(job, s, staged, tail, 1, lanes, groups == 0 && full == 0);
        }
      }
      groups += full + (tail > 0 ? 1 : 0);
      pos += n;
      if (groups == kRunGroups) {
        flush();
      }
    }
    if (groups > 0) {
      flush();
    }
    job.records.merge_into(s.records.data(), keys_, out);
    return first_bad;
  }

  void update_by_rows(const BatchJob& job) {
    const detail::Batch& b = job.batch;
    const std::int64_t chunk_rows = std::max<std::int64_t>(1, kChunkPairs / keys_);
    const std::int64_t chunks = (b.rows + chunk_rows - 1) / chunk_rows;
    // Chunks run in waves so that chunk records stay within a fixed budget, whatever the batch
    // size; waves are long, since each costs a wake-up of the workers.
    const std::int64_t per_chunk = keys_ * static_cast<std::int64_t>(sizeof(FullRecord));
    const std::int64_t wave = std::min<std::int64_t>(
        chunks, std::max<std::int64_t>(4 * threads_, kWaveRecordBytes / per_chunk));
    chunk_records_.resize(static_cast<std::size_t>(wave * keys_));
    std::vector<std::int64_t> bad(static_cast<std::size_t>(wave));
    for (std::int64_t first = 0; first < chunks; first += wave) {
      const std::int64_t count = std::min(wave, chunks - first);
      std::fill(chunk_records_.begin(), chunk_records_.end(), FullRecord{});
      pool_->run(count, [&](std::int64_t task, int slot) {
        const std::int64_t c = first + task;
        const std::int64_t row0 = c * chunk_rows;
        const std::int64_t row1 = std::min(b.rows, row0 + chunk_rows);
        bad[static_cast<std::size_t>(task)] =
            fold_chunk(job, *scratch_[static_cast<std::size_t>(slot)], row0, row1,
                       chunk_records_.data() + task * keys_, sketch_of(slot));
      });
      for (std::int64_t task = 0; task < count; ++task) { // index order: deterministic
        const FullRecord* rec = chunk_records_.data() + task * keys_;
        for (std::int64_t k = 0; k < keys_; ++k) {
          epoch_[static_cast<std::size_t>(k)] = FullOps::combine(epoch_[k], rec[k]);
        }
        note_bad(b.index, bad[static_cast<std::size_t>(task)]);
      }
    }
  }

  // Keys regime: a task owns kKeyBlock keys for the whole batch; a tile holds several rows of
  // them (one group per row, lane j = key k0 + j) and runs flush every kRunGroups rows straight
  // into the epoch records the task owns.
  void update_by_keys(const BatchJob& job) {
    const detail::Batch& b = job.batch;
    const std::int64_t blocks = (keys_ + kKeyBlock - 1) / kKeyBlock;
    std::vector<std::int64_t> bad(static_cast<std::size_t>(blocks), -1);
    pool_->run(blocks, [&](std::int64_t task, int slot) {
      Scratch& s = *scratch_[static_cast<std::size_t>(slot)];
      const std::int64_t k0 = task * kKeyBlock;
      const int width = static_cast<int>(std::min<std::int64_t>(kKeyBlock, keys_ - k0));
      std::int64_t first_bad = -1;
      int rows_in_run = 0;
      clear_lanes(s);
      job.records.clear(s.records.data(), width);
      auto flush = [&] {
        job.records.flush(s.blocks.data(), width, width, s.records.data());
        clear_lanes(s);
        rows_in_run = 0;
      };
      for (std::int64_t row = 0; row < b.rows;) {
        const int want = std::min(kTile / kKeyBlock, kRunGroups - rows_in_run);
        const int rows = static_cast<int>(std::min<std::int64_t>(b.rows - row, want));
        // In place when the rows are finite (and rows * keys_ fits the kernels' int indices):
        // masked always, unmasked once every lane's run has its shift or starts here (as fold()
        // takes the fast kernel).
        bool in_place = keys_ <= (std::int64_t{1} << 24) &&
                        (job.fold_masked_from != nullptr ||
                         (job.fold_from != nullptr && (rows_in_run == 0 || s.started)));
        for (int r = 0; r < rows && in_place; ++r) {
          in_place = job.finite((row + r) * keys_ + k0, width);
        }
        if (in_place && job.fold_from != nullptr) { // rows are groups, keys_ apart
          job.fold_from(s.blocks.data(), 0, width, rows, static_cast<int>(keys_), rows_in_run == 0,
                        BatchJob::at(b.pred, row * keys_ + k0),
                        BatchJob::at(b.target, row * keys_ + k0));
          if (std::uint64_t* sketch = sketch_of(slot)) {
            for (int r = 0; r < rows; ++r) {
              sketch_in_place(job, s, (row + r) * keys_ + k0, width, nullptr, sketch);
            }
          }
          s.started = true;
        } else if (in_place) { // masked: values in place, the mask staged a row at a time
          for (int r = 0; r < rows; ++r) {
            stage_mask(b.mask, job.mask_contiguous, b.mask_cover, (row + r) * keys_ + k0, width,
                       s.mask + r * width);
          }
          include_from_mask(s, rows * width);
          if (std::uint64_t* sketch = sketch_of(slot)) {
            for (int r = 0; r < rows; ++r) {
              sketch_in_place(job, s, (row + r) * keys_ + k0, width, s.mask + r * width, sketch);
            }
          }
          job.fold_masked_from(s.blocks.data(), 0, width, rows, static_cast<int>(keys_), width,
                               BatchJob::at(b.pred, row * keys_ + k0),
                               BatchJob::at(b.target, row * keys_ + k0), s.include, s.skipped);
          note_started(s, width);
        } else {
          s.finite = true;
          for (int r = 0; r < rows; ++r) {
            stage_range(job, s, (row + r) * keys_ + k0, width, r * width);
          }
          if (std::uint64_t* sketch = sketch_of(slot)) {
            for (int r = 0; r < rows; ++r) {
              sketch_range(job, s, r * width, width, (row + r) * keys_ + k0, sketch);
            }
          }
          const Staged staged = classify_tile(job, s, rows * width);
          if (staged.first_bad >= 0 && first_bad < 0) {
            first_bad = (row + staged.first_bad / width) * keys_ + k0 + staged.first_bad % width;
          }
          fold(job, s, staged, width, rows, width, rows_in_run == 0);
        }
        row += rows;
        rows_in_run += rows;
        if (rows_in_run == kRunGroups) {
          flush();
        }
      }
      if (rows_in_run > 0) {
        flush();
      }
      job.records.merge_into(s.records.data(), width, epoch_.data() + k0);
      bad[static_cast<std::size_t>(task)] = first_bad;
    });
    // The first offending element of the batch is the smallest index over all blocks.
    std::int64_t first = -1;
    for (std::int64_t x : bad) {
      if (x >= 0 && (first < 0 || x < first)) {
        first = x;
      }
    }
    note_bad(b.index, first);
  }

  // The worker slot's sketch table, or nullptr without a sketch.
  std::uint64_t* sketch_of(int slot) const {
    return sketch_size_ > 0 ? sketches_[static_cast<std::size_t>(slot)].get() : nullptr;
  }

  // calloc'd: pages no count has touched stay off the resident set.
  struct FreeTable {
    void operator()(std::uint64_t* p) const { std::free(p); }
  };
  using SketchTable = std::unique_ptr<std::uint64_t[], FreeTable>;

  void clear_sketches() {
    sketches_.clear();
    if (sketch_size_ == 0) {
      return;
    }
    for (int i = 0; i < threads_; ++i) {
      auto* t = static_cast<std::uint64_t*>(
          std::calloc(static_cast<std::size_t>(sketch_size_), sizeof(std::uint64_t)));
      if (t == nullptr) {
        throw std::bad_alloc();
      }
      sketches_.emplace_back(t);
    }
  }

  void note_bad(std::uint64_t batch, std::int64_t element) {
    if (element < 0) {
      return;
    }
    first_bad_.keep_earliest({batch, static_cast<std::uint64_t>(element)});
  }

  int threads_ = 1;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<std::unique_ptr<Scratch>> scratch_;
  unsigned groups_ = 0;
  NanPolicy policy_ = NanPolicy::skip;
  std::int64_t keys_ = 1;
  bool key_regime_ = false;
  int lanes_ = 16;
  std::vector<FullRecord> epoch_;
  std::vector<FullRecord> chunk_records_;
  detail::NonFiniteLocation first_bad_;
  int sketch_bits_ = 0;
  std::int64_t channels_ = 1;
  std::int64_t sketch_size_ = 0;
  std::vector<SketchTable> sketches_; // one per worker slot
};

} // namespace

void register_regression_backend() {
  detail::register_backend(typeid(detail::Backend), DeviceKind::cpu,
                           [](Device d) -> void* { return new CpuBackend(d.threads); });
}

} // namespace gpueval::cpu
