// The classification family's CPU backend. Samples are cut into fixed-size chunks that the
// thread pool runs in any order; each worker folds its chunks into its own record with the ops
// of ops/classification.hpp, and compute() adds the workers' records. Every statistic is an
// integer (fixed-point sums included), so the sum does not depend on which worker folded what:
// the epoch is bitwise the same on any number of threads and for any batch split.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "classification/backend.hpp"
#include "core/options.hpp"
#include "core/registry.hpp"
#include "cpu/backends.hpp"
#include "cpu/classification_kernels.hpp"
#include "cpu/load.hpp"
#include "cpu/regression_stage.hpp"
#include "cpu/thread_pool.hpp"
#include "gpueval/error.hpp"

namespace gpueval::cpu {

namespace {

// Scores (or labels) read per chunk: enough work to amortise a task, little enough to balance.
inline constexpr std::int64_t kChunkValues = std::int64_t{1} << 16;

bool mask_on(const TensorView& m, std::int64_t offset) {
  const auto* p = static_cast<const unsigned char*>(m.data) +
                  offset * static_cast<std::int64_t>(dtype_size(m.dtype));
  unsigned char any = 0;
  for (std::size_t k = 0; k < dtype_size(m.dtype); ++k) {
    any |= p[k];
  }
  return any != 0;
}

// Walks samples begin.. of a batch: element offsets of the target, the predictions and the mask,
// and the target's C-order element index, by an odometer over the sample axes.
struct SampleCursor {
  const detail::ClassBatch& b;
  std::int64_t idx[kMaxRank] = {};
  std::int64_t t = 0, p = 0, m = 0, e = 0, w = 0;

