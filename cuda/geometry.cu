// The geometry family's CUDA backend. A batch is folded in chunks of at most kAlignRows rows, each
// by up to two kernels on the caller's stream (with mode_axis, geo_modes_kernel alone: a thread per
// sample, each mode's sums over the sample's vectors in order, the sample's terms into its record):
//   geo_align_kernel  (only with pa_mpjpe or n_mpjpe) a thread per row: the row's alignments
//                     (ops::align_procrustes, ops::align_scale) from its included vectors, read
//                     in index order as the CPU reads them, into a scratch slot per row;
//   geo_fold_kernel   a thread per vector (grid-stride): its terms (ops::vector_terms) folded
//                     into the block's records in shared memory (global memory when the records
//                     do not fit), then added into the epoch's with atomics; the error sketch
//                     (quantile metrics) by global atomics, a count per vector.
// Every statistic is an exact sum or a count (ops/geometry.hpp): integer additions, so the
// atomics' order does not matter and the epoch is bitwise the CPU's for the same batches. Nothing
// is allocated after configure(); no host synchronisation in update().
#include <cuda_runtime.h>

#include <algorithm>
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
#include "geometry/backend.hpp"
#include "gpueval/ops/geometry.hpp"
#include "gpueval/ops/quantile_sketch.hpp"

