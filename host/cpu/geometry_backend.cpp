// The geometry family's CPU backend. A batch's rows are cut into tasks of whole rows; a row's
// vectors are read once (any dtype, any strides), its sample's alignments computed from the
// vectors it includes, and each vector's terms folded into its key's record in the worker's
// slot. The records are exact sums (ops/geometry.hpp), so the slots add into the epoch in any
// order and the epoch is bitwise the same for every thread count and batch split.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.hpp"
#include "cpu/backends.hpp"
#include "cpu/load.hpp"
#include "cpu/thread_pool.hpp"
#include "geometry/backend.hpp"
#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"

namespace gpueval::cpu {

namespace {

constexpr std::int64_t kTaskVectors = 1 << 14; // vectors a task folds, at least one row

GPUEVAL_FORCEINLINE double load_any(const TensorView& v, std::int64_t offset) {
  const auto* p = static_cast<const unsigned char*>(v.data) +
                  offset * static_cast<std::int64_t>(dtype_size(v.dtype));
  switch (v.dtype) {
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
  default:
    return load_as_double<DType::u8>(p);
  }
}

// Per vector of a row (C order over the axes but the batch and vector axes): its element offsets
// in pred, target, mask, weight and normalizer, and its key.
struct VectorMap {
  std::vector<std::int64_t> pred, target, mask, weight, normalizer; // pred: mode 0's
  std::vector<std::int32_t> key, by;                                // by: the by_axis index, or -1
  std::vector<std::uint8_t> final;                                  // at the time axis' last index
  std::vector<std::int64_t> natural; // the vector's index in C order (sample_axes reorder them)
  std::vector<std::int64_t> strides; // of the batch it was made for: the next reuses it if equal
};

// What a vector map depends on: every tensor's strides (and which are given).
std::vector<std::int64_t> map_key(const detail::GeoBatch& b) {
  std::vector<std::int64_t> k;
  for (const TensorView* v : {&b.pred, &b.target, &b.mask, &b.weight, &b.normalizer}) {
    k.push_back(v->data != nullptr ? v->rank : -1);
    k.insert(k.end(), v->strides, v->strides + (v->data != nullptr ? v->rank : 0));
  }
  return k;
}

// The first non-finite vector a worker met in a batch (its index over the batch's vectors).
struct FirstBad {
  std::int64_t vector = -1;
  bool found() const { return vector >= 0; }
};

// add_vector's words for one worker: a term of exactly 1 (an unweighted vector's weight, its
// px, PCK and AUC counts) is counted, and the counts enter the exact sums once per batch (a sum
// of n ones is n, exactly: the same bits as n exact additions of 1).
struct TallyWords {
  std::uint64_t* w;
  std::uint64_t* ones;
  void count(int i) const { w[i] += 1; }
  void add(std::int64_t at, double x) const {
    if (x == 1.0) {
      ones[at] += 1;
    } else {
      ops::exact_add(w + at, x);
    }
  }
};

struct Slot {
  std::vector<std::uint64_t> records; // keys x layout.words
  std::vector<std::uint64_t> ones;    // TallyWords' counts, at their sums' first words
  std::vector<std::uint64_t> sketch;  // the worker's error sketch (quantile metrics), kept
  std::vector<double> p, t;           // the row's included vectors, D each
  std::vector<std::int64_t> index;    // their vector index in the row
  std::vector<double> weight, normalizer;
  FirstBad first;
};

class CpuGeoBackend final : public detail::GeoBackend {
public:
  explicit CpuGeoBackend(int threads) {
    threads_ = ThreadPool::threads_for(threads);
    pool_ = std::make_unique<ThreadPool>(threads_);
  }

  void configure() override {
    const auto size = static_cast<std::size_t>(info.records() * layout.words);
    epoch_.assign(size, 0);
    slots_.clear();
    for (int i = 0; i < threads_; ++i) {
      auto s = std::make_unique<Slot>();
      s->records.assign(size, 0);
      s->ones.assign(size, 0);
      s->sketch.assign(
          sketch_bits > 0 ? static_cast<std::size_t>(ops::sketch::buckets(sketch_bits)) : 0, 0);
      slots_.push_back(std::move(s));
    }
  }