  SampleCursor(const detail::ClassBatch& batch, std::int64_t begin) : b(batch) {
    std::int64_t rest = begin;
    for (int d = b.axes - 1; d >= 0; --d) {
      idx[d] = rest % b.shape[d];
      rest /= b.shape[d];
      t += idx[d] * b.target_stride[d];
      p += idx[d] * b.pred_stride[d];
      m += idx[d] * b.mask_stride[d];
      e += idx[d] * b.element_stride[d];
      w += idx[d] * b.weight_stride[d];
    }
  }
  void next() {
    for (int d = b.axes - 1; d >= 0; --d) {
      ++idx[d];
      t += b.target_stride[d];
      p += b.pred_stride[d];
      m += b.mask_stride[d];
      e += b.element_stride[d];
      w += b.weight_stride[d];
      if (idx[d] < b.shape[d] || d == 0) {
        return;
      }
      t -= idx[d] * b.target_stride[d];
      p -= idx[d] * b.pred_stride[d];
      m -= idx[d] * b.mask_stride[d];
      e -= idx[d] * b.element_stride[d];
      w -= idx[d] * b.weight_stride[d];
      idx[d] = 0;
    }
  }
};

// Values staged per block: a block's samples times their values (classes or labels) stay
// within ~128 KiB of doubles.
inline constexpr std::int64_t kStageValues = 16384;
inline constexpr std::int64_t kMaxBlock = 1024;

// One worker's staging buffers.
struct Stage {
  std::vector<double> score, target, include;
  std::vector<std::int64_t> element; // the target's C-order element index of each sample
};

// Samples per block for a batch: a multiple of the vector width.
int block_samples(std::int64_t values_per_sample) {
  const std::int64_t n =
      std::min(kMaxBlock, kStageValues / std::max<std::int64_t>(1, values_per_sample));
  return static_cast<int>(std::max<std::int64_t>(kClassLanes, n / kClassLanes * kClassLanes));
}

using LoadFn = double (*)(const unsigned char*);

LoadFn loader(DType t) {
  return visit_dtype(t, [](auto d) -> LoadFn { return load_as_double<decltype(d)::value>; });
}

// Stages samples [begin, begin + n) of the batch: targets and inclusions (one per sample, or
// per label for multilabel: 1 or the sample's weight where the mask includes it, else 0) and the
// target's element index.
template <DType T>
void stage_targets(const detail::ClassBatch& b, std::int64_t begin, int n, int stride,
                   std::int64_t labels, Stage& st) {
  const auto* base = static_cast<const unsigned char*>(b.target.data);
  const auto item = static_cast<std::int64_t>(dtype_size(T));
  if (b.axes == 1 && labels == 1 && !b.has_mask() && !b.has_weight()) { // [N]: a strided line
    const std::int64_t ts = b.target_stride[0], es = b.element_stride[0];
    const unsigned char* t = base + begin * ts * item;
    for (int i = 0; i < n; ++i) {
      st.target[static_cast<std::size_t>(i)] = load_as_double<T>(t + i * ts * item);
      st.include[static_cast<std::size_t>(i)] = 1.0;
      st.element[static_cast<std::size_t>(i)] = (begin + i) * es;
    }
    return;
  }
  const LoadFn load_weight = b.has_weight() ? loader(b.weight.dtype) : nullptr;
  const auto* weights = static_cast<const unsigned char*>(b.weight.data);
  const auto weight_item =
      b.has_weight() ? static_cast<std::int64_t>(dtype_size(b.weight.dtype)) : 0;
  SampleCursor c(b, begin);
  for (int i = 0; i < n; ++i, c.next()) {
    st.element[static_cast<std::size_t>(i)] = c.e;
    const double weight = load_weight ? load_weight(weights + c.w * weight_item) : 1.0;
    for (std::int64_t k = 0; k < labels; ++k) {
      const auto at = static_cast<std::size_t>(k * stride + i);
      st.target[at] = load_as_double<T>(base + (c.t + k * b.target_class_stride) * item);
      st.include[at] =
          !b.has_mask() || mask_on(b.mask, c.m + k * b.mask_class_stride) ? weight : 0.0;
    }
  }
}

// Stages the predictions of samples [begin, begin + n): `values` per sample (classes, labels
// or 1) along the class stride.
template <DType P>
void stage_scores(const detail::ClassBatch& b, std::int64_t begin, int n, int stride,
                  std::int64_t values, Stage& st) {
  const auto* base = static_cast<const unsigned char*>(b.pred.data);
  const auto item = static_cast<std::int64_t>(dtype_size(P));
  SampleCursor c(b, begin);
  if (values == 1) {
    if (b.axes == 1) {
      const std::int64_t ps = b.pred_stride[0];
      const unsigned char* p = base + c.p * item;
      for (int i = 0; i < n; ++i) {
        st.score[static_cast<std::size_t>(i)] = load_as_double<P>(p + i * ps * item);
      }
      return;
    }
    for (int i = 0; i < n; ++i, c.next()) {
      st.score[static_cast<std::size_t>(i)] = load_as_double<P>(base + c.p * item);
    }
    return;
  }
  const std::int64_t cls = b.pred_class_stride;
  if (b.axes == 1 && cls == 1) { // [N, C] rows, each contiguous: the common layout
    const std::int64_t rs = b.pred_stride[0];
    const unsigned char* first = base + c.p * item;
    if constexpr (P == DType::f32) {
      // Class by class: contiguous stores, strided loads the compiler can gather.
      const auto* f = reinterpret_cast<const float*>(first);
      if (reinterpret_cast<std::uintptr_t>(f) % alignof(float) == 0) {
        for (std::int64_t k = 0; k < values; ++k) {
          double* out = st.score.data() + k * stride;
          const float* col = f + k;
          for (int i = 0; i < n; ++i) {
            out[i] = static_cast<double>(col[i * rs]);
          }
        }
        return;
      }
    }
    for (int i = 0; i < n; ++i) {
      const unsigned char* row = first + i * rs * item;
      double* out = st.score.data() + i;
      for (std::int64_t k = 0; k < values; ++k) {
        out[k * stride] = load_as_double<P>(row + k * item);
      }
    }
    return;
  }
  for (int i = 0; i < n; ++i, c.next()) {
    const unsigned char* row = base + c.p * item;
    for (std::int64_t k = 0; k < values; ++k) {
      st.score[static_cast<std::size_t>(k * stride + i)] = load_as_double<P>(row + k * cls * item);
    }
  }
}

using StageFn = void (*)(const detail::ClassBatch&, std::int64_t, int, int, std::int64_t, Stage&);

// Sample s of a batch as the error of its first bad sample names it: the target (multilabel:
// the targets) and the predictions, at most kShown values each.
std::string describe_sample(const detail::ClassBatch& b, std::int64_t s, std::int64_t values,
                            std::int64_t labels) {
  static constexpr std::int64_t kShown = 8;
  const SampleCursor c(b, s);
  const LoadFn load_t = loader(b.target.dtype), load_p = loader(b.pred.dtype);
  const auto* t = static_cast<const unsigned char*>(b.target.data);
  const auto* p = static_cast<const unsigned char*>(b.pred.data);
  const auto ti = static_cast<std::int64_t>(dtype_size(b.target.dtype));
  const auto pi = static_cast<std::int64_t>(dtype_size(b.pred.dtype));
  const auto list = [](std::int64_t n, const auto& at) {
    std::string out = n > 1 ? "[" : "";
    for (std::int64_t k = 0; k < std::min(n, kShown); ++k) {
      out += (k ? ", " : "") + detail::option_text(at(k));
    }
    return out + (n > kShown ? ", ...]" : n > 1 ? "]" : "");
  };
  std::string out = (labels > 1 ? "targets " : "target ") + list(labels, [&](std::int64_t k) {
                      return load_t(t + (c.t + k * b.target_class_stride) * ti);
                    });
  out += b.pred_scores ? (values > 1 ? ", scores " : ", score ") : ", label ";
  return out + list(values, [&](std::int64_t k) {
           return load_p(p + (c.p + k * b.pred_class_stride) * pi);
         });
}

StageFn target_stager(DType t) {
  return visit_dtype(t, [](auto d) -> StageFn { return stage_targets<decltype(d)::value>; });
}

StageFn score_stager(DType t) {
  return visit_dtype(t, [](auto d) -> StageFn { return stage_scores<decltype(d)::value>; });
}

class CpuClassBackend final : public detail::ClassBackend {
public:
  explicit CpuClassBackend(int threads) {
    threads_ = ThreadPool::threads_for(threads);
    pool_ = std::make_unique<ThreadPool>(threads_);
  }

