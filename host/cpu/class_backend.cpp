// The classification family's CPU backend. Samples are cut into fixed-size chunks that the
// thread pool runs in any order; each worker folds its chunks into its own record with the ops
// of ops/classification.hpp, and compute() adds the workers' records. Every statistic is an
// integer (fixed-point sums included), so the sum does not depend on which worker folded what:
// the epoch is bitwise the same on any number of threads and for any batch split.
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/class_backend.hpp"
#include "cpu/load.hpp"
#include "cpu/thread_pool.hpp"

namespace gpueval::cpu {

namespace {

// Scores (or labels) read per chunk: enough work to amortise a task, little enough to balance.
inline constexpr std::int64_t kChunkValues = std::int64_t{1} << 16;

double load_value(DType t, const unsigned char* p) {
  switch (t) {
  case DType::f16:
    return load_as_double<DType::f16>(p);
  case DType::bf16:
    return load_as_double<DType::bf16>(p);
  case DType::f32:
    return load_as_double<DType::f32>(p);
  case DType::f64:
    return load_as_double<DType::f64>(p);
  case DType::i8:
    return load_as_double<DType::i8>(p);
  case DType::i16:
    return load_as_double<DType::i16>(p);
  case DType::i32:
    return load_as_double<DType::i32>(p);
  case DType::i64:
    return load_as_double<DType::i64>(p);
  case DType::u8:
  case DType::boolean:
    return load_as_double<DType::u8>(p);
  }
  return 0.0;
}

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
  std::int64_t t = 0, p = 0, m = 0, e = 0;