namespace gpueval::cuda {

namespace {

constexpr int kGeoThreads = 256;
constexpr int kGeoMaxBlocks = 132 * 8;
constexpr std::int64_t kAlignRows = 1 << 16;     // rows a chunk aligns: its scratch slots
constexpr std::int64_t kSharedBytes = 48 * 1024; // records a block keeps in shared memory
constexpr std::size_t kBadSlots = 3; // first_bad: non-finite vector, bad weight, bad normalizer

// A row's alignments (the scratch slot geo_align_kernel writes and geo_fold_kernel reads).
struct RowAlign {
  ops::Alignment procrustes;
  double scale;
};

// A batch as the kernels read it: the vector axis and the row (batch) axis apart, the other
// axes (a row's vectors, C order) with their byte strides in each tensor; mask, weight and
// normalizer are views of the vector-less shape (validate_geo_batch): no vector-axis stride.
struct GeoArgs {
  DeviceView pred, target, mask, weight, normalizer;
  bool has_mask = false, has_weight = false, has_normalizer = false;
  int d = 0;                      // components of a vector
  int axes = 0;                   // a row's vector axes
  int key_pos = -1;               // which of them is the key axis
  int time_pos = -1, by_pos = -1; // the time and breakdown axes among them
  std::int64_t ns[kMaxRank] = {}; // each axis' stride in the vectors' C order (errors name it)
  std::int64_t sample_size = 0, samples_per_row = 1; // the alignments' samples (sample_axes)
  std::int64_t steps = 0;                            // the time axis' length
  std::int64_t shape[kMaxRank] = {};
  std::int64_t ps[kMaxRank] = {}, ts[kMaxRank] = {}, ms[kMaxRank] = {}, ws[kMaxRank] = {};
  std::int64_t zs[kMaxRank] = {};                          // the normalizer's
  std::int64_t p_row = 0, t_row = 0, m_row = 0, w_row = 0; // the batch axis' byte strides
  std::int64_t z_row = 0;
  std::int64_t p_vec = 0, t_vec = 0; // the vector axis
  std::int64_t p_mode = 0;           // the predictions' mode axis
  int modes = 0;                     // mode_axis: K
  std::int64_t vectors = 0;          // a row's vectors
  std::int64_t row0 = 0, rows = 0;   // the chunk
  bool pa = false, na = false;
  bool keep_nonfinite = false; // nan_policy propagate
  ops::GeoLayout layout;
  ops::GeoParams params;
  double pck[kMaxPckThresholds] = {};
  std::int64_t keys = 1;
  std::int64_t records = 1;       // keys, then by_axis' indices, then the samples' record
  std::int64_t sample_record = 0; // mode_axis
  std::uint64_t batch = 0;
  unsigned long long* epoch = nullptr; // keys x layout.words
  // [0]: first non-finite vector, [1]: first bad weight, [2]: first bad normalizer
  unsigned long long* first_bad = nullptr;
  RowAlign* align = nullptr;            // a slot per row of the chunk
  unsigned long long* sketch = nullptr; // the error sketch (quantile metrics), or none
  int sketch_bits = 0;
};

// Where vector j of row `row` lives: byte offsets into each tensor, and its key.
struct VectorAt {
  std::int64_t natural;       // the vector's index in C order within its row
  std::int64_t p, t, m, w, z; // p: mode 0's; z: the normalizer's
  int key, by;                // by: the by_axis index, or -1
  bool final;                 // at the time axis' last index
};

__device__ VectorAt vector_at(const GeoArgs& a, std::int64_t row, std::int64_t j) {
  VectorAt v{0,  row * a.p_row, row * a.t_row, row * a.m_row, row * a.w_row, row * a.z_row, 0,
             -1, false};
  for (int x = a.axes - 1; x >= 0; --x) {
    const std::int64_t c = j % a.shape[x];
    j /= a.shape[x];
    v.p += c * a.ps[x];
    v.t += c * a.ts[x];
    v.m += c * a.ms[x];
    v.w += c * a.ws[x];
    v.z += c * a.zs[x];
    v.natural += c * a.ns[x];
    if (x == a.key_pos) {
      v.key = static_cast<int>(c);
    }
    if (x == a.by_pos) {
      v.by = static_cast<int>(c);
    }
    if (x == a.time_pos) {
      v.final = c == a.steps - 1;
    }
  }
  return v;
}

__device__ bool mask_keeps(const GeoArgs& a, const VectorAt& at) {
  if (!a.has_mask) {
    return true;
  }
  const unsigned char* p = a.mask.data + at.m;
  unsigned char any = 0;
  for (int k = 0; k < a.mask.itemsize; ++k) {
    any |= p[k];
  }
  return any != 0;
}

__device__ double weight_of(const GeoArgs& a, const VectorAt& at) {
  return a.has_weight ? load_at(a.weight, a.weight.data + at.w) : 1.0;
}

__device__ bool finite_vector(const GeoArgs& a, const VectorAt& at) {
  bool finite = true;
  for (int i = 0; i < a.d; ++i) {
    finite = finite && isfinite(load_at(a.pred, a.pred.data + at.p + i * a.p_vec)) &&
             isfinite(load_at(a.target, a.target.data + at.t + i * a.t_vec));
  }
  return finite;
}

// One row's vectors as the alignments read them (ops::PackedVectors' interface): included are
// the vectors the mask keeps, of weight > 0, finite.
struct RowVectors {
  const GeoArgs& a;
  std::int64_t row;
  std::int64_t first; // the sample's first vector in reading order
  __device__ std::int64_t count() const { return a.sample_size; }
  __device__ bool included(std::int64_t k) const {
    const VectorAt at = vector_at(a, row, first + k);
    const double w = weight_of(a, at); // the fold's rule: a bad weight is never included
    return mask_keeps(a, at) && isfinite(w) && w > 0 && finite_vector(a, at);
  }
  __device__ void load(std::int64_t k, int i, double& p, double& t) const {
    const VectorAt at = vector_at(a, row, first + k);
    p = load_at(a.pred, a.pred.data + at.p + i * a.p_vec);
    t = load_at(a.target, a.target.data + at.t + i * a.t_vec);
  }
};

// One vector at known offsets (k is ignored: the source holds one vector).
struct OneVector {
  const GeoArgs& a;
  VectorAt at;
  __device__ void load(std::int64_t, int i, double& p, double& t) const {
    p = load_at(a.pred, a.pred.data + at.p + i * a.p_vec);
    t = load_at(a.target, a.target.data + at.t + i * a.t_vec);
  }
};

__global__ void geo_align_kernel(GeoArgs a) {
  // A thread per sample of the chunk: row r's sample q.
  const std::int64_t r = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (r >= a.rows * a.samples_per_row) {
    return;
  }
  const RowVectors src{a, a.row0 + r / a.samples_per_row, (r % a.samples_per_row) * a.sample_size};
  RowAlign out;
  out.procrustes = a.pa ? ops::align_procrustes(src, a.d) : ops::Alignment{};
  out.scale = a.na ? ops::align_scale(src, a.d) : 0.0;
  a.align[r] = out;
}

// An exact sum's term added with atomics: the integer's words, each carry added to the word
// above, a carry out of the value words (or a term past the range) counted in the overflow word:
// integer additions in any order, the same four words as exact_add's.
__device__ void atomic_exact_add(unsigned long long* s, double x) {
  const ops::ExactTerm t = ops::exact_term(x);
  if (t.zero) {
    return;
  }
  if (t.saturate) {
    atomicAdd(s + ops::kExactValueWords, 1ull);
    return;
  }
  unsigned long long add = t.lo;
  for (int i = t.word; i < ops::kExactValueWords; ++i) {
    if (i == t.word + 1) {
      add += t.hi; // hi < 2^54 and add <= 1 here: no overflow
    }
    if (add == 0) {
      if (i >= t.word + 1) {
        return;
      }
      continue;
    }
    const unsigned long long old = atomicAdd(s + i, add);
    add = old + add < old ? 1ull : 0ull; // the carry into the next word
  }
  if (add != 0) {
    atomicAdd(s + ops::kExactValueWords, add);
  }
}

// An exact sum added into another with atomics.
__device__ void atomic_exact_merge(unsigned long long* into, const unsigned long long* from) {
  unsigned long long carry = 0;
  for (int i = 0; i < ops::kExactValueWords; ++i) {
    const unsigned long long add = from[i] + carry;
    carry = add < carry ? 1ull : 0ull; // from[i] = 2^64 - 1 with a carry in
    if (add != 0) {
      const unsigned long long old = atomicAdd(into + i, add);
      carry += old + add < old ? 1ull : 0ull;
    }
  }
  if (from[ops::kExactValueWords] + carry != 0) {
    atomicAdd(into + ops::kExactValueWords, from[ops::kExactValueWords] + carry);
  }
}

// add_vector's words, by atomics (shared or global memory).
struct AtomicWords {
  unsigned long long* w;
  __device__ void count(int i) const { atomicAdd(w + i, 1ull); }
  __device__ void add(std::int64_t at, double x) const { atomic_exact_add(w + at, x); }
};

__global__ void geo_fold_kernel(GeoArgs a, bool shared) {
  extern __shared__ unsigned long long block_words[];
  const std::int64_t words = a.layout.words * a.records;
  unsigned long long* rec = shared ? block_words : a.epoch;
  if (shared) {
    for (std::int64_t i = threadIdx.x; i < words; i += blockDim.x) {
      block_words[i] = 0;
    }
    __syncthreads();
  }
  ops::GeoParams params = a.params;
  params.pck = a.pck;
  const std::int64_t total = a.rows * a.vectors;
  for (std::int64_t v = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; v < total;
       v += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = v / a.vectors, j = v % a.vectors;
    const std::int64_t row = a.row0 + r;
    const VectorAt at = vector_at(a, row, j);
    const std::uint64_t element = static_cast<std::uint64_t>(row * a.vectors + at.natural);
    // Every weight is checked, masked or not, as the CPU checks them: a bad one is recorded
    // (compute() raises) and its vector left out.
    const double w = weight_of(a, at);
    if (!(isfinite(w) && w >= 0)) {
      atomicMin(a.first_bad + 1,
                static_cast<unsigned long long>(encode_position(a.batch, element)));
      continue;
    }
    double n = 1.0; // checked as the weight is
    if (a.has_normalizer) {
      n = load_at(a.normalizer, a.normalizer.data + at.z);
      if (!(isfinite(n) && n > 0)) {
        atomicMin(a.first_bad + 2,
                  static_cast<unsigned long long>(encode_position(a.batch, element)));
        continue;
      }
    }
    if (!mask_keeps(a, at) || !(w > 0)) {
      continue;
    }
    unsigned long long* key_rec = rec + static_cast<std::int64_t>(at.key) * a.layout.words;
    if (!finite_vector(a, at)) {
      atomicMin(a.first_bad, static_cast<unsigned long long>(encode_position(a.batch, element)));
      // Counted in the key's record and the index's, as the CPU counts it.
      const int slot =
          a.keep_nonfinite ? int{ops::GeoLayout::kNonfinite} : int{ops::GeoLayout::kSkipped};
      atomicAdd(key_rec + slot, 1ull);
      if (at.by >= 0) {
        atomicAdd(rec + (a.keys + at.by) * a.layout.words + slot, 1ull);
      }
      continue;
    }
    const RowAlign* al =
        a.pa || a.na ? a.align + r * a.samples_per_row + j / a.sample_size : nullptr;
    ops::VectorTerms terms = ops::vector_terms(
        OneVector{a, at}, 0, a.d, w, a.pa ? &al->procrustes : nullptr, a.na ? &al->scale : nullptr);
    terms.final = at.final;
    terms.normalizer = n;
    ops::add_vector(AtomicWords{key_rec}, a.layout, params, terms);
    if (at.by >= 0) { // the vector's index of by_axis: its record after the keys'
      ops::add_vector(AtomicWords{rec + (a.keys + at.by) * a.layout.words}, a.layout, params,
                      terms);
    }
    if (a.sketch != nullptr) {
      atomicAdd(a.sketch + ops::sketch::bucket(terms.error, a.sketch_bits), 1ull);
    }
  }
  if (!shared) {
    return;
  }
  __syncthreads();
  for (std::int64_t k = 0; k < a.records; ++k) {
    const std::int64_t base = k * a.layout.words;
    for (std::int64_t i = threadIdx.x; i < ops::GeoLayout::kCounts; i += blockDim.x) {
      if (block_words[base + i] != 0) {
        atomicAdd(a.epoch + base + i, block_words[base + i]);
      }
    }
    const std::int64_t sums = (a.layout.words - ops::GeoLayout::kCounts) / ops::kExactWords;
    for (std::int64_t i = threadIdx.x; i < sums; i += blockDim.x) {
      const std::int64_t at = base + ops::GeoLayout::kCounts + i * ops::kExactWords;
      if ((block_words[at] | block_words[at + 1] | block_words[at + 2] | block_words[at + 3]) !=
          0) {
        atomic_exact_merge(a.epoch + at, block_words + at);
      }
    }
  }
}

// mode_axis: a thread per row. Each mode in order, its sums over the row's included vectors in
// index order (a vector is included when the mask keeps it, its weight is > 0, and its target and
// every mode's prediction are finite), as the CPU sums them; the sample's terms into the samples'
// record. A vector's checks (weight, finiteness) are reported once, in mode 0's pass.
__global__ void geo_modes_kernel(GeoArgs a) {
  const std::int64_t r = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (r >= a.rows) {
    return;
  }
  const std::int64_t row = a.row0 + r;
  unsigned long long* sample = a.epoch + a.sample_record * a.layout.words;
  ops::GeoParams params = a.params;
  params.pck = a.pck;
  ops::ModeBest best;
  unsigned long long vectors = 0;
  for (int k = 0; k < a.modes; ++k) {
    ops::ModeSums m;
    for (std::int64_t j = 0; j < a.vectors; ++j) {
      const VectorAt at = vector_at(a, row, j);
      const std::uint64_t element = static_cast<std::uint64_t>(row * a.vectors + at.natural);
      const double w = weight_of(a, at);
      if (!(isfinite(w) && w >= 0)) {
        if (k == 0) {
          atomicMin(a.first_bad + 1,
                    static_cast<unsigned long long>(encode_position(a.batch, element)));
        }
        continue;
      }
      if (!mask_keeps(a, at) || !(w > 0)) {
        continue;
      }
      bool finite = true;
      for (int i = 0; i < a.d; ++i) {
        finite = finite && isfinite(load_at(a.target, a.target.data + at.t + i * a.t_vec));
      }
      for (int q = 0; q < a.modes; ++q) {
        for (int i = 0; i < a.d; ++i) {
          finite =
              finite && isfinite(load_at(a.pred, a.pred.data + at.p + q * a.p_mode + i * a.p_vec));
        }
      }
      if (!finite) {
        if (k == 0) {
          atomicMin(a.first_bad,
                    static_cast<unsigned long long>(encode_position(a.batch, element)));
          atomicAdd(sample + (a.keep_nonfinite ? int{ops::GeoLayout::kNonfinite}
                                               : int{ops::GeoLayout::kSkipped}),
                    1ull);
        }
        continue;
      }
      double sq = 0;
      for (int i = 0; i < a.d; ++i) {
        const double x = load_at(a.pred, a.pred.data + at.p + k * a.p_mode + i * a.p_vec) -
                         load_at(a.target, a.target.data + at.t + i * a.t_vec);
        sq = sq + x * x;
      }
      ops::add_mode_vector(m, w, sqrt(sq), at.final);
      vectors += k == 0 ? 1 : 0;
    }
    best.add(m);
  }
  if (vectors == 0) {
    return;
  }
  atomicAdd(a.epoch + ops::GeoLayout::kCount, vectors); // the vectors, in key 0's record
  ops::add_sample(AtomicWords{sample}, a.layout, params, best.terms());
}

class CudaGeoBackend final : public detail::GeoBackend {
public:
  explicit CudaGeoBackend(int index) : index_(index), device_(index) {}