  void configure(const ops::ClassLayout& layout_in, const ops::ClassParams& params_in,
                 NanPolicy policy) override {
    // A weighted record's histograms hold a two-word weight sum per bin.
    hist_size_ = params_in.hist.on ? params_in.hist.size() * (layout_in.weighted ? 2 : 1) : 0;
    key_bins_ = params_in.hist.keyed() ? params_in.hist.size() : 0;
    words_per_bin_ = layout_in.weighted ? 2 : 1;
    clear_histogram(false); // new sizes: new tables
    words_ = layout_in.words;
    policy_ = policy;
    base_.assign(static_cast<std::size_t>(words_), 0);
    slots_.assign(static_cast<std::size_t>(threads_),
                  std::vector<std::uint64_t>(static_cast<std::size_t>(words_), 0));
    bad_.assign(static_cast<std::size_t>(threads_), detail::NonFiniteLocation{});
    bad_values_.assign(static_cast<std::size_t>(threads_), std::string());
    loaded_values_.clear();
    stages_.assign(static_cast<std::size_t>(threads_), Stage{});
  }

  void update(const detail::ClassBatch& batch, StreamHandle) override {
    if (batch.has_weight()) { // checked before anything is folded: a bad batch changes nothing
      double value = 0;
      const std::int64_t bad = first_bad_weight(batch.weight, &value, ops::class_weight_ok);
      GPUEVAL_EXPECTS(bad < 0, detail::bad_class_weight_message(batch.index, bad, value));
    }
    ops::ClassParams p = params;
    p.clip_eps = dtype_epsilon(batch.pred.dtype); // log loss clips to [eps, 1 - eps]
    const bool multilabel = layout.task == ClassTask::multilabel;
    const std::int64_t values =
        multilabel || (batch.pred_scores && layout.task == ClassTask::multiclass) ? layout.classes
                                                                                  : 1;
    const std::int64_t labels = multilabel ? layout.classes : 1;
    const int block = block_samples(std::max(values, labels));
    // Tasks of whole blocks: the split depends on the batch alone, and integer records add up
    // to the same bits whichever worker folds which task.
    const std::int64_t per_task = std::max<std::int64_t>(
        block, (kChunkValues / std::max<std::int64_t>(values, 1)) / block * block);
    const std::int64_t tasks = (batch.samples + per_task - 1) / per_task;
    const StageFn stage_t = target_stager(batch.target.dtype);
    const StageFn stage_p = score_stager(batch.pred.dtype);
    const ClassBlockFn fold = class_block_function();
    const bool record_bad = p.raise_nonfinite || p.raise_invalid;
    pool_->run(tasks, [&](std::int64_t task, int slot) {
      Stage& st = stages_[static_cast<std::size_t>(slot)];
      // Class rows a cache line apart from a power of two: rows of 2^k doubles would map to the
      // same L1 sets and alias 4 KiB apart, which made staging three times slower.
      const int row = block + kClassLanes;
      const auto cap = static_cast<std::size_t>(row);
      st.score.resize(cap * static_cast<std::size_t>(values));
      st.target.resize(cap * static_cast<std::size_t>(labels));
      st.include.resize(cap * static_cast<std::size_t>(labels));
      st.element.resize(cap);
      std::uint64_t* w = slots_[static_cast<std::size_t>(slot)].data();
      const std::int64_t end = std::min(batch.samples, (task + 1) * per_task);
      for (std::int64_t begin = task * per_task; begin < end; begin += block) {
        const int n = static_cast<int>(std::min<std::int64_t>(block, end - begin));
        stage_t(batch, begin, n, row, labels, st);
        stage_p(batch, begin, n, row, values, st);
        // Padding lanes: excluded, with harmless values.
        const int padded = (n + kClassLanes - 1) / kClassLanes * kClassLanes;
        for (int i = n; i < padded; ++i) {
          for (std::int64_t k = 0; k < labels; ++k) {
            st.target[static_cast<std::size_t>(k * row + i)] = 0.0;
            st.include[static_cast<std::size_t>(k * row + i)] = 0.0;
          }
          for (std::int64_t k = 0; k < values; ++k) {
            st.score[static_cast<std::size_t>(k * row + i)] = 0.5;
          }
        }
        ClassBlock cb;
        cb.n = n;
        cb.stride = row;
        cb.labels = !batch.pred_scores;
        cb.score = st.score.data();
        cb.target = st.target.data();
        cb.include = st.include.data();
        cb.hist = hist_.get();
        cb.touched = touched_.get();
        cb.touched_super = touched_super_.get();
        cb.shared = tasks > 1;
        cb.keys = keys_.get();
        cb.first = begin;
        int first = n;
        fold(cb, layout, p, w, &first);
        if (record_bad && first < n) {
          const detail::NonFiniteLocation here{
              batch.index, static_cast<std::uint64_t>(st.element[static_cast<std::size_t>(first)])};
          detail::NonFiniteLocation& bad = bad_[static_cast<std::size_t>(slot)];
          if (here.before(bad)) {
            bad = here;
            bad_values_[static_cast<std::size_t>(slot)] =
                describe_sample(batch, begin + first, values, labels);
          }
        }
      }
    });
  }