  SampleCursor(const detail::ClassBatch& batch, std::int64_t begin) : b(batch) {
    std::int64_t rest = begin;
    for (int d = b.axes - 1; d >= 0; --d) {
      idx[d] = rest % b.shape[d];
      rest /= b.shape[d];
      t += idx[d] * b.target_stride[d];
      p += idx[d] * b.pred_stride[d];
      m += idx[d] * b.mask_stride[d];
      e += idx[d] * b.element_stride[d];
    }
  }
  void next() {
    for (int d = b.axes - 1; d >= 0; --d) {
      ++idx[d];
      t += b.target_stride[d];
      p += b.pred_stride[d];
      m += b.mask_stride[d];
      e += b.element_stride[d];
      if (idx[d] < b.shape[d] || d == 0) {
        return;
      }
      t -= idx[d] * b.target_stride[d];
      p -= idx[d] * b.pred_stride[d];
      m -= idx[d] * b.mask_stride[d];
      e -= idx[d] * b.element_stride[d];
      idx[d] = 0;
    }
  }
};

// The fold of samples [begin, end) into `w`, with the predictions' dtype known at compile time
// (the scores are the bulk of the bytes).
template <DType P> struct Fold {
  const detail::ClassBatch& b;
  const ops::ClassLayout& l;
  ops::ClassParams params;
  detail::NonFiniteLocation* bad;
  bool record_bad;

  const unsigned char* pred_base() const { return static_cast<const unsigned char*>(b.pred.data); }
  const unsigned char* target_base() const {
    return static_cast<const unsigned char*>(b.target.data);
  }
  double pred_at(std::int64_t off) const {
    return load_as_double<P>(pred_base() + off * static_cast<std::int64_t>(dtype_size(P)));
  }
  double target_at(std::int64_t off) const {
    return load_value(b.target.dtype,
                      target_base() + off * static_cast<std::int64_t>(dtype_size(b.target.dtype)));
  }
  void invalid_at(std::int64_t element) {
    const detail::NonFiniteLocation here{b.index, static_cast<std::uint64_t>(element)};
    if (record_bad && here.before(*bad)) {
      *bad = here;
    }
  }

  void run(std::int64_t begin, std::int64_t end, std::uint64_t* w) {
    SampleCursor c(b, begin);
    for (std::int64_t s = begin; s < end; ++s, c.next()) {
      switch (params.task) {
      case ClassTask::binary:
        if (!b.has_mask() || mask_on(b.mask, c.m)) {
          const ops::Outcome o =
              ops::sample_binary(pred_at(c.p), !b.pred_scores, target_at(c.t), params);
          binary_like(w, o, c.e);
        }
        break;
      case ClassTask::multiclass:
        if (!b.has_mask() || mask_on(b.mask, c.m)) {
          const double t = target_at(c.t);
          ops::Outcome o;
          if (b.pred_scores) {
            const std::int64_t base = c.p, stride = b.pred_class_stride;
            o = ops::sample_multiclass([&](std::int64_t k) { return pred_at(base + k * stride); },
                                       t, params);
          } else {
            o = ops::sample_multiclass_label(pred_at(c.p), t, params);
          }
          binary_like(w, o, c.e);
        }
        break;
      case ClassTask::multilabel:
        labels(w, c);
        break;
      }
    }
  }

  void binary_like(std::uint64_t* w, const ops::Outcome& o, std::int64_t element) {
    ops::add(w, l, o);
    if (o.kind == ops::Outcome::invalid) {
      invalid_at(element);
    }
  }

  // A multilabel sample: every label checked first (one invalid label drops the sample), then
  // each folded.
  void labels(std::uint64_t* w, const SampleCursor& c) {
    bool any = false;
    for (std::int64_t k = 0; k < l.classes; ++k) {
      if (b.has_mask() && !mask_on(b.mask, c.m + k * b.mask_class_stride)) {
        continue;
      }
      any = true;
      const ops::Outcome o =
          ops::sample_binary(pred_at(c.p + k * b.pred_class_stride), !b.pred_scores,
                             target_at(c.t + k * b.target_class_stride), params);
      if (o.kind == ops::Outcome::invalid) {
        w[ops::ClassLayout::kInvalid] += 1;
        invalid_at(c.e + k * b.element_class_stride);
        return;
      }
    }
    if (!any) {
      return;
    }
    std::int64_t counted = 0;
    bool right = true;
    for (std::int64_t k = 0; k < l.classes; ++k) {
      if (b.has_mask() && !mask_on(b.mask, c.m + k * b.mask_class_stride)) {
        continue;
      }
      const ops::Outcome o =
          ops::sample_binary(pred_at(c.p + k * b.pred_class_stride), !b.pred_scores,
                             target_at(c.t + k * b.target_class_stride), params);
      if (o.kind == ops::Outcome::ignored) {
        w[ops::ClassLayout::kIgnored] += 1;
        continue;
      }
      ops::add_label(w, l, k, o);
      ++counted;
      right = right && (o.target != 0) == (o.pred != 0);
    }
    ops::add_label_sample(w, l, counted, right);
  }
};

template <DType P>
void fold(const detail::ClassBatch& b, const ops::ClassLayout& l, const ops::ClassParams& p,
          std::int64_t begin, std::int64_t end, std::uint64_t* w, detail::NonFiniteLocation* bad,
          bool record_bad) {
  Fold<P>{b, l, p, bad, record_bad}.run(begin, end, w);
}

using FoldFn = void (*)(const detail::ClassBatch&, const ops::ClassLayout&, const ops::ClassParams&,
                        std::int64_t, std::int64_t, std::uint64_t*, detail::NonFiniteLocation*,
                        bool);

FoldFn fold_for(DType t) {
  switch (t) {
  case DType::f16:
    return fold<DType::f16>;
  case DType::bf16:
    return fold<DType::bf16>;
  case DType::f32:
    return fold<DType::f32>;
  case DType::f64:
    return fold<DType::f64>;
  case DType::i8:
    return fold<DType::i8>;
  case DType::i16:
    return fold<DType::i16>;
  case DType::i32:
    return fold<DType::i32>;
  case DType::i64:
    return fold<DType::i64>;
  default:
    return fold<DType::u8>;
  }
}

class CpuClassBackend final : public detail::ClassBackend {
public:
  explicit CpuClassBackend(int threads) {
    if (threads <= 0) {
      threads = static_cast<int>(std::thread::hardware_concurrency());
    }
    threads_ = std::max(threads, 1);
    pool_ = std::make_unique<ThreadPool>(threads_);
  }

