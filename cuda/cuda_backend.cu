// The CUDA backend: one fused pass per batch over predictions, targets and mask, per-block
// partials merged on the device in a fixed tree, no host synchronisation and no allocation in
// update() (so it can be captured in a CUDA graph), compute() the only copy back.
//
// The work split is cuda/index_math.hpp; the statistics are ops/regression.hpp, the same run_fold,
// run_to_record and combine the CPU backend uses.
#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/aggregate.hpp"
#include "core/backend_factory.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_guard.hpp"
#include "cuda/device_view.cuh"
#include "cuda/index_math.hpp"
#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/ops/regression.hpp"

namespace gpueval::cuda {

namespace {

using detail::FullRecord;

struct BatchArgs {
  DeviceView pred, target, mask;
  bool has_mask = false;
  std::int64_t cover = 1;
  NanPolicy policy = NanPolicy::skip;
  std::uint64_t batch = 0;
  unsigned long long* first_bad = nullptr;
};

// Folds element e into `run` (and its bookkeeping), the same decisions the CPU backend makes.
template <unsigned G>
__device__ __forceinline__ void fold_element(const BatchArgs& a, std::int64_t e, ops::Run<G>& run) {
  const double p = load(a.pred, e);
  const double t = load(a.target, e);
  const bool in_mask = !a.has_mask || mask_at(a.mask, a.cover, e);
  const bool finite = ops::is_finite(p) && ops::is_finite(t);
  const bool include = in_mask && (finite || a.policy == NanPolicy::propagate);
  ops::RegressionOps<G>::template run_fold<true>(run, p, t, include);
  run.skipped += (in_mask && !include) ? 1.0 : 0.0;
  if (a.policy == NanPolicy::error && in_mask && !finite) {
    const std::uint64_t b =
        a.batch < (std::uint64_t{1} << 24) ? a.batch : (std::uint64_t{1} << 24) - 1;
    atomicMin(a.first_bad,
              static_cast<unsigned long long>(encode_position(b, static_cast<std::uint64_t>(e))));
  }
}

// A thread's fold of a sequence of elements: runs of kMaxRunLength pairs merged into a record.
template <unsigned G> struct ThreadFold {
  using Ops = ops::RegressionOps<G>;
  typename Ops::Record acc{};
  ops::Run<G> run{};
  int in_run = 0;

  __device__ __forceinline__ void add(const BatchArgs& a, std::int64_t e) {
    fold_element<G>(a, e, run);
    if (++in_run == ops::kMaxRunLength) {
      flush();
    }
  }
  __device__ __forceinline__ typename Ops::Record finish() {
    if (in_run > 0) {
      flush();
    }
    return acc;
  }

private:
  __device__ __forceinline__ void flush() {
    acc = Ops::combine(acc, Ops::run_to_record(run));
    run = ops::Run<G>{};
    in_run = 0;
  }
};

template <unsigned G> struct Combine {
  using Record = ops::RegressionRecord<G>;
  __device__ __forceinline__ Record operator()(const Record& x, const Record& y) const {
    return ops::RegressionOps<G>::combine(x, y);
  }
};

// Rows regime: block b folds its rows; thread t's record holds key t % K; threads of a key merge
// in thread order into the block's partial for that key.
template <unsigned G>
__global__ void __launch_bounds__(kThreads)
    rows_kernel(BatchArgs a, RowSplit split, ops::RegressionRecord<G>* partials) {
  using Ops = ops::RegressionOps<G>;
  using Record = typename Ops::Record;
  extern __shared__ __align__(16) unsigned char smem[];
  Record* records = reinterpret_cast<Record*>(smem);
  const int b = static_cast<int>(blockIdx.x);
  const int t = static_cast<int>(threadIdx.x);
  if (t < split.lanes) {
    ThreadFold<G> fold;
    for (std::int64_t m = 0;; ++m) {
      const std::int64_t e = split.element(b, t, m);
      if (e < 0) {
        break;
      }
      fold.add(a, e);
    }
    records[t] = fold.finish();
  }
  __syncthreads();
  if (t < split.keys) {
    Record key{};
    for (int j = t; j < split.lanes; j += static_cast<int>(split.keys)) {
      key = Ops::combine(key, records[j]);
    }
    partials[static_cast<std::int64_t>(b) * split.keys + t] = key;
  }
}

// Merge: block k folds key k's partials of every block (thread i: blocks i, i + kThreads, ...
// in order, then a fixed cub tree) into the epoch record.
template <unsigned G>
__global__ void __launch_bounds__(kThreads)
    merge_kernel(const ops::RegressionRecord<G>* partials, int blocks, std::int64_t keys,
                 ops::RegressionRecord<G>* epoch) {
  using Ops = ops::RegressionOps<G>;
  using Record = typename Ops::Record;
  using Reduce = cub::BlockReduce<Record, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const std::int64_t k = blockIdx.x;
  Record acc{};
  for (int b = static_cast<int>(threadIdx.x); b < blocks; b += kThreads) {
    acc = Ops::combine(acc, partials[static_cast<std::int64_t>(b) * keys + k]);
  }
  const Record total = Reduce(temp).Reduce(acc, Combine<G>{});
  if (threadIdx.x == 0) {
    epoch[k] = Ops::combine(epoch[k], total);
  }
}

// Keys regime: each thread owns its keys for the whole batch and folds straight into them.
template <unsigned G>
__global__ void __launch_bounds__(kThreads)
    keys_kernel(BatchArgs a, KeySplit split, ops::RegressionRecord<G>* epoch) {
  using Ops = ops::RegressionOps<G>;
  const std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  for (std::int64_t m = 0;; ++m) {
    const std::int64_t k = split.key(g, m);
    if (k < 0) {
      break;
    }
    ThreadFold<G> fold;
    for (std::int64_t row = 0; row < split.rows; ++row) {
      fold.add(a, KeySplit::element(row, k, split.keys));
    }
    const typename Ops::Record acc = fold.finish();
    epoch[k] = Ops::combine(epoch[k], acc);
  }
}

// The quantile sketch: every included pair adds one to its channel's bucket of |p - t| (global
// atomics on integer counts: the sketch is the same in any order). Inclusion as fold_element.
__global__ void __launch_bounds__(kThreads)
    sketch_kernel(BatchArgs a, std::int64_t elements, std::int64_t channels, int bits,
                  unsigned long long* sketch) {
  const std::int64_t buckets = ops::sketch::buckets(bits);
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
       e < elements; e += stride) {
    const double p = load(a.pred, e);
    const double t = load(a.target, e);
    const bool in_mask = !a.has_mask || mask_at(a.mask, a.cover, e);
    const bool finite = ops::is_finite(p) && ops::is_finite(t);
    if (in_mask && (finite || a.policy == NanPolicy::propagate)) {
      atomicAdd(sketch + (e % channels) * buckets + ops::sketch::bucket(p - t, bits), 1ull);
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

// Everything that depends on the statistic groups, behind one interface.
class GroupImpl {
public:
  virtual ~GroupImpl() = default;
  virtual std::size_t record_size() const = 0;
  virtual void init(void* epoch, std::int64_t keys, cudaStream_t s) = 0;
  virtual void update(const BatchArgs& a, std::int64_t rows, std::int64_t keys, void* epoch,
                      void* partials, cudaStream_t s) = 0;
  virtual std::vector<FullRecord> widen(const std::vector<unsigned char>& raw,
                                        std::int64_t keys) const = 0;
  virtual std::vector<unsigned char> narrow(const std::vector<FullRecord>& full) const = 0;
};

template <unsigned G> class GroupImplFor final : public GroupImpl {
public:
  using Record = ops::RegressionRecord<G>;
  std::size_t record_size() const override { return sizeof(Record); }

  void init(void* epoch, std::int64_t keys, cudaStream_t s) override {
    const int blocks = static_cast<int>((keys + kThreads - 1) / kThreads);
    init_kernel<G><<<blocks, kThreads, 0, s>>>(static_cast<Record*>(epoch), keys);
    GPUEVAL_CHECK_LAUNCH(s, "init_kernel");
  }

  void update(const BatchArgs& a, std::int64_t rows, std::int64_t keys, void* epoch, void* partials,
              cudaStream_t s) override {
    if (keys <= kMaxRowKeys) {
      const RowSplit split = row_split(rows, keys);
      const std::size_t smem = static_cast<std::size_t>(kThreads) * sizeof(Record);
      rows_kernel<G><<<split.blocks, kThreads, smem, s>>>(a, split, static_cast<Record*>(partials));
      GPUEVAL_CHECK_LAUNCH(s, "rows_kernel");
      merge_kernel<G><<<static_cast<unsigned>(keys), kThreads, 0, s>>>(
          static_cast<const Record*>(partials), split.blocks, keys, static_cast<Record*>(epoch));
      GPUEVAL_CHECK_LAUNCH(s, "merge_kernel");
    } else {
      const KeySplit split = key_split(rows, keys);
      keys_kernel<G><<<split.blocks, kThreads, 0, s>>>(a, split, static_cast<Record*>(epoch));
      GPUEVAL_CHECK_LAUNCH(s, "keys_kernel");
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
};

std::unique_ptr<GroupImpl> group_impl(unsigned groups) {
  switch (groups & kAllGroups) {
  case 0:
    return std::make_unique<GroupImplFor<0>>();
  case 1:
    return std::make_unique<GroupImplFor<1>>();
  case 2:
    return std::make_unique<GroupImplFor<2>>();
  case 3:
    return std::make_unique<GroupImplFor<3>>();
  case 4:
    return std::make_unique<GroupImplFor<4>>();
  case 5:
    return std::make_unique<GroupImplFor<5>>();
  case 6:
    return std::make_unique<GroupImplFor<6>>();
  default:
    return std::make_unique<GroupImplFor<7>>();
  }
}

class CudaBackend final : public detail::Backend {
public:
  explicit CudaBackend(int index) : index_(index) {
    cudaDeviceProp prop{};
    GPUEVAL_CUDA_TRY(cudaGetDeviceProperties(&prop, index));
    name_ = prop.name;
  }

  ~CudaBackend() override {
    if (epoch_ != nullptr || partials_ != nullptr || first_bad_ != nullptr) {
      int previous = 0;
      GPUEVAL_CUDA_TRY_NOTHROW(cudaGetDevice(&previous));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(index_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(epoch_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(partials_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(first_bad_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(sketch_));
      GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(previous));
    }
  }

  // Allocates everything update() will ever need: update itself never allocates (a CUDA graph
  // can capture it once the layout is known, i.e. after the first update or from a spec with
  // its sample shape).
  void configure(const RegressionSpec& spec_in, const KeyLayout& layout_in) override {
    DeviceGuard guard(index_);
    impl_ = group_impl(spec_in.groups());
    policy_ = spec_in.nan_policy;
    keys_ = layout_in.keys;
    GPUEVAL_CUDA_TRY(cudaMalloc(&epoch_, static_cast<std::size_t>(keys_) * impl_->record_size()));
    if (keys_ <= kMaxRowKeys) {
      GPUEVAL_CUDA_TRY(cudaMalloc(&partials_, static_cast<std::size_t>(kMaxBlocks) *
                                                  static_cast<std::size_t>(keys_) *
                                                  impl_->record_size()));
    }
    GPUEVAL_CUDA_TRY(cudaMalloc(&first_bad_, sizeof(unsigned long long)));
    sketch_bits_ = spec_in.quantile_bits();
    channels_ = layout_in.channels;
    sketch_size_ = sketch_bits_ > 0 ? channels_ * ops::sketch::buckets(sketch_bits_) : 0;
    if (sketch_size_ > 0) {
      GPUEVAL_CUDA_TRY(cudaMalloc(&sketch_, static_cast<std::size_t>(sketch_size_) * 8));
    }
    reset(nullptr);
    GPUEVAL_CUDA_TRY(cudaDeviceSynchronize());
  }

  void update(const detail::Batch& batch, StreamHandle stream) override {
    DeviceGuard guard(index_);
    BatchArgs a;
    a.pred = device_view(batch.pred);
    a.target = device_view(batch.target);
    a.has_mask = batch.has_mask();
    if (a.has_mask) {
      a.mask = device_view(batch.mask);
    }
    a.cover = batch.mask_cover;
    a.policy = policy_;
    a.batch = batch.index;
    a.first_bad = first_bad_;
    impl_->update(a, batch.rows, keys_, epoch_, partials_, static_cast<cudaStream_t>(stream));
    if (sketch_size_ > 0) {
      const std::int64_t want = (batch.elements + kThreads - 1) / kThreads;
      const auto blocks = static_cast<unsigned>(std::min<std::int64_t>(want, 4 * kMaxBlocks));
      sketch_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          a, batch.elements, channels_, sketch_bits_, sketch_);
      GPUEVAL_CHECK_LAUNCH(static_cast<cudaStream_t>(stream), "sketch_kernel");
    }
  }

  std::vector<std::uint64_t> sketch(StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    std::vector<std::uint64_t> out(static_cast<std::size_t>(sketch_size_));
    if (sketch_size_ > 0) {
      GPUEVAL_CUDA_TRY(
          cudaMemcpyAsync(out.data(), sketch_, out.size() * 8, cudaMemcpyDeviceToHost, s));
      GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
    }
    return out;
  }

  void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    if (sketch_size_ > 0) {
      GPUEVAL_CUDA_TRY(
          cudaMemcpyAsync(sketch_, counts.data(), counts.size() * 8, cudaMemcpyHostToDevice, s));
      GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
    }
  }

  std::vector<FullRecord> records(StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    std::vector<unsigned char> raw(static_cast<std::size_t>(keys_) * impl_->record_size());
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(raw.data(), epoch_, raw.size(), cudaMemcpyDeviceToHost, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
    return impl_->widen(raw, keys_);
  }

  detail::NonFiniteLocation first_nonfinite(StreamHandle stream) override {
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

  void load(const std::vector<FullRecord>& records_in, detail::NonFiniteLocation where,
            StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    const std::vector<unsigned char> raw = impl_->narrow(records_in);
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(epoch_, raw.data(), raw.size(), cudaMemcpyHostToDevice, s));
    const unsigned long long pos =
        where.found() ? encode_position(where.batch, where.element) : ~0ull;
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(first_bad_, &pos, sizeof pos, cudaMemcpyHostToDevice, s));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s)); // the host buffers must outlive the copies
  }

  void reset(StreamHandle stream) override {
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    impl_->init(epoch_, keys_, s);
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(first_bad_, 0xff, sizeof(unsigned long long), s));
    if (sketch_size_ > 0) {
      GPUEVAL_CUDA_TRY(cudaMemsetAsync(sketch_, 0, static_cast<std::size_t>(sketch_size_) * 8, s));
    }
  }

  Device device() const override { return Device::cuda(index_); }
  std::string describe() const override {
    return "cuda:" + std::to_string(index_) + " (" + name_ + ")";
  }

private:
  int index_;
  std::string name_;
  std::unique_ptr<GroupImpl> impl_;
  NanPolicy policy_ = NanPolicy::skip;
  std::int64_t keys_ = 1;
  void* epoch_ = nullptr;
  void* partials_ = nullptr;
  unsigned long long* first_bad_ = nullptr;
  int sketch_bits_ = 0;
  std::int64_t channels_ = 1;
  std::int64_t sketch_size_ = 0;
  unsigned long long* sketch_ = nullptr;
};

} // namespace

} // namespace gpueval::cuda

namespace gpueval::detail {

bool cuda_backend_available() {
  return true;
}

std::unique_ptr<Backend> make_cuda_backend(int index) {
  return std::make_unique<cuda::CudaBackend>(index);
}

} // namespace gpueval::detail