  std::vector<std::uint64_t> words(StreamHandle) override {
    std::vector<std::uint64_t> out = base_;
    for (const std::vector<std::uint64_t>& s : slots_) {
      ops::combine(out.data(), s.data(), layout);
    }
    return out;
  }

  detail::NonFiniteLocation first_bad(StreamHandle) override {
    detail::NonFiniteLocation first = loaded_bad_;
    for (const detail::NonFiniteLocation& b : bad_) {
      if (b.before(first)) {
        first = b;
      }
    }
    return first;
  }

  std::string first_bad_values(StreamHandle) override {
    detail::NonFiniteLocation first = loaded_bad_;
    std::string values = loaded_values_;
    for (std::size_t i = 0; i < bad_.size(); ++i) {
      if (bad_[i].before(first)) {
        first = bad_[i];
        values = bad_values_[i];
      }
    }
    return values;
  }

  void load(const std::vector<std::uint64_t>& w, detail::NonFiniteLocation where,
            StreamHandle) override {
    base_ = w;
    for (std::vector<std::uint64_t>& s : slots_) {
      std::fill(s.begin(), s.end(), 0);
    }
    // A location loaded from a state (or a merge) keeps the values this backend saw, when it is
    // the one they belong to.
    const detail::NonFiniteLocation mine = first_bad(nullptr);
    loaded_values_ = where.found() && where.batch == mine.batch && where.element == mine.element
                         ? first_bad_values(nullptr)
                         : std::string();
    std::fill(bad_.begin(), bad_.end(), detail::NonFiniteLocation{});
    std::fill(bad_values_.begin(), bad_values_.end(), std::string());
    loaded_bad_ = where;
  }