  void update(const detail::GeoBatch& b, StreamHandle) override {
    std::vector<std::int64_t> key = map_key(b);
    if (key != map_.strides) { // batches of one layout share one map
      map_ = vector_map(b);
      map_.strides = std::move(key);
    }
    const VectorMap& map = map_;
    // Checked before anything is folded: a bad batch changes nothing.
    check_weights(b, map);
    const std::int64_t per_task = std::max<std::int64_t>(1, kTaskVectors / info.vectors);
    const std::int64_t tasks = (b.rows + per_task - 1) / per_task;
    for (auto& s : slots_) {
      s->first = {};
    }
    pool_->run(tasks, [&](std::int64_t task, int slot) {
      Slot& s = *slots_[static_cast<std::size_t>(slot)];
      const std::int64_t r1 = std::min(b.rows, (task + 1) * per_task);
      for (std::int64_t r = task * per_task; r < r1; ++r) {
        if (info.modes) {
          fold_modes(b, map, r, s);
          continue;
        }
        const auto size = static_cast<std::size_t>(info.sample_size);
        for (std::size_t q = 0; q < static_cast<std::size_t>(info.samples_per_row); ++q) {
          fold_sample(b, map, r, q * size, (q + 1) * size, s);
        }
      }
    });
    for (auto& s : slots_) {
      for (std::size_t i = 0; i < s->ones.size(); ++i) {
        if (s->ones[i] != 0) {
          ops::exact_add(s->records.data() + i, static_cast<double>(s->ones[i]));
          s->ones[i] = 0;
        }
      }
      for (std::int64_t k = 0; k < info.records(); ++k) {
        const std::size_t at = static_cast<std::size_t>(k * layout.words);
        ops::combine(epoch_.data() + at, s->records.data() + at, layout);
      }
      std::fill(s->records.begin(), s->records.end(), 0);
      if (s->first.found()) {
        first_bad_.keep_earliest({b.index, static_cast<std::uint64_t>(s->first.vector)});
      }
    }
  }

  std::vector<std::uint64_t> words(StreamHandle) override { return epoch_; }

  void load(const std::vector<std::uint64_t>& words, detail::NonFiniteLocation where,
            StreamHandle) override {
    epoch_ = words;
    first_bad_ = where;
  }

  void reset(StreamHandle) override {
    std::fill(epoch_.begin(), epoch_.end(), 0);
    for (auto& s : slots_) {
      std::fill(s->sketch.begin(), s->sketch.end(), 0);
    }
    first_bad_ = {};
  }

  std::vector<std::uint64_t> sketch(StreamHandle) override {
    std::vector<std::uint64_t> out(slots_.empty() ? 0 : slots_[0]->sketch.size(), 0);
    for (const auto& s : slots_) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] += s->sketch[i];
      }
    }
    return out;
  }

  void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle) override {
    for (auto& s : slots_) {
      std::fill(s->sketch.begin(), s->sketch.end(), 0);
    }
    std::copy(counts.begin(), counts.end(), slots_[0]->sketch.begin());
  }

  detail::NonFiniteLocation first_bad(StreamHandle) override { return first_bad_; }
  Device device() const override { return Device::cpu(threads_); }
  std::string describe() const override { return device().describe(); }

