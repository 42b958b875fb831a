// The CPU backend: fixed-size work split, lanes of runs, merges in index order.
//
// Two regimes, both independent of the thread count:
// - rows (K < kKeyBlockThreshold): the batch is cut into chunks of whole rows, about kChunkPairs
//   pairs each. A chunk folds its pairs into L lanes (lane i mod L; L a multiple of K, so a lane
//   holds one key), flushes the lanes every kMaxRunLength groups into K chunk records, and the
//   chunk records are merged into the epoch in chunk order.
// - keys (K >= kKeyBlockThreshold): the keys are cut into blocks of kKeyBlock; a task owns one
//   block for the whole batch, folds it row by row into lanes (one key each) and flushes its runs
//   straight into the epoch records it owns. No per-chunk records, so memory stays at K records
//   however many keys there are.
// The chunk and block sizes depend only on K and the number of rows, so the same batch gives
// bitwise the same epoch on 1, 2 or 64 threads. Batch sequences whose batches are whole
// multiples of the chunk (rows regime) fold identically too: chunk records are merged into the
// epoch one by one in order, whatever batch they came from.
#include <algorithm>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/backend_factory.hpp"
#include "cpu/lanes.hpp"
#include "cpu/stage.hpp"
#include "cpu/thread_pool.hpp"

namespace gpueval::cpu {

namespace {

using detail::FullOps;
using detail::FullRecord;

inline constexpr std::int64_t kChunkPairs = 1 << 16;
inline constexpr std::int64_t kKeyBlockThreshold = 512;
inline constexpr int kKeyBlock = 1024;
inline constexpr int kRunGroups = ops::kMaxRunLength;

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
  double p[kTile], t[kTile];
  std::uint8_t mask[kTile], include[kTile], skipped[kTile];
};

// Widens a run into a record and merges it into `into` (the lane's key).
template <unsigned G> void flush_lane(LaneBlock& b, int j, FullRecord& into) {
  const LaneRef r = lane_ref(b, j);
  if (r.k == 0.0 && r.skipped == 0.0) {
    return;
  }
  const auto rec = ops::RegressionOps<G>::run_to_record(r);
  into = FullOps::combine(into, ops::widen<kAllGroups>(rec));
}

using FlushFn = void (*)(LaneBlock&, int, FullRecord&);
FlushFn flush_function(unsigned groups) {
  static constexpr FlushFn table[8] = {flush_lane<0>, flush_lane<1>, flush_lane<2>, flush_lane<3>,
                                       flush_lane<4>, flush_lane<5>, flush_lane<6>, flush_lane<7>};
  return table[groups & kAllGroups];
}

class CpuBackend final : public detail::Backend {
public:
  explicit CpuBackend(int threads) {
    if (threads <= 0) {
      threads = static_cast<int>(std::thread::hardware_concurrency());
    }
    threads_ = std::max(threads, 1);
    pool_ = std::make_unique<ThreadPool>(threads_);
    scratch_.resize(static_cast<std::size_t>(threads_));
  }

  void configure(const RegressionSpec& spec_in, const KeyLayout& layout_in) override {
    groups_ = spec_in.groups();
    policy_ = spec_in.nan_policy;
    keys_ = layout_in.keys;
    key_regime_ = keys_ >= kKeyBlockThreshold;
    lanes_ = key_regime_ ? kKeyBlock : lanes_for(keys_);
    for (auto& s : scratch_) {
      s = std::make_unique<Scratch>();
      s->blocks.resize(static_cast<std::size_t>((lanes_ + kBlockLanes - 1) / kBlockLanes));
    }
    epoch_.assign(static_cast<std::size_t>(keys_), FullRecord{});
  }

  void update(const detail::Batch& batch, StreamHandle) override {
    BatchJob job{batch,
                 batch.pred.is_contiguous(),
                 batch.target.is_contiguous(),
                 batch.has_mask() && batch.mask.is_contiguous(),
                 fold_function(groups_, false),
                 fold_function(groups_, true),
                 flush_function(groups_)};
    if (key_regime_) {
      update_by_keys(job);
    } else {
      update_by_rows(job);
    }
  }

  std::vector<FullRecord> records(StreamHandle) override { return epoch_; }
  detail::NonFiniteLocation first_nonfinite(StreamHandle) override { return first_bad_; }

  void load(const std::vector<FullRecord>& records, detail::NonFiniteLocation where,
            StreamHandle) override {
    epoch_ = records;
    first_bad_ = where;
  }

  void reset(StreamHandle) override {
    std::fill(epoch_.begin(), epoch_.end(), FullRecord{});
    first_bad_ = {};
  }

  Device device() const override { return Device::cpu(threads_); }
  std::string describe() const override { return device().describe(); }

private:
  struct BatchJob {
    const detail::Batch& batch;
    bool pred_contiguous, target_contiguous, mask_contiguous;
    FoldFn fold_all, fold_some;
    FlushFn flush;
  };