  void reset(StreamHandle) override {
    load(std::vector<std::uint64_t>(static_cast<std::size_t>(words_), 0), {}, nullptr);
    clear_histogram();
  }

  Sparse histogram(StreamHandle) override {
    // Only the touched groups: after one batch of a binary evaluator that is a few thousand
    // groups of the 2^24-bin table, not 256 MiB of (mostly unmapped) zeros.
    Sparse out;
    out.reserve(histogram_entries_); // the last read's size: no regrowth as the data settles
    for_each_touched_group([&](std::int64_t g) {
      const std::int64_t end = std::min(hist_size_, (g + 1) << kHistGroupShift);
      for (std::int64_t i = g << kHistGroupShift; i < end; ++i) {
        if (hist_[i] != 0) {
          out.emplace_back(static_cast<std::uint64_t>(i), hist_[i]);
        }
      }
    });
    histogram_entries_ = out.size();
    return out;
  }

  void load_histogram(const Sparse& counts, StreamHandle) override {
    clear_histogram();
    for (const auto& [index, n] : counts) {
      hist_[static_cast<std::int64_t>(index)] = n;
      touched_[static_cast<std::int64_t>(index) >> kHistGroupShift] = 1;
      touched_super_[static_cast<std::int64_t>(index) >> kHistSuperShift] = 1;
    }
  }

  Keys histogram_keys(const Sparse& words, StreamHandle) override {
    Keys out;
    if (!keys_) {
      return out;
    }
    out.reserve(words.size());
    for (const auto& word : words) {
      out.push_back(keys_[static_cast<std::int64_t>(word.first) / words_per_bin_]);
    }
    return out;
  }

  void load_histogram_keys(const Sparse& words, const Keys& keys, StreamHandle) override {
    GPUEVAL_EXPECTS(!keys_ || keys.size() == words.size(),
                    "histogram keys do not match their words");
    for (std::size_t i = 0; i < keys.size() && keys_; ++i) {
      keys_[static_cast<std::int64_t>(words[i].first) / words_per_bin_] = keys[i];
    }
  }

  Device device() const override { return Device::cpu(threads_); }
  std::string describe() const override { return Device::cpu(threads_).describe(); }

private:
  int threads_ = 1;
  std::size_t histogram_entries_ = 0; // nonzero words at the last histogram()
  std::unique_ptr<ThreadPool> pool_;
  std::int64_t words_ = 0;
  NanPolicy policy_ = NanPolicy::skip;
  std::vector<std::uint64_t> base_;               // merged and loaded states
  std::vector<std::vector<std::uint64_t>> slots_; // one record per worker
  std::vector<detail::NonFiniteLocation> bad_;    // per worker
  std::vector<Stage> stages_;                     // per worker
  detail::NonFiniteLocation loaded_bad_;
  std::vector<std::string> bad_values_; // per worker: its first bad sample's values
  std::string loaded_values_;
  // The histograms: one table for every worker (atomic increments). calloc'd, so that its pages
  // stay untouched, and off the resident set, until a score lands in them; a reset allocates a
  // fresh table rather than writing zeros over hundreds of MiB.
  struct Free {
    void operator()(std::uint64_t* p) const { std::free(p); }
  };
  struct FreeBytes {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<std::uint64_t[], Free> hist_;
  std::unique_ptr<std::uint8_t[], FreeBytes> touched_;       // a byte per group of words
  std::unique_ptr<std::uint8_t[], FreeBytes> touched_super_; // a byte per 2^12 words
  struct FreeKeys {
    void operator()(std::uint32_t* p) const { std::free(p); }
  };
  std::unique_ptr<std::uint32_t[], FreeKeys> keys_; // keyed histograms: a shared key per bin
  std::int64_t hist_size_ = 0, key_bins_ = 0, words_per_bin_ = 1;

