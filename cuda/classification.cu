// The classification family's CUDA backend: one pass per batch, a thread per sample, each block
// counting into its own copy of the record in shared memory (when the record fits; else straight
// into the epoch record) and adding it to the epoch record with integer atomics. The statistics
// are integers and fixed-point sums (ops/classification.hpp), so the order in which blocks and
// threads add them does not change a bit: the epoch is the CPU backend's, exactly, on any GPU.
// No host synchronisation and no allocation in update().
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/class_backend.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_guard.hpp"
#include "cuda/device_view.cuh"
#include "cuda/index_math.hpp"
#include "gpueval/ops/classification.hpp"

namespace gpueval::cuda {

namespace {

inline constexpr int kClassThreads = 256;
inline constexpr int kClassMaxBlocks = 1024;
// A block keeps its own record in shared memory up to this many words (48 KiB).
inline constexpr std::int64_t kSharedWords = 6144;

struct ClassArgs {
  DeviceView pred, target, mask;
  bool has_mask = false;
  bool pred_scores = false;
  std::int64_t samples = 0;
  int axes = 0;
  std::int64_t shape[kMaxRank] = {};
  std::int64_t target_stride[kMaxRank] = {};
  std::int64_t pred_stride[kMaxRank] = {};
  std::int64_t mask_stride[kMaxRank] = {};
  std::int64_t element_stride[kMaxRank] = {};
  std::int64_t pred_class_stride = 0, target_class_stride = 0, mask_class_stride = 0,
               element_class_stride = 0;
  ops::ClassLayout layout;
  ops::ClassParams params;
  bool record_bad = false;
  std::uint64_t batch = 0;
  unsigned long long* first_bad = nullptr;
  std::uint64_t* epoch = nullptr;
  std::uint64_t* hist = nullptr; // params.hist, when on
};

__device__ __forceinline__ void count(std::uint64_t* hist, std::int64_t index) {
  atomicAdd(reinterpret_cast<unsigned long long*>(hist + index), 1ull);
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
    const unsigned long long old = atomicAdd(reinterpret_cast<unsigned long long*>(w + i),
                                             static_cast<unsigned long long>(lo));
    const std::uint64_t carry = (old + lo < old) ? 1u : 0u;
    add(i + 1, hi + carry);
  }
  // ops::add_term with atomics: the same rounding of the term.
  __device__ __forceinline__ void add_term(std::int64_t i, double x) const {
    std::uint64_t words[2] = {0, 0};
    ops::add_term(words, x);
    add_fixed(i, words[0], words[1]);
  }
};

__device__ __forceinline__ void add_scored(const AtomicRecord& r, const ops::ClassLayout& l,
                                           const ops::Outcome& o) {
  r.add(ops::ClassLayout::kTerms, 1);
  r.add_term(l.log_loss, o.log_loss);
  r.add_term(l.brier, o.brier);
  if (l.bins > 0) {
    const int b = ops::calibration_bin(o.confidence, l.bins);
    r.add(l.calib_count + b, 1);
    r.add(l.calib_correct + b, o.correct ? 1u : 0u);
    r.add_term(l.calib_conf + 2 * b, o.confidence);
  }
}

// ops::add with atomics.
__device__ __forceinline__ void add_outcome(const AtomicRecord& r, const ops::ClassLayout& l,
                                            const ops::Outcome& o) {
  if (o.kind != ops::Outcome::folded) {
    r.add(o.kind == ops::Outcome::invalid ? ops::ClassLayout::kInvalid : ops::ClassLayout::kIgnored,
          1);
    return;
  }
  r.add(ops::ClassLayout::kSamples, 1);
  r.add(l.confusion + o.target * l.classes + o.pred, 1);
  if (l.top_k) {
    r.add(l.topk_hits, o.top_k_hit ? 1u : 0u);
  }
  if (o.scored) {
    add_scored(r, l, o);
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

__device__ void fold_sample(const ClassArgs& a, const AtomicRecord& r, std::int64_t s) {
  std::int64_t t = 0, p = 0, m = 0, e = 0, rest = s;
  for (int d = a.axes - 1; d >= 0; --d) {
    const std::int64_t i = rest % a.shape[d];
    rest /= a.shape[d];
    t += i * a.target_stride[d];
    p += i * a.pred_stride[d];
    m += i * a.mask_stride[d];
    e += i * a.element_stride[d];
  }
  const ops::ClassLayout& l = a.layout;
  const ops::ClassParams& prm = a.params;
  if (prm.task != ClassTask::multilabel) {
    if (a.has_mask && !mask_on(a.mask, m)) {
      return;
    }
    const double target = value_at(a.target, t);
    ops::Outcome o;
    if (prm.task == ClassTask::binary) {
      o = ops::sample_binary(value_at(a.pred, p), !a.pred_scores, target, prm);
    } else if (a.pred_scores) {
      const std::int64_t stride = a.pred_class_stride;
      o = ops::sample_multiclass([&](std::int64_t k) { return value_at(a.pred, p + k * stride); },
                                 target, prm);
    } else {
      o = ops::sample_multiclass_label(value_at(a.pred, p), target, prm);
    }
    add_outcome(r, l, o);
    if (o.kind == ops::Outcome::invalid) {
      record_invalid(a, e);
    }
    if (a.hist != nullptr && o.kind == ops::Outcome::folded && o.scored) {
      if (prm.task == ClassTask::binary) {
        count(a.hist, prm.hist.index(0, o.target == 1, value_at(a.pred, p)));
      } else {
        const std::int64_t stride = a.pred_class_stride;
        const auto score = [&](std::int64_t k) { return value_at(a.pred, p + k * stride); };
        for (std::int64_t k = 0; k < l.classes; ++k) {
          count(a.hist, prm.hist.index(k, o.target == k, ops::class_probability(score, k, o, prm)));
        }
      }
    }
    return;
  }
  // Multilabel: one invalid label drops the sample.
  bool any = false;
  for (std::int64_t k = 0; k < l.classes; ++k) {
    if (a.has_mask && !mask_on(a.mask, m + k * a.mask_class_stride)) {
      continue;
    }
    any = true;
    const ops::Outcome o =
        ops::sample_binary(value_at(a.pred, p + k * a.pred_class_stride), !a.pred_scores,
                           value_at(a.target, t + k * a.target_class_stride), prm);
    if (o.kind == ops::Outcome::invalid) {
      r.add(ops::ClassLayout::kInvalid, 1);
      record_invalid(a, e); // the sample's first label, as the CPU backend reports it
      return;
    }
  }
  if (!any) {
    return;
  }
  std::int64_t counted = 0;
  bool right = true;
  for (std::int64_t k = 0; k < l.classes; ++k) {
    if (a.has_mask && !mask_on(a.mask, m + k * a.mask_class_stride)) {
      continue;
    }
    const ops::Outcome o =
        ops::sample_binary(value_at(a.pred, p + k * a.pred_class_stride), !a.pred_scores,
                           value_at(a.target, t + k * a.target_class_stride), prm);
    if (o.kind == ops::Outcome::ignored) {
      r.add(ops::ClassLayout::kIgnored, 1);
      continue;
    }
    const bool y = o.target != 0, yhat = o.pred != 0;
    r.add((y ? (yhat ? l.tp : l.fn) : (yhat ? l.fp : l.tn)) + k, 1);
    if (a.hist != nullptr && o.scored) {
      count(a.hist, prm.hist.index(k, y, value_at(a.pred, p + k * a.pred_class_stride)));
    }
    if (o.scored) {
      add_scored(r, l, o);
    }
    ++counted;
    right = right && y == yhat;
  }
  r.add(ops::ClassLayout::kSamples, 1);
  if (counted > 0) {
    r.add(l.subset_rows, 1);
    r.add(l.subset_right, right ? 1u : 0u);
  }
}

// Samples grid-stride; a block's counts in shared memory when `shared`, then added to the epoch.
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
  for (std::int64_t s = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       s < a.samples; s += step) {
    fold_sample(a, r, s);
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
  explicit CudaClassBackend(int index) : index_(index) {
    cudaDeviceProp prop{};
    GPUEVAL_CUDA_TRY(cudaGetDeviceProperties(&prop, index));
    name_ = prop.name;
  }

  ~CudaClassBackend() override {
    if (epoch_ != nullptr || first_bad_ != nullptr || hist_ != nullptr) {
      int previous = 0;
      GPUEVAL_CUDA_TRY_NOTHROW(cudaGetDevice(&previous));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(index_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(epoch_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(first_bad_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(hist_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(previous));
    }
  }

  void configure(const ops::ClassLayout& l, const ops::ClassParams& p, NanPolicy policy) override {
    DeviceGuard guard(index_);
    words_ = l.words;
    policy_ = policy;
    hist_size_ = p.hist.on ? p.hist.size() : 0;
    GPUEVAL_CUDA_TRY(cudaMalloc(&epoch_, static_cast<std::size_t>(words_) * 8));
    if (hist_size_ > 0) {
      GPUEVAL_CUDA_TRY(cudaMalloc(&hist_, static_cast<std::size_t>(hist_size_) * 8));
    }
    GPUEVAL_CUDA_TRY(cudaMalloc(&first_bad_, sizeof(unsigned long long)));
    reset(nullptr);
    GPUEVAL_CUDA_TRY(cudaDeviceSynchronize());
  }

  void update(const detail::ClassBatch& b, StreamHandle stream) override {
    DeviceGuard guard(index_);
    ClassArgs a;
    a.pred = device_view(b.pred);
    a.target = device_view(b.target);
    a.has_mask = b.has_mask();
    if (a.has_mask) {
      a.mask = device_view(b.mask);
    }
    a.pred_scores = b.pred_scores;
    a.samples = b.samples;
    a.axes = b.axes;
    for (int d = 0; d < b.axes; ++d) {
      a.shape[d] = b.shape[d];
      a.target_stride[d] = b.target_stride[d];
      a.pred_stride[d] = b.pred_stride[d];
      a.mask_stride[d] = b.mask_stride[d];
      a.element_stride[d] = b.element_stride[d];
    }
    a.pred_class_stride = b.pred_class_stride;
    a.target_class_stride = b.target_class_stride;
    a.mask_class_stride = b.mask_class_stride;
    a.element_class_stride = b.element_class_stride;
    a.layout = layout;
    a.params = params;
    a.params.clip_eps = dtype_epsilon(b.pred.dtype);
    a.record_bad = policy_ == NanPolicy::error;
    a.batch = b.index;
    a.first_bad = first_bad_;
    a.epoch = epoch_;
    a.hist = hist_;
    const bool shared = words_ <= kSharedWords;
    const std::int64_t wanted = (b.samples + kClassThreads - 1) / kClassThreads;
    const int blocks = static_cast<int>(wanted < kClassMaxBlocks ? wanted : kClassMaxBlocks);
    const std::size_t smem = shared ? static_cast<std::size_t>(words_) * 8 : 0;
    const auto s = static_cast<cudaStream_t>(stream);
    class_kernel<<<blocks, kClassThreads, smem, s>>>(a, shared);
    GPUEVAL_CHECK_LAUNCH(s, "class_kernel");
  }

  std::vector<std::uint64_t> words(StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    std::vector<std::uint64_t> out(static_cast<std::size_t>(words_));
    GPUEVAL_CUDA_TRY(
        cudaMemcpyAsync(out.data(), epoch_, out.size() * 8, cudaMemcpyDeviceToHost, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
    return out;
  }

  detail::NonFiniteLocation first_invalid(StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    unsigned long long pos = 0;
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(&pos, first_bad_, sizeof pos, cudaMemcpyDeviceToHost, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
    detail::NonFiniteLocation where;
    if (pos != ~0ull) {
      where.batch = position_batch(pos);
      where.element = position_element(pos);
    }
    return where;
  }

  void load(const std::vector<std::uint64_t>& w, detail::NonFiniteLocation where,
            StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(epoch_, w.data(), w.size() * 8, cudaMemcpyHostToDevice, s));
    const unsigned long long pos =
        where.found() ? encode_position(where.batch, where.element) : ~0ull;
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(first_bad_, &pos, sizeof pos, cudaMemcpyHostToDevice, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s)); // the host buffers must outlive the copies
  }

  void reset(StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(epoch_, 0, static_cast<std::size_t>(words_) * 8, s));
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(first_bad_, 0xff, sizeof(unsigned long long), s));
    if (hist_ != nullptr) {
      GPUEVAL_CUDA_TRY(cudaMemsetAsync(hist_, 0, static_cast<std::size_t>(hist_size_) * 8, s));
    }
  }

  Sparse histogram(StreamHandle stream) override {
    Sparse out;
    if (hist_ == nullptr) {
      return out;
    }
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    std::vector<std::uint64_t> dense(static_cast<std::size_t>(hist_size_));
    GPUEVAL_CUDA_TRY(
        cudaMemcpyAsync(dense.data(), hist_, dense.size() * 8, cudaMemcpyDeviceToHost, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
    for (std::size_t i = 0; i < dense.size(); ++i) {
      if (dense[i] != 0) {
        out.emplace_back(i, dense[i]);
      }
    }
    return out;
  }

  void load_histogram(const Sparse& counts, StreamHandle stream) override {
    if (hist_ == nullptr) {
      return;
    }
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    std::vector<std::uint64_t> dense(static_cast<std::size_t>(hist_size_), 0);
    for (const auto& [index, n] : counts) {
      dense[static_cast<std::size_t>(index)] = n;
    }
    GPUEVAL_CUDA_TRY(
        cudaMemcpyAsync(hist_, dense.data(), dense.size() * 8, cudaMemcpyHostToDevice, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s)); // the host buffer must outlive the copy
  }

  Device device() const override { return Device::cuda(index_); }
  std::string describe() const override {
    return "cuda:" + std::to_string(index_) + " (" + name_ + ")";
  }

private:
  int index_;
  std::string name_;
  std::int64_t words_ = 0;
  NanPolicy policy_ = NanPolicy::skip;
  std::uint64_t* epoch_ = nullptr;
  unsigned long long* first_bad_ = nullptr;
  std::uint64_t* hist_ = nullptr;
  std::int64_t hist_size_ = 0;
};

} // namespace

} // namespace gpueval::cuda

namespace gpueval::detail {

std::unique_ptr<ClassBackend> make_cuda_class_backend(int index) {
  return std::make_unique<cuda::CudaClassBackend>(index);
}

} // namespace gpueval::detail