  void configure(const ops::ClassLayout& layout_in, const ops::ClassParams&,
                 NanPolicy policy) override {
    words_ = layout_in.words;
    policy_ = policy;
    base_.assign(static_cast<std::size_t>(words_), 0);
    slots_.assign(static_cast<std::size_t>(threads_),
                  std::vector<std::uint64_t>(static_cast<std::size_t>(words_), 0));
    bad_.assign(static_cast<std::size_t>(threads_), detail::NonFiniteLocation{});
  }

  void update(const detail::ClassBatch& batch, StreamHandle) override {
    ops::ClassParams p = params;
    p.clip_eps = dtype_epsilon(batch.pred.dtype); // log loss clips to [eps, 1 - eps]
    const std::int64_t per_sample = batch.pred_scores && layout.task == ClassTask::multiclass
                                        ? layout.classes
                                    : layout.task == ClassTask::multilabel ? layout.classes
                                                                           : 1;
    const std::int64_t chunk = std::max<std::int64_t>(1, kChunkValues / per_sample);
    const std::int64_t tasks = (batch.samples + chunk - 1) / chunk;
    const FoldFn f = fold_for(batch.pred.dtype);
    const bool record_bad = policy_ == NanPolicy::error;
    pool_->run(tasks, [&](std::int64_t task, int slot) {
      const std::int64_t begin = task * chunk;
      const std::int64_t end = std::min(batch.samples, begin + chunk);
      f(batch, layout, p, begin, end, slots_[static_cast<std::size_t>(slot)].data(),
        &bad_[static_cast<std::size_t>(slot)], record_bad);
    });
  }

  std::vector<std::uint64_t> words(StreamHandle) override {
    std::vector<std::uint64_t> out = base_;
    for (const std::vector<std::uint64_t>& s : slots_) {
      ops::combine(out.data(), s.data(), layout);
    }
    return out;
  }

  detail::NonFiniteLocation first_invalid(StreamHandle) override {
    detail::NonFiniteLocation first = loaded_bad_;
    for (const detail::NonFiniteLocation& b : bad_) {
      if (b.before(first)) {
        first = b;
      }
    }
    return first;
  }

  void load(const std::vector<std::uint64_t>& w, detail::NonFiniteLocation where,
            StreamHandle) override {
    base_ = w;
    for (std::vector<std::uint64_t>& s : slots_) {
      std::fill(s.begin(), s.end(), 0);
    }
    std::fill(bad_.begin(), bad_.end(), detail::NonFiniteLocation{});
    loaded_bad_ = where;
  }

  void reset(StreamHandle) override {
    load(std::vector<std::uint64_t>(static_cast<std::size_t>(words_), 0), {}, nullptr);
  }

  Device device() const override { return Device::cpu(threads_); }
  std::string describe() const override { return Device::cpu(threads_).describe(); }

private:
  int threads_ = 1;
  std::unique_ptr<ThreadPool> pool_;
  std::int64_t words_ = 0;
  NanPolicy policy_ = NanPolicy::skip;
  std::vector<std::uint64_t> base_;               // merged and loaded states
  std::vector<std::vector<std::uint64_t>> slots_; // one record per worker
  std::vector<detail::NonFiniteLocation> bad_;    // per worker
  detail::NonFiniteLocation loaded_bad_;
};

} // namespace

} // namespace gpueval::cpu

namespace gpueval::detail {

std::unique_ptr<ClassBackend> make_cpu_class_backend(int threads) {
  return std::make_unique<cpu::CpuClassBackend>(threads);
}

std::unique_ptr<ClassBackend> make_class_backend(Device device) {
  require_usable(device);
  if (device.kind == DeviceKind::cpu) {
    return make_cpu_class_backend(device.threads);
  }
  return make_cuda_class_backend(device.index);
}

} // namespace gpueval::detail