  // Calls f(g) for each touched group g, ascending.
  template <class F> void for_each_touched_group(F f) const {
    constexpr std::int64_t kPerSuper = std::int64_t{1} << (kHistSuperShift - kHistGroupShift);
    const std::int64_t groups = group_count(), supers = super_count();
    for (std::int64_t u = 0; u < supers; ++u) {
      if (touched_super_[u] == 0) {
        continue;
      }
      const std::int64_t end = std::min(groups, (u + 1) * kPerSuper);
      for (std::int64_t g = u * kPerSuper; g < end; ++g) {
        if (touched_[g] != 0) {
          f(g);
        }
      }
    }
  }

  // Zeroes the touched groups in place when they are few (an evaluator reset every step, as
  // ev() resets its batch evaluator): the pages stay mapped, so the next batch does not fault
  // them in again. Many touched: false, and the caller allocates fresh zeroed tables.
  bool clear_touched_groups() {
    const std::int64_t supers = super_count();
    std::int64_t touched = 0;
    for (std::int64_t u = 0; u < supers; ++u) {
      touched += touched_super_[u];
    }
    if (touched > std::max<std::int64_t>(supers / 16, 64)) {
      return false;
    }
    constexpr std::int64_t kGroup = std::int64_t{1} << kHistGroupShift;
    for_each_touched_group([&](std::int64_t g) {
      touched_[g] = 0;
      const std::int64_t first = g * kGroup, end = std::min(hist_size_, first + kGroup);
      std::fill(hist_.get() + first, hist_.get() + end, std::uint64_t{0});
      if (keys_) {
        std::fill(keys_.get() + first / words_per_bin_,
                  keys_.get() + std::min(key_bins_, end / words_per_bin_), std::uint32_t{0});
      }
    });
    std::fill(touched_super_.get(), touched_super_.get() + supers, std::uint8_t{0});
    return true;
  }

  std::int64_t super_count() const {
    return (hist_size_ + (std::int64_t{1} << kHistSuperShift) - 1) >> kHistSuperShift;
  }

  std::int64_t group_count() const {
    return (hist_size_ + (std::int64_t{1} << kHistGroupShift) - 1) >> kHistGroupShift;
  }

  void clear_histogram(bool reuse = true) {
    if (reuse && hist_ && clear_touched_groups()) {
      return;
    }
    hist_.reset();
    touched_.reset();
    touched_super_.reset();
    keys_.reset();
    if (hist_size_ > 0) {
      hist_.reset(static_cast<std::uint64_t*>(
          std::calloc(static_cast<std::size_t>(hist_size_), sizeof(std::uint64_t))));
      touched_.reset(static_cast<std::uint8_t*>(
          std::calloc(static_cast<std::size_t>(group_count()), sizeof(std::uint8_t))));
      touched_super_.reset(static_cast<std::uint8_t*>(
          std::calloc(static_cast<std::size_t>(super_count()), sizeof(std::uint8_t))));
      if (!hist_ || !touched_ || !touched_super_) {
        throw std::bad_alloc();
      }
    }
    if (key_bins_ > 0) {
      keys_.reset(static_cast<std::uint32_t*>(
          std::calloc(static_cast<std::size_t>(key_bins_), sizeof(std::uint32_t))));
      if (!keys_) {
        throw std::bad_alloc();
      }
    }
  }
};

} // namespace

void register_classification_backend() {
  detail::register_backend(typeid(detail::ClassBackend), DeviceKind::cpu,
                           [](Device d) -> void* { return new CpuClassBackend(d.threads); });
}

} // namespace gpueval::cpu