  // Stages pairs [i0, i0 + n) of the batch into `s` and classifies them. Returns whether every
  // pair is included (the fold can skip the include/skipped arrays) and the batch index of the
  // first non-finite pair the mask includes (-1: none).
  struct Staged {
    bool all_included;
    std::int64_t first_bad;
  };
  Staged stage(const BatchJob& job, Scratch& s, std::int64_t i0, int n) const {
    const detail::Batch& b = job.batch;
    stage_values(b.pred, job.pred_contiguous, i0, n, s.p);
    stage_values(b.target, job.target_contiguous, i0, n, s.t);
    const bool masked = b.has_mask();
    if (masked) {
      stage_mask(b.mask, job.mask_contiguous, b.mask_cover, i0, n, s.mask);
    }
    if (!masked && (policy_ == NanPolicy::propagate || all_finite(s.p, s.t, n))) {
      return {true, -1};
    }
    const int bad = classify(s.p, s.t, masked ? s.mask : nullptr, n, policy_, s.include, s.skipped);
    return {false, bad < 0 ? -1 : i0 + bad};
  }

  // Folds staged pairs [offset, offset + m) into lanes lane0...
  static void fold(const BatchJob& job, Scratch& s, const Staged& staged, int offset, int m,
                   int lane0) {
    if (staged.all_included) {
      job.fold_all(s.blocks.data(), lane0, m, s.p + offset, s.t + offset, nullptr, nullptr);
    } else {
      job.fold_some(s.blocks.data(), lane0, m, s.p + offset, s.t + offset, s.include + offset,
                    s.skipped + offset);
    }
  }

  static void clear_lanes(Scratch& s) {
    for (LaneBlock& b : s.blocks) {
      b.clear();
    }
  }

  // Rows regime: one chunk of whole rows into `out` (K records, cleared by the caller).
  std::int64_t fold_chunk(const BatchJob& job, Scratch& s, std::int64_t row0, std::int64_t row1,
                          FullRecord* out) const {
    const std::int64_t end = row1 * keys_;
    const int lanes = lanes_;
    // Whole groups per tile when a group fits a tile.
    const int tile = lanes <= kTile ? (kTile / lanes) * lanes : kTile;
    std::int64_t first_bad = -1;
    std::int64_t pos = row0 * keys_;
    int lane = 0;
    int groups = 0;
    clear_lanes(s);
    auto flush = [&] {
      for (int j = 0; j < lanes; ++j) {
        job.flush(s.blocks[static_cast<std::size_t>(j / kBlockLanes)], j % kBlockLanes,
                  out[j % keys_]);
      }
      clear_lanes(s);
      groups = 0;
    };
    while (pos < end) {
      // Never cross the end of a run: at most kRunGroups groups per run.
      const std::int64_t run_left = static_cast<std::int64_t>(kRunGroups - groups) * lanes - lane;
      const int n = static_cast<int>(std::min({end - pos, std::int64_t{tile}, run_left}));
      const Staged staged = stage(job, s, pos, n);
      if (staged.first_bad >= 0 && first_bad < 0) {
        first_bad = staged.first_bad;
      }
      // A tile holds several groups (small L) or part of one (L > kTile).
      for (int done = 0; done < n;) {
        const int m = std::min(n - done, lanes - lane);
        fold(job, s, staged, done, m, lane);
        done += m;
        lane += m;
        if (lane == lanes) {
          lane = 0;
          ++groups;
        }
      }
      pos += n;
      if (groups == kRunGroups) {
        flush();
      }
    }
    if (groups > 0 || lane > 0) {
      flush();
    }
    return first_bad;
  }

  void update_by_rows(const BatchJob& job) {
    const detail::Batch& b = job.batch;
    const std::int64_t chunk_rows = std::max<std::int64_t>(1, kChunkPairs / keys_);
    const std::int64_t chunks = (b.rows + chunk_rows - 1) / chunk_rows;
    // Chunks run in waves so that chunk records stay a few per thread, whatever the batch size.
    const std::int64_t wave = std::min<std::int64_t>(chunks, 4 * threads_);
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
                       chunk_records_.data() + task * keys_);
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
      auto flush = [&] {
        for (int j = 0; j < width; ++j) {
          job.flush(s.blocks[static_cast<std::size_t>(j / kBlockLanes)], j % kBlockLanes,
                    epoch_[static_cast<std::size_t>(k0 + j)]);
        }
        clear_lanes(s);
        rows_in_run = 0;
      };
      for (std::int64_t row = 0; row < b.rows; ++row) {
        const Staged staged = stage(job, s, row * keys_ + k0, width);
        fold(job, s, staged, 0, width, 0);
        if (staged.first_bad >= 0 && first_bad < 0) {
          first_bad = staged.first_bad;
        }
        if (++rows_in_run == kRunGroups) {
          flush();
        }
      }
      if (rows_in_run > 0) {
        flush();
      }
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

  void note_bad(std::uint64_t batch, std::int64_t element) {
    if (element < 0) {
      return;
    }
    const detail::NonFiniteLocation here{batch, static_cast<std::uint64_t>(element)};
    if (!first_bad_.found() || here.before(first_bad_)) {
      first_bad_ = here;
    }
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
};

} // namespace

} // namespace gpueval::cpu

namespace gpueval::detail {
std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<cpu::CpuBackend>(threads);
}
} // namespace gpueval::detail