  void configure() override {
    DeviceGuard guard(index_);
    words_ = info.records() * layout.words;
    epoch_ = DeviceBuffer(index_, static_cast<std::size_t>(words_) * 8);
    first_bad_ = DeviceBuffer(index_, kBadSlots * sizeof(unsigned long long));
    sketch_size_ = sketch_bits > 0 ? ops::sketch::buckets(sketch_bits) : 0;
    if (sketch_size_ > 0) {
      sketch_ = DeviceBuffer(index_, static_cast<std::size_t>(sketch_size_) * 8);
    }
    if (needs(GeoMetric::pa_mpjpe) || needs(GeoMetric::n_mpjpe)) {
      align_ = DeviceBuffer(index_,
                            static_cast<std::size_t>(std::max(kAlignRows, info.samples_per_row)) *
                                sizeof(RowAlign));
    }
    configured_ = true;
    reset(nullptr);
    GPUEVAL_CUDA_TRY(cudaDeviceSynchronize());
    device_.settled();
  }

  void update(const detail::GeoBatch& b, StreamHandle stream) override {
    DeviceGuard guard(index_);
    GeoArgs a;
    a.pred = device_view(b.pred);
    a.target = device_view(b.target);
    a.has_mask = b.has_mask();
    a.has_weight = b.has_weight();
    if (a.has_mask) {
      a.mask = device_view(b.mask);
    }
    if (a.has_weight) {
      a.weight = device_view(b.weight);
    }
    a.has_normalizer = b.has_normalizer();
    if (a.has_normalizer) {
      a.normalizer = device_view(b.normalizer);
    }
    a.d = static_cast<int>(info.dims);
    const auto bytes = [](const TensorView& v, int axis) {
      return v.strides[axis] * static_cast<std::int64_t>(dtype_size(v.dtype));
    };
    a.p_row = bytes(b.pred, 0);
    a.t_row = bytes(b.target, 0);
    a.m_row = a.has_mask ? bytes(b.mask, 0) : 0;
    a.w_row = a.has_weight ? bytes(b.weight, 0) : 0;
    a.z_row = a.has_normalizer ? bytes(b.normalizer, 0) : 0;
    const int shift = info.modes ? 1 : 0; // the predictions' axes after their mode axis
    a.p_vec = bytes(b.pred, info.vector_axis + shift);
    a.t_vec = bytes(b.target, info.vector_axis);
    a.p_mode = info.modes ? bytes(b.pred, 1) : 0;
    a.modes = static_cast<int>(b.modes);
    int x = 0;
    for (int axis : info.order) { // the reading order (sample_axes last)
      const int vi = axis < info.vector_axis ? axis : axis - 1; // of the vector-less views
      a.shape[x] = b.target.shape[axis];
      a.ns[x] = 1;
      for (int later = axis + 1; later < b.target.rank; ++later) {
        a.ns[x] *= later == info.vector_axis ? 1 : b.target.shape[later];
      }
      a.ps[x] = bytes(b.pred, axis + shift);
      a.ts[x] = bytes(b.target, axis);
      a.ms[x] = a.has_mask ? bytes(b.mask, vi) : 0;
      a.ws[x] = a.has_weight ? bytes(b.weight, vi) : 0;
      a.zs[x] = a.has_normalizer ? bytes(b.normalizer, vi) : 0;
      if (axis == info.key_axis) {
        a.key_pos = x;
      }
      if (axis == info.time_axis) {
        a.time_pos = x;
      }
      if (axis == info.by_axis) {
        a.by_pos = x;
      }
      ++x;
    }
    a.axes = x;
    a.sample_size = info.sample_size;
    a.samples_per_row = info.samples_per_row;
    a.vectors = info.vectors;
    a.pa = needs(GeoMetric::pa_mpjpe);
    a.na = needs(GeoMetric::n_mpjpe);
    a.keep_nonfinite = spec.nan_policy == NanPolicy::propagate;
    a.layout = layout;
    a.params = params();
    for (std::size_t i = 0; i < spec.pck_thresholds.size(); ++i) {
      a.pck[i] = spec.pck_thresholds[i];
    }
    a.keys = info.keys;
    a.records = info.records();
    a.sample_record = info.sample_record();
    a.steps = info.steps;
    a.batch = b.index;
    a.epoch = epoch_.as<unsigned long long>();
    a.first_bad = first_bad_.as<unsigned long long>();
    a.align = align_ ? align_.as<RowAlign>() : nullptr;
    a.sketch = sketch_ ? sketch_.as<unsigned long long>() : nullptr;
    a.sketch_bits = sketch_bits;
    const bool shared = words_ * 8 <= kSharedBytes;
    const std::size_t smem = shared ? static_cast<std::size_t>(words_) * 8 : 0;
    const auto s = static_cast<cudaStream_t>(stream);
    device_.before(s);
    // Chunks of whole rows whose samples fit the scratch (a row at least).
    const std::int64_t chunk = std::max<std::int64_t>(1, kAlignRows / info.samples_per_row);
    for (std::int64_t row0 = 0; row0 < b.rows; row0 += chunk) {
      a.row0 = row0;
      a.rows = std::min(chunk, b.rows - row0);
      if (info.modes) { // the samples' metrics only: no vector is folded apart
        const auto blocks = static_cast<unsigned>((a.rows + 127) / 128);
        GPUEVAL_LAUNCH(geo_modes_kernel, blocks, 128, 0, s, a);
        continue;
      }
      if (a.pa || a.na) { // a thread per sample of the chunk
        const auto blocks = static_cast<unsigned>((a.rows * a.samples_per_row + 127) / 128);
        GPUEVAL_LAUNCH(geo_align_kernel, blocks, 128, 0, s, a);
      }
      const std::int64_t wanted = (a.rows * a.vectors + kGeoThreads - 1) / kGeoThreads;
      const int blocks = static_cast<int>(std::min<std::int64_t>(wanted, kGeoMaxBlocks));
      GPUEVAL_LAUNCH(geo_fold_kernel, blocks, kGeoThreads, smem, s, a, shared);
    }
    device_.wrote(s);
    device_.updated(s);
  }