private:
  // Offsets of a row's vectors, C order over the targets' axes but the batch and vector axes
  // (the predictions' axes are the targets' one further on with a mode axis at 1).
  VectorMap vector_map(const detail::GeoBatch& b) const {
    VectorMap m;
    const int rank = b.target.rank;
    const int shift = info.modes ? 1 : 0;
    const auto n = static_cast<std::size_t>(info.vectors);
    m.pred.resize(n);
    m.target.resize(n);
    m.mask.resize(b.has_mask() ? n : 0);
    m.weight.resize(b.has_weight() ? n : 0);
    m.normalizer.resize(b.has_normalizer() ? n : 0);
    m.key.resize(n);
    m.by.resize(n);
    m.final.resize(n);
    m.natural.resize(n);
    std::int64_t coord[kMaxRank] = {};
    for (std::size_t j = 0; j < n; ++j) {
      std::int64_t op = 0, ot = 0, om = 0, ow = 0, on = 0;
      int vi = 1; // the axis of the vector-less views (mask, weight, normalizer)
      for (int a = 1; a < rank; ++a) {
        if (a == info.vector_axis) {
          continue;
        }
        op += coord[a] * b.pred.strides[a + shift];
        ot += coord[a] * b.target.strides[a];
        if (b.has_mask()) {
          om += coord[a] * b.mask.strides[vi];
        }
        if (b.has_weight()) {
          ow += coord[a] * b.weight.strides[vi];
        }
        if (b.has_normalizer()) {
          on += coord[a] * b.normalizer.strides[vi];
        }
        ++vi;
      }
      m.pred[j] = op;
      m.target[j] = ot;
      if (b.has_mask()) {
        m.mask[j] = om;
      }
      if (b.has_weight()) {
        m.weight[j] = ow;
      }
      if (b.has_normalizer()) {
        m.normalizer[j] = on;
      }
      m.key[j] = info.key_axis > 0 ? static_cast<std::int32_t>(coord[info.key_axis]) : 0;
      m.by[j] = info.by_axis > 0 ? static_cast<std::int32_t>(coord[info.by_axis]) : -1;
      m.final[j] = info.time_axis > 0 && coord[info.time_axis] == info.steps - 1 ? 1 : 0;
      std::int64_t natural = 0; // the vector's index in C order (what errors name)
      for (int a = 1; a < rank; ++a) {
        if (a != info.vector_axis) {
          natural = natural * b.target.shape[a] + coord[a];
        }
      }
      m.natural[j] = natural;
      for (auto it = info.order.rbegin(); it != info.order.rend(); ++it) { // the next, in order
        if (++coord[*it] < b.target.shape[*it]) {
          break;
        }
        coord[*it] = 0;
      }
    }
    return m;
  }

  // Every weight (finite, >= 0) and normalizer (finite, > 0), masked or not.
  void check_weights(const detail::GeoBatch& b, const VectorMap& map) const {
    for (std::int64_t r = 0; r < b.rows; ++r) {
      for (std::size_t j = 0; j < map.weight.size(); ++j) {
        const double w = load_any(b.weight, r * b.weight.strides[0] + map.weight[j]);
        if (!(std::isfinite(w) && w >= 0)) {
          throw InvalidArgument(
              detail::bad_geo_weight_message(b.index, r * info.vectors + map.natural[j], w));
        }
      }
      for (std::size_t j = 0; j < map.normalizer.size(); ++j) {
        const double n = load_any(b.normalizer, r * b.normalizer.strides[0] + map.normalizer[j]);
        if (!(std::isfinite(n) && n > 0)) {
          throw InvalidArgument(
              detail::bad_geo_normalizer_message(b.index, r * info.vectors + map.natural[j], n));
        }
      }
    }
  }

  // Row r's vectors [j0, j1) in reading order: one sample (its alignments), then its vectors.
  void fold_sample(const detail::GeoBatch& b, const VectorMap& map, std::int64_t r, std::size_t j0,
                   std::size_t j1, Slot& s) const {
    const auto d = static_cast<int>(info.dims);
    const std::int64_t pv = b.pred.strides[info.vector_axis];
    const std::int64_t tv = b.target.strides[info.vector_axis];
    const std::int64_t p0 = r * b.pred.strides[0], t0 = r * b.target.strides[0];
    const auto words = static_cast<std::size_t>(layout.words);
    // Staged by index into buffers sized once (a sample's vectors), not appended.
    const std::size_t vectors = j1 - j0;
    if (s.index.size() < vectors) {
      s.p.resize(vectors * static_cast<std::size_t>(d));
      s.t.resize(vectors * static_cast<std::size_t>(d));
      s.index.resize(vectors);
      s.weight.resize(vectors);
      s.normalizer.resize(vectors);
    }
    double* sp = s.p.data();
    double* st = s.t.data();
    std::size_t n_in = 0;
    const bool keep_nonfinite = spec.nan_policy == NanPolicy::propagate;
    const bool masked = b.has_mask(), weighted = b.has_weight();
    const std::int64_t m0 = masked ? r * b.mask.strides[0] : 0;
    const std::int64_t w0 = weighted ? r * b.weight.strides[0] : 0;
    const bool normalized = b.has_normalizer();
    const std::int64_t n0 = normalized ? r * b.normalizer.strides[0] : 0;
    for (std::size_t j = j0; j < j1; ++j) {
      if (masked && load_any(b.mask, m0 + map.mask[j]) == 0) {
        continue;
      }
      const double w = weighted ? load_any(b.weight, w0 + map.weight[j]) : 1.0;
      if (!(w > 0)) {
        continue;
      }
      bool finite = true;
      double* pd = sp + n_in * static_cast<std::size_t>(d);
      double* td = st + n_in * static_cast<std::size_t>(d);
      const std::int64_t pj = p0 + map.pred[j], tj = t0 + map.target[j];
      for (int i = 0; i < d; ++i) {
        pd[i] = load_any(b.pred, pj + i * pv);
        td[i] = load_any(b.target, tj + i * tv);
        finite = finite && std::isfinite(pd[i]) && std::isfinite(td[i]);
      }
      if (!finite) {
        const std::int64_t vector = r * info.vectors + map.natural[j];
        if (!s.first.found() || vector < s.first.vector) {
          s.first.vector = vector;
        }
        // Counted in the key's record and the index's, so that both read NaN under propagate.
        const int slot = keep_nonfinite ? ops::GeoLayout::kNonfinite : ops::GeoLayout::kSkipped;
        s.records[static_cast<std::size_t>(map.key[j]) * words + static_cast<std::size_t>(slot)] +=
            1;
        if (map.by[j] >= 0) {
          s.records[static_cast<std::size_t>(info.by_record(map.by[j])) * words +
                    static_cast<std::size_t>(slot)] += 1;
        }
        continue;
      }
      s.index[n_in] = static_cast<std::int64_t>(j);
      s.weight[n_in] = w;
      s.normalizer[n_in] = normalized ? load_any(b.normalizer, n0 + map.normalizer[j]) : 1.0;
      ++n_in;
    }
    const int n = static_cast<int>(n_in);
    if (n == 0) {
      return;
    }
    const ops::PackedVectors sample{s.p.data(), s.t.data(), n, d};
    const bool pa = needs(GeoMetric::pa_mpjpe), na = needs(GeoMetric::n_mpjpe);
    const ops::Alignment procrustes = pa ? ops::align_procrustes(sample, d) : ops::Alignment{};
    const double scale = na ? ops::align_scale(sample, d) : 0.0;
    const ops::GeoParams params = this->params();
    for (int v = 0; v < n; ++v) {
      const auto at = static_cast<std::size_t>(v);
      ops::VectorTerms terms = ops::vector_terms(sample, v, d, s.weight[at],
                                                 pa ? &procrustes : nullptr, na ? &scale : nullptr);
      const auto j = static_cast<std::size_t>(s.index[at]);
      terms.final = map.final[j] != 0;
      terms.normalizer = s.normalizer[at];
      if (sketch_bits > 0) {
        ++s.sketch[ops::sketch::bucket(terms.error, sketch_bits)];
      }
      const auto key = static_cast<std::size_t>(map.key[j]);
      ops::add_vector(TallyWords{s.records.data() + key * words, s.ones.data() + key * words},
                      layout, params, terms);
      if (map.by[j] >= 0) {
        const auto by = static_cast<std::size_t>(info.by_record(map.by[j]));
        ops::add_vector(TallyWords{s.records.data() + by * words, s.ones.data() + by * words},
                        layout, params, terms);
      }
    }
  }

  // A row of multimodal predictions: each included vector's target and its K modes, then per
  // mode (in order) the sums over the vectors (in order), then the sample's terms.
  void fold_modes(const detail::GeoBatch& b, const VectorMap& map, std::int64_t r, Slot& s) const {
    const auto d = static_cast<int>(info.dims);
    const int modes = static_cast<int>(b.modes);
    const std::int64_t pv = b.pred.strides[info.vector_axis + 1], pm = b.pred.strides[1];
    const std::int64_t tv = b.target.strides[info.vector_axis];
    const std::int64_t p0 = r * b.pred.strides[0], t0 = r * b.target.strides[0];
    const auto words = static_cast<std::size_t>(layout.words);
    std::uint64_t* sample =
        s.records.data() + static_cast<std::size_t>(info.sample_record()) * words;
    s.p.clear();
    s.t.clear();
    s.index.clear();
    s.weight.clear();
    for (std::size_t j = 0; j < map.pred.size(); ++j) {
      if (b.has_mask() && load_any(b.mask, r * b.mask.strides[0] + map.mask[j]) == 0) {
        continue;
      }
      const double w =
          b.has_weight() ? load_any(b.weight, r * b.weight.strides[0] + map.weight[j]) : 1.0;
      if (!(w > 0)) {
        continue;
      }
      bool finite = true;
      const std::size_t pat = s.p.size(), tat = s.t.size();
      for (int i = 0; i < d; ++i) {
        const double t = load_any(b.target, t0 + map.target[j] + i * tv);
        finite = finite && std::isfinite(t);
        s.t.push_back(t);
      }
      for (int k = 0; k < modes; ++k) {
        for (int i = 0; i < d; ++i) {
          const double p = load_any(b.pred, p0 + k * pm + map.pred[j] + i * pv);
          finite = finite && std::isfinite(p);
          s.p.push_back(p);
        }
      }
      if (!finite) {
        s.p.resize(pat);
        s.t.resize(tat);
        const std::int64_t vector = r * info.vectors + map.natural[j];
        if (!s.first.found() || vector < s.first.vector) {
          s.first.vector = vector;
        }
        sample[spec.nan_policy == NanPolicy::propagate ? ops::GeoLayout::kNonfinite
                                                       : ops::GeoLayout::kSkipped] += 1;
        continue;
      }
      s.index.push_back(static_cast<std::int64_t>(j));
      s.weight.push_back(w);
    }
    const auto n = s.index.size();
    if (n == 0) {
      return;
    }
    s.records[ops::GeoLayout::kCount] += n; // the vectors, in key 0's record
    ops::ModeBest best;
    for (int k = 0; k < modes; ++k) {
      ops::ModeSums m;
      for (std::size_t v = 0; v < n; ++v) {
        const double e = std::sqrt(ops::squared_distance(
            s.p.data() + (v * static_cast<std::size_t>(modes) + static_cast<std::size_t>(k)) *
                             static_cast<std::size_t>(d),
            s.t.data() + v * static_cast<std::size_t>(d), d));
        ops::add_mode_vector(m, s.weight[v], e,
                             map.final[static_cast<std::size_t>(s.index[v])] != 0);
      }
      best.add(m);
    }
    const auto at = static_cast<std::size_t>(info.sample_record()) * words;
    ops::add_sample(TallyWords{sample, s.ones.data() + at}, layout, params(), best.terms());
  }

  int threads_ = 1;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::uint64_t> epoch_;
  VectorMap map_;
  detail::NonFiniteLocation first_bad_;
};

} // namespace

void register_geometry_backend() {
  detail::register_backend(typeid(detail::GeoBackend), DeviceKind::cpu,
                           [](Device d) -> void* { return new CpuGeoBackend(d.threads); });
}

} // namespace gpueval::cpu