  void hold(std::shared_ptr<void> owner) override { device_.hold(std::move(owner)); }

  std::vector<std::uint64_t> words(StreamHandle stream) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(words_));
    device_.copy_out(out.data(), epoch_.get(), out.size() * 8, stream);
    return out;
  }

  void load(const std::vector<std::uint64_t>& w, detail::NonFiniteLocation where,
            StreamHandle stream) override {
    device_.copy_in(epoch_.get(), w.data(), w.size() * 8, stream);
    // Slot 0 only: a bad weight or normalizer already recorded (slots 1, 2) stays, and keeps
    // raising.
    const unsigned long long pos =
        where.found() ? encode_position(where.batch, where.element) : ~0ull;
    device_.copy_in(first_bad_.get(), &pos, sizeof pos, stream);
  }

  void reset(StreamHandle stream) override {
    if (!configured_) {
      return;
    }
    DeviceGuard guard(index_);
    const auto s = static_cast<cudaStream_t>(stream);
    device_.before(s);
    GPUEVAL_CUDA_TRY(cudaMemsetAsync(epoch_.get(), 0, static_cast<std::size_t>(words_) * 8, s));
    GPUEVAL_CUDA_TRY(
        cudaMemsetAsync(first_bad_.get(), 0xff, kBadSlots * sizeof(unsigned long long), s));
    if (sketch_) {
      GPUEVAL_CUDA_TRY(
          cudaMemsetAsync(sketch_.get(), 0, static_cast<std::size_t>(sketch_size_) * 8, s));
    }
    device_.wrote(s);
  }

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

  detail::NonFiniteLocation first_bad(StreamHandle stream) override {
    return device_.read_position(first_bad_.as<unsigned long long>(), stream);
  }
  detail::NonFiniteLocation bad_weight(StreamHandle stream) override {
    return device_.read_position(first_bad_.as<unsigned long long>() + 1, stream);
  }
  detail::NonFiniteLocation bad_normalizer(StreamHandle stream) override {
    return device_.read_position(first_bad_.as<unsigned long long>() + 2, stream);
  }

  Device device() const override { return device_.device(); }
  std::string describe() const override { return device_.describe(); }

private:
  int index_;
  bool configured_ = false;
  std::int64_t words_ = 0;
  std::int64_t sketch_size_ = 0;
  DeviceBuffer epoch_, first_bad_, align_, sketch_;
  // Last: destroyed first, so that every enqueued use of the buffers has run before they go.
  BackendDevice device_;
};

} // namespace

void register_geometry_backend() {
  detail::register_backend(typeid(detail::GeoBackend), DeviceKind::cuda,
                           [](Device d) -> void* { return new CudaGeoBackend(d.index); });
}

} // namespace gpueval::cuda
