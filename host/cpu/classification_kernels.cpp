// The classification family's hot loop (see classification_kernels.hpp). Compiled once per
// instruction set into namespace GPUEVAL_ISA_NS, like regression_kernels.cpp and for the same
// reasons; the entry point is `flatten`, so no ISA-specific copy of a shared inline function leaks
// to other callers.
//
// Vector lanes are samples: eight at a time, the scores, decisions, losses and Brier terms are
// computed with ops/classification.hpp's deterministic math on a vector of doubles, performing
// per lane exactly the operations the scalar ops perform (the same expressions in the same
// order; no FMA contraction), so a sample's terms are the same bits as on the scalar and CUDA
// paths. The record's bookkeeping (confusion cells, calibration bins, fixed-point sums) is then
// done lane by lane.
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/classification_kernels.hpp"

#ifndef GPUEVAL_ISA_NS
#error "compile classification_kernels.cpp with -DGPUEVAL_ISA_NS=<namespace> (see CMakeLists.txt)"
#endif

namespace gpueval::cpu {
typedef double v8d __attribute__((vector_size(64)));
// What comparing two v8d gives: all-ones or all-zero lanes.
typedef long v8l __attribute__((vector_size(64)));
} // namespace gpueval::cpu

namespace gpueval::ops {
template <> struct DetMath<cpu::v8d> {
  using V = cpu::v8d;
  using I = cpu::v8l;
  using Mask = cpu::v8l;
  static I bits(V x) { return reinterpret_cast<I>(x); }
  static V from_bits(I i) { return reinterpret_cast<V>(i); }
  static V select(Mask m, V a, V b) {
    return reinterpret_cast<V>((m & reinterpret_cast<I>(a)) | (~m & reinterpret_cast<I>(b)));
  }
  static Mask greater(V a, V b) { return a > b; }
  static Mask less(V a, V b) { return a < b; }
};
} // namespace gpueval::ops

namespace gpueval::cpu::GPUEVAL_ISA_NS {

namespace {

using V = v8d;
using Mask = v8l;
using M = ops::DetMath<V>;
using L = ops::ClassLayout;

static_assert(kClassLanes == 8, "one v8d per group of lanes");

GPUEVAL_FORCEINLINE V load(const double* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
GPUEVAL_FORCEINLINE V splat(double x) {
  return V{} + x;
}
GPUEVAL_FORCEINLINE V abs(V x) {
  return reinterpret_cast<V>(reinterpret_cast<Mask>(x) & 0x7fffffffffffffffL);
}
GPUEVAL_FORCEINLINE Mask finite(V x) {
  return (x - x) == 0.0;
}
// clip(x, eps) of ops: the same two selects.
GPUEVAL_FORCEINLINE V clip(V x, double eps) {
  const V lo = M::select(x < eps, splat(eps), x);
  return M::select(lo > 1.0 - eps, splat(1.0 - eps), lo);
}
// Whole numbers (finite, no fraction): the magic-number rounding, exact below 2^51.
GPUEVAL_FORCEINLINE Mask whole(V x) {
  constexpr double kRound = 6755399441055744.0;
  return finite(x) & (((x + kRound) - kRound) == x);
}

template <class T> GPUEVAL_FORCEINLINE void store(T* out, const V& v) {
  std::memcpy(out, &v, sizeof v);
}
GPUEVAL_FORCEINLINE void store_mask(long* out, const Mask& m) {
  std::memcpy(out, &m, sizeof m);
}

// ops::quantize on eight lanes: round(x * 2^40) for 0 <= x < 4096, as 64-bit integers.
GPUEVAL_FORCEINLINE Mask quantize(V x) {
  return M::bits(x * 1099511627776.0 + 4503599627370496.0) - M::bits(splat(4503599627370496.0));
}

// ops::calibration_bin on eight lanes: floor(conf * bins) (conf >= 0), clamped to the top bin.
GPUEVAL_FORCEINLINE V calibration_bin(V conf, int bins) {
  constexpr double kRound = 6755399441055744.0;
  const V x = conf * static_cast<double>(bins);
  V r = (x + kRound) - kRound; // nearest
  r = M::select(r > x, r - 1.0, r);
  r = M::select(r < 0.0, splat(0.0), r);
  return M::select(r > static_cast<double>(bins - 1), splat(static_cast<double>(bins - 1)), r);
}

// Lane by lane: what the vector part computed for a group of eight samples.
struct Lanes {
  long in[8], ignored[8], invalid[8];
  long raises[8];            // invalid lanes that stop compute() (ops::raises)
  double target[8], pred[8]; // class index (or 0/1) and decision
  double score[8];           // binary: the score, for its histogram
  double loss[8], conf[8], higher[8], bin[8];
  double brier[8]; // weighted records and breakdowns: the Brier term (lane_outcome)
  long conf_q[8];
};

// The log loss and Brier sums of a block: the lanes of folded samples, quantized and added as
// 64-bit integers (a block's terms stay far below 2^64), then into the record once. Log losses
// of 4096 or more (extreme logits) go to the record one by one, through ops::add_term.
struct TermSums {
  Mask loss{}, brier{};
  GPUEVAL_FORCEINLINE void add(Mask folded, V loss_v, V brier_v) {
    const Mask small = loss_v < ops::kQuantizeLimit;
    loss += quantize(loss_v) & folded & small;
    brier += quantize(brier_v) & folded;
  }
  void flush(const L& l, std::uint64_t* w) const {
    long a[8], b[8];
    std::memcpy(a, &loss, sizeof a);
    std::memcpy(b, &brier, sizeof b);
    std::uint64_t sa = 0, sb = 0;
    for (int j = 0; j < 8; ++j) {
      sa += static_cast<std::uint64_t>(a[j]);
      sb += static_cast<std::uint64_t>(b[j]);
    }
    ops::add_fixed(w + l.log_loss, sa, 0);
    ops::add_fixed(w + l.brier, sb, 0);
  }
};

// A block's counts of folded samples and terms, and its calibration bins: kept here and added
// to the record once per block, so that neighbouring samples do not wait on each other's
// read-modify-write of one word. Bins have four interleaved copies (lane j uses copy j % 4), and
// a block's confidence quanta (<= 2^40 each, at most 1024 samples) add without overflow.
struct Tally {
  static constexpr int kLocalBins = 64;
  std::uint64_t samples = 0, terms = 0;
  bool local = false;
  std::uint64_t count[4][kLocalBins], correct[4][kLocalBins], conf[4][kLocalBins];

  explicit Tally(int bins) : local(bins > 0 && bins <= kLocalBins) {
    if (local) {
      for (int c = 0; c < 4; ++c) {
        for (int b = 0; b < bins; ++b) {
          count[c][b] = correct[c][b] = conf[c][b] = 0;
        }
      }
    }
  }
  void flush(const L& l, std::uint64_t* w) const {
    w[L::kSamples] += samples;
    w[L::kTerms] += terms;
    if (!local) {
      return;
    }
    for (int b = 0; b < l.bins; ++b) {
      std::uint64_t n = 0, right = 0, q = 0;
      for (int c = 0; c < 4; ++c) {
        n += count[c][b];
        right += correct[c][b];
        q += conf[c][b];
      }
      w[l.calib_count + b] += n;
      w[l.calib_correct + b] += right;
      ops::add_fixed(w + l.calib_conf + 2 * b, q, 0);
    }
  }
};

// The fold of one scored, ignored or invalid sample's lane into the record: ops::add's
// bookkeeping, with the terms already computed.
// A histogram word added to: its group (and the group's summary byte) marked touched, a store of
// 1 that every writer makes alike, so that reading the histograms back skips untouched groups.
GPUEVAL_FORCEINLINE void mark(const ClassBlock& b, std::int64_t word) {
  // Read before written: a byte already set is left alone, so that workers counting into the
  // same groups share those lines instead of taking them from each other at every count.
  std::uint8_t* group = b.touched + (word >> kHistGroupShift);
  if (__atomic_load_n(group, __ATOMIC_RELAXED) == 0) {
    __atomic_store_n(group, std::uint8_t{1}, __ATOMIC_RELAXED);
  }
  std::uint8_t* super = b.touched_super + (word >> kHistSuperShift);
  if (__atomic_load_n(super, __ATOMIC_RELAXED) == 0) {
    __atomic_store_n(super, std::uint8_t{1}, __ATOMIC_RELAXED);
  }
}

// Inexact histograms: bin `index`'s shared key merged with this score's (ops::merge_key), by
// compare-and-swap; a bin already mixed, or holding this key, is only read.
GPUEVAL_FORCEINLINE void note_key(const ClassBlock& b, const ops::HistLayout& h, std::int64_t index,
                                  double score) {
  if (b.keys == nullptr) {
    return;
  }
  std::uint32_t* at = b.keys + index;
  const std::uint32_t key = h.key_of(score);
  if (!b.shared) {
    *at = ops::merge_key(*at, key);
    return;
  }
  std::uint32_t old = __atomic_load_n(at, __ATOMIC_RELAXED);
  while (old != key && old != ops::kMixedKey &&
         !__atomic_compare_exchange_n(at, &old, ops::merge_key(old, key), false, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
  }
}

GPUEVAL_FORCEINLINE void count(const ClassBlock& b, const ops::HistLayout& h, std::int64_t index,
                               double score) {
  if (b.shared) {
    __atomic_fetch_add(b.hist + index, std::uint64_t{1}, __ATOMIC_RELAXED);
  } else {
    b.hist[index] += 1;
  }
  mark(b, index);
  note_key(b, h, index, score);
}

// A histogram bin += a sample's weight: its two-word weight sum at 2 * index, with carry.
GPUEVAL_FORCEINLINE void count_weight(const ClassBlock& b, const ops::HistLayout& h,
                                      std::int64_t index, double score, const ops::Weight& wt) {
  if ((wt.lo | wt.hi) == 0) {
    return; // a weight below 2^-64 adds no word, and so notes no key
  }
  note_key(b, h, index, score);
  std::uint64_t* at = b.hist + 2 * index;
  mark(b, 2 * index);
  const std::uint64_t old = __atomic_fetch_add(at, wt.lo, __ATOMIC_RELAXED);
  const std::uint64_t carry = old + wt.lo < old ? 1u : 0u;
  if (wt.hi + carry != 0) {
    __atomic_fetch_add(at + 1, wt.hi + carry, __ATOMIC_RELAXED);
  }
}

// add_lane for a weighted record: ops::add's bookkeeping with the sample's weight (the staged
// inclusion), each term times it. No block tally: every count carries its weight sum.
// A folded lane's outcome as ops::add folds it: its decision, top-k hit and (scored) terms.
ops::Outcome lane_outcome(const Lanes& g, int j, const L& l, const ops::ClassParams& p,
                          bool scored) {
  ops::Outcome o;
  o.target = static_cast<std::int64_t>(g.target[j]);
  o.pred = static_cast<std::int64_t>(g.pred[j]);
  o.scored = scored;
  o.top_k_hit = l.top_k && g.higher[j] < static_cast<double>(p.top_k);
  if (scored) {
    o.log_loss = g.loss[j];
    o.brier = g.brier[j];
    o.confidence = g.conf[j];
    o.correct = l.task == ops::ClassTask::binary ? o.target == 1 : o.target == o.pred;
  }
  return o;
}

void add_lane_weighted(const Lanes& g, int j, int sample, const L& l, const ops::ClassParams& p,
                       bool scored, std::uint64_t* w, int* first_invalid, const ClassBlock& b) {
  const ops::Weight wt = ops::weight_of(b.include[sample]);
  if (g.ignored[j]) {
    ops::add_count(w, l, L::kIgnored, wt);
    return;
  }
  if (g.invalid[j]) {
    ops::add_count(w, l, L::kInvalid, wt);
    if (g.raises[j] && sample < *first_invalid) {
      *first_invalid = sample;
    }
    return;
  }
  const ops::Outcome o = lane_outcome(g, j, l, p, scored);
  const std::int64_t t = o.target;
  ops::add_count(w, l, L::kSamples, wt);
  ops::add_decision(w, l, t, o.pred, wt);
  if (b.hist != nullptr && scored) {
    if (l.task == ops::ClassTask::binary) {
      count_weight(b, p.hist, p.hist.index(0, t == 1, g.score[j]), g.score[j], wt);
    } else {
      const double* col = b.score + sample;
      for (std::int64_t c = 0; c < l.classes; ++c) {
        const double q = col[c * b.stride];
        count_weight(b, p.hist, p.hist.class_index(c, t, q), q, wt);
      }
    }
  }
  if (o.top_k_hit) {
    ops::add_count(w, l, l.topk_hits, wt);
  }
  if (scored) {
    ops::add_scored(w, l, o, wt);
  }
  if (l.positions > 0) {
    ops::add_position(w, l, l.position_of(b.first + sample), o, wt);
  }
}

GPUEVAL_FORCEINLINE void add_lane(const Lanes& g, int j, int sample, const L& l,
                                  const ops::ClassParams& p, bool scored, std::uint64_t* w,
                                  Tally& tally, int* first_invalid, const ClassBlock& b) {
  if (!g.in[j]) {
    return;
  }
  if (l.weighted) {
    add_lane_weighted(g, j, sample, l, p, scored, w, first_invalid, b);
    return;
  }
  if (g.ignored[j]) {
    w[L::kIgnored] += 1;
    return;
  }
  if (g.invalid[j]) {
    w[L::kInvalid] += 1;
    if (g.raises[j] && sample < *first_invalid) {
      *first_invalid = sample;
    }
    return;
  }
  const auto t = static_cast<std::int64_t>(g.target[j]);
  const auto y = static_cast<std::int64_t>(g.pred[j]);
  tally.samples += 1;
  if (l.confusion >= 0) {
    w[l.confusion + t * l.classes + y] += 1;
  } else {
    ops::add_decision(w, l, t, y, ops::unit_weight());
  }
  if (b.hist != nullptr && scored) { // one-vs-rest: each class's probability in its histograms
    if (l.task == ops::ClassTask::binary) {
      count(b, p.hist, p.hist.index(0, t == 1, g.score[j]), g.score[j]);
    } else {
      const double* col = b.score + sample; // the staged probabilities of this sample
      for (std::int64_t c = 0; c < l.classes; ++c) {
        const double q = col[c * b.stride];
        count(b, p.hist, p.hist.class_index(c, t, q), q);
      }
    }
  }
  if (l.top_k) {
    w[l.topk_hits] += g.higher[j] < static_cast<double>(p.top_k) ? 1u : 0u;
  }
  if (l.positions > 0) {
    ops::add_position(w, l, l.position_of(b.first + sample), lane_outcome(g, j, l, p, scored),
                      ops::unit_weight());
  }
  if (scored) { // the log loss and Brier sums are TermSums'
    tally.terms += 1;
    if (!(g.loss[j] < ops::kQuantizeLimit)) {
      ops::add_term(w + l.log_loss, g.loss[j]);
    }
    if (l.bins > 0) {
      const auto bin = static_cast<std::int64_t>(g.bin[j]);
      const bool correct = l.task == ops::ClassTask::binary ? t == 1 : t == y;
      const auto q = static_cast<std::uint64_t>(g.conf_q[j]);
      if (tally.local) {
        tally.count[j & 3][bin] += 1;
        tally.correct[j & 3][bin] += correct ? 1u : 0u;
        tally.conf[j & 3][bin] += q;
      } else {
        w[l.calib_count + bin] += 1;
        w[l.calib_correct + bin] += correct ? 1u : 0u;
        ops::add_fixed(w + l.calib_conf + 2 * bin, q, 0);
      }
    }
  }
}

// What every scored group stores for add_lane: the loss, and the confidence's bin and quantum.
GPUEVAL_FORCEINLINE void store_scored(Lanes& g, V loss, V conf, V brier, const L& l) {
  const int bins = l.bins;
  store(g.loss, loss);
  if (l.weighted || l.positions > 0) {
    store(g.conf, conf);
    store(g.brier, brier);
  }
  if (bins > 0) {
    store(g.bin, calibration_bin(conf, bins));
    const Mask q = quantize(conf);
    std::memcpy(g.conf_q, &q, sizeof q);
  }
}

// The binary (or multilabel label) terms of eight scores x with targets y, as ops::sample_binary
// computes them: the probability, the log loss and the Brier term.
struct BinaryTerms {
  V prob, loss, brier;
};
GPUEVAL_FORCEINLINE BinaryTerms binary_terms(V x, V y, const ops::ClassParams& p) {
  BinaryTerms r;
  const Mask positive = y == 1.0;
  if (p.logits) {
    const V a = ops::det_exp(-abs(x));
    const V lg = ops::det_log1p(a);
    r.prob = M::select(x >= 0.0, 1.0 / (1.0 + a), a / (1.0 + a));
    const V log_p = M::select(x >= 0.0, -lg, x - lg);
    const V log_q = M::select(x <= 0.0, -lg, -x - lg);
    r.loss = -M::select(positive, log_p, log_q);
  } else {
    r.prob = x;
    const V c = clip(x, p.clip_eps);
    r.loss = -ops::det_log(M::select(positive, c, 1.0 - c));
  }
  const V d = r.prob - y;
  r.brier = d * d;
  return r;
}

Mask ignored_of(V y, const ops::ClassParams& p) {
  return p.has_ignore ? (y == static_cast<double>(p.ignore_index)) : Mask{};
}

// ops::raises for the lanes of dropped samples: `nonfinite` says which of them are non-finite
// (the others are invalid).
Mask raises_of(Mask dropped, Mask nonfinite, const ops::ClassParams& p) {
  const Mask all = ~Mask{};
  const Mask on_nonfinite = p.raise_nonfinite ? all : Mask{};
  const Mask on_invalid = p.raise_invalid ? all : Mask{};
  return dropped & ((nonfinite & on_nonfinite) | (~nonfinite & on_invalid));
}

void binary_block(const ClassBlock& b, const L& l, const ops::ClassParams& p, std::uint64_t* w,
                  int* first_invalid) {
  Lanes g;
  TermSums sums;
  Tally tally(b.labels ? 0 : l.bins);
  for (int i = 0; i < b.n; i += kClassLanes) {
    const V x = load(b.score + i), y = load(b.target + i);
    const Mask in = load(b.include + i) != 0.0;
    const Mask ign = ignored_of(y, p);
    const Mask ty = (y == 0.0) | (y == 1.0);
    Mask xv;
    if (b.labels) {
      xv = (x == 0.0) | (x == 1.0);
    } else {
      xv = p.logits ? finite(x) : ((x >= 0.0) & (x <= 1.0));
    }
    // Non-finite: the target, or (with a valid target) the prediction, as ops::sample_binary.
    const Mask nonfinite = ~finite(y) | (ty & ~finite(x));
    store_mask(g.in, in);
    store_mask(g.ignored, ign);
    store_mask(g.invalid, ~ign & ~(ty & xv));
    store_mask(g.raises, raises_of(~ign & ~(ty & xv), nonfinite, p));
    store(g.target, y);
    store(g.score, x);
    if (b.labels) {
      store(g.pred, M::select(x != 0.0, splat(1.0), splat(0.0)));
    } else {
      const BinaryTerms t = binary_terms(x, y, p);
      store(g.pred, M::select(t.prob > p.threshold, splat(1.0), splat(0.0)));
      store_scored(g, t.loss, t.prob, t.brier, l);
      if (!l.weighted) {
        sums.add(in & ~ign & ty & xv, t.loss, t.brier);
      }
    }
    const int lanes = b.n - i < kClassLanes ? b.n - i : kClassLanes;
    if (b.hist != nullptr && !b.labels) {
      // The lanes' histogram words (and keys) requested together before any is updated: the
      // table is larger than the caches, and an atomic update waits for its line, so eight
      // misses in flight at once instead of one after another.
      for (int j = 0; j < lanes; ++j) {
        const std::int64_t index = p.hist.index(0, g.target[j] == 1.0, g.score[j]);
        __builtin_prefetch(b.hist + (l.weighted ? 2 * index : index), 1);
        if (b.keys != nullptr) {
          __builtin_prefetch(b.keys + index, 1);
        }
      }
    }
    for (int j = 0; j < lanes; ++j) {
      add_lane(g, j, i + j, l, p, !b.labels, w, tally, first_invalid, b);
    }
  }
  if (!b.labels) {
    sums.flush(l, w);
  }
  tally.flush(l, w);
}

void multiclass_block(const ClassBlock& b, const L& l, const ops::ClassParams& p, std::uint64_t* w,
                      int* first_invalid) {
  const std::int64_t classes = l.classes;
  const double top = static_cast<double>(classes);
  Lanes g;
  TermSums sums;
  Tally tally(b.labels ? 0 : l.bins);
  for (int i = 0; i < b.n; i += kClassLanes) {
    const V y = load(b.target + i);
    const Mask in = load(b.include + i) != 0.0;
    const Mask ign = ignored_of(y, p);
    const Mask ty = whole(y) & (y >= 0.0) & (y < top);
    const int lanes = b.n - i < kClassLanes ? b.n - i : kClassLanes;
    store_mask(g.in, in);
    store_mask(g.ignored, ign);
    store(g.target, M::select(ty, y, splat(0.0)));
    if (b.labels) {
      const V x = load(b.score + i);
      const Mask xv = whole(x) & (x >= 0.0) & (x < top);
      store_mask(g.invalid, ~ign & ~(ty & xv));
      store_mask(g.raises, raises_of(~ign & ~(ty & xv), ~finite(y) | (ty & ~finite(x)), p));
      store(g.pred, M::select(xv, x, splat(0.0)));
      for (int j = 0; j < lanes; ++j) {
        add_lane(g, j, i + j, l, p, false, w, tally, first_invalid, b);
      }
      continue;
    }
    // Validity, the argmax (the lowest index on a tie) and the target's score, in class order.
    const double* s = b.score + i;
    V best = load(s);
    V arg = splat(0.0);
    Mask all_finite = ~Mask{}, ok = ~Mask{};
    V total = splat(0.0);
    for (std::int64_t c = 0; c < classes; ++c) {
      const V v = load(s + c * b.stride);
      all_finite &= finite(v);
      ok &= p.logits ? finite(v) : ((v >= 0.0) & (v <= 1.0));
      total = total + v;
      const Mask gt = v > best;
      best = M::select(gt, v, best);
      arg = M::select(gt, splat(static_cast<double>(c)), arg);
    }
    if (!p.logits) { // probability rows sum to 1, as ops::sample_multiclass checks
      ok &= ((total - 1.0) <= p.sum_tolerance) & ((1.0 - total) <= p.sum_tolerance);
    }
    store_mask(g.invalid, ~ign & ~(ty & ok));
    store_mask(g.raises, raises_of(~ign & ~(ty & ok), ~finite(y) | (ty & ~all_finite), p));
    store(g.pred, arg);
    double st_lanes[8];
    for (int j = 0; j < kClassLanes; ++j) {
      st_lanes[j] = s[static_cast<std::int64_t>(g.target[j]) * b.stride + j];
    }
    const V st = load(st_lanes);
    const V yt = load(g.target);
    // The classes scoring strictly above the target's (top-k hits), counted in the same pass
    // over the staged scores as the terms below: a row of a vocabulary's scores is read once
    // more, not twice.
    V higher = splat(0.0);
    V brier = splat(0.0), loss, conf;
    if (p.logits) {
      // exp(s_c - best) once per class, and ops::sample_multiclass's Brier term from the sums
      // of the other classes' e_c and e_c^2 (no division a class); the softmax itself only for
      // the histograms, kept in the staged scores (scratch).
      double* e = b.score + i;
      V sum = splat(0.0), rest = splat(0.0), rest2 = splat(0.0);
      for (std::int64_t c = 0; c < classes; ++c) {
        const V v = load(s + c * b.stride);
        if (l.top_k) {
          higher += M::select(v > st, splat(1.0), splat(0.0));
        }
        const V ec = ops::det_exp(v - best);
        if (b.hist != nullptr) {
          std::memcpy(e + c * b.stride, &ec, sizeof ec);
        }
        sum = sum + ec;
        const Mask other = yt != static_cast<double>(c);
        rest = rest + M::select(other, ec, splat(0.0));
        rest2 = rest2 + M::select(other, ec * ec, splat(0.0));
      }
      brier = (rest2 + rest * rest) / (sum * sum);
      if (b.hist != nullptr) {
        for (std::int64_t c = 0; c < classes; ++c) {
          const V q = load(e + c * b.stride) / sum;
          std::memcpy(e + c * b.stride, &q, sizeof q);
        }
      }
      loss = best + ops::det_log(sum) - st;
      conf = 1.0 / sum;
    } else {
      for (std::int64_t c = 0; c < classes; ++c) {
        const V v = load(s + c * b.stride);
        if (l.top_k) {
          higher += M::select(v > st, splat(1.0), splat(0.0));
        }
        const V one = M::select(yt == static_cast<double>(c), splat(1.0), splat(0.0));
        const V d = v - one;
        brier = brier + d * d;
      }
      loss = -ops::det_log(clip(st, p.clip_eps));
      conf = best;
    }
    if (l.top_k) {
      store(g.higher, higher);
    }
    store_scored(g, loss, conf, brier, l);
    if (!l.weighted) {
      sums.add(in & ~ign & ty & ok, loss, brier);
    }
    for (int j = 0; j < lanes; ++j) {
      add_lane(g, j, i + j, l, p, true, w, tally, first_invalid, b);
    }
  }
  if (!b.labels) { // label predictions have no log-loss or Brier words to flush into
    sums.flush(l, w);
  }
  tally.flush(l, w);
}

// A block's label counts, a vector of lanes per label and count: kept for up to kLabelCounts
// labels on the stack, in a per-thread buffer beyond.
struct LabelCounts {
  Mask tp{}, fp{}, fn{}, tn{};
};
class BlockLabelCounts {
public:
  explicit BlockLabelCounts(std::int64_t labels) : labels_(labels) {
    if (labels > kLabelCounts) {
      thread_local std::vector<LabelCounts> heap;
      heap.assign(static_cast<std::size_t>(labels), LabelCounts{});
      data_ = heap.data();
    } else {
      for (std::int64_t k = 0; k < labels; ++k) {
        local_[k] = LabelCounts{};
      }
      data_ = local_;
    }
  }
  LabelCounts& at(std::int64_t k) { return data_[k]; }
  // Adds every label's counts to the record (tp, fp, fn, tn words per label).
  void flush(const L& l, std::uint64_t* w) const {
    for (std::int64_t k = 0; k < labels_; ++k) {
      const LabelCounts& c = data_[k];
      w[l.tp + k] += lane_sum(c.tp);
      w[l.fp + k] += lane_sum(c.fp);
      w[l.fn + k] += lane_sum(c.fn);
      w[l.tn + k] += lane_sum(c.tn);
    }
  }
  static std::uint64_t lane_sum(Mask m) {
    long a[8];
    std::memcpy(a, &m, sizeof a);
    std::uint64_t out = 0;
    for (int j = 0; j < 8; ++j) {
      out += static_cast<std::uint64_t>(a[j]);
    }
    return out;
  }

private:
  static constexpr std::int64_t kLabelCounts = 64;
  std::int64_t labels_;
  LabelCounts local_[kLabelCounts];
  LabelCounts* data_ = nullptr;
};

void multilabel_block(const ClassBlock& b, const L& l, const ops::ClassParams& p, std::uint64_t* w,
                      int* first_invalid) {
  const std::int64_t labels = l.classes;
  TermSums sums;
  BlockLabelCounts counts(labels);
  Mask ignored{}, terms{};
  for (int i = 0; i < b.n; i += kClassLanes) {
    const int lanes = b.n - i < kClassLanes ? b.n - i : kClassLanes;
    // First every label: a sample with one invalid (unmasked, not ignored) label is dropped.
    Mask any_in{}, bad{}, raise{};
    for (std::int64_t k = 0; k < labels; ++k) {
      const std::int64_t at = k * b.stride + i;
      const V x = load(b.score + at), y = load(b.target + at);
      const Mask in = load(b.include + at) != 0.0;
      const Mask ign = ignored_of(y, p);
      const Mask ty = (y == 0.0) | (y == 1.0);
      const Mask xv =
          b.labels ? ((x == 0.0) | (x == 1.0)) : (p.logits ? finite(x) : ((x >= 0.0) & (x <= 1.0)));
      any_in |= in;
      bad |= in & ~ign & ~(ty & xv);
      raise |= raises_of(in & ~ign & ~(ty & xv), ~finite(y) | (ty & ~finite(x)), p);
    }
    long sample_in[8], sample_bad[8], sample_raises[8];
    store_mask(sample_in, any_in);
    store_mask(sample_bad, bad);
    store_mask(sample_raises, raise);
    // Per label, the lanes' decisions as masks: the label counts of a block are accumulated in
    // vectors (a lane's all-ones mask subtracted adds 1) and added to the record once per block;
    // each sample's own tally too, lane by lane. Integer counts: the same record as one lane at
    // a time.
    const Mask live = any_in & ~bad;
    Mask t_counted{}, t_tp{}, t_fp{}, t_fn{}, t_wrong{};
    for (std::int64_t k = 0; k < labels; ++k) {
      const std::int64_t at = k * b.stride + i;
      const V x = load(b.score + at), y = load(b.target + at);
      const Mask here = (load(b.include + at) != 0.0) & live;
      const Mask ign = ignored_of(y, p);
      const Mask counted = here & ~ign;
      const Mask yy = y != 0.0;
      Mask yhat;
      V loss{};
      if (b.labels) {
        yhat = x != 0.0;
      } else {
        const BinaryTerms t = binary_terms(x, y, p);
        yhat = t.prob > p.threshold;
        loss = t.loss;
        sums.add(counted, t.loss, t.brier);
      }
      const Mask tp = counted & yy & yhat, fn = counted & yy & ~yhat;
      const Mask fp = counted & ~yy & yhat;
      LabelCounts& c = counts.at(k);
      c.tp -= tp;
      c.fn -= fn;
      c.fp -= fp;
      c.tn -= counted & ~yy & ~yhat;
      ignored -= here & ign;
      t_counted -= counted;
      t_tp -= tp;
      t_fp -= fp;
      t_fn -= fn;
      t_wrong |= counted & (yy ^ yhat);
      if (!b.labels) {
        terms -= counted;
        long big[8]; // log losses of 4096 or more: one by one, through ops::add_term
        store_mask(big, counted & ~(loss < ops::kQuantizeLimit));
        double lv[8];
        store(lv, loss);
        for (int j = 0; j < kClassLanes; ++j) {
          if (big[j]) {
            ops::add_term(w + l.log_loss, lv[j]);
          }
        }
      }
      if (b.hist != nullptr && !b.labels) {
        long on[8], pos[8];
        store_mask(on, counted);
        store_mask(pos, yy);
        for (int j = 0; j < lanes; ++j) {
          if (on[j]) {
            count(b, p.hist, p.hist.index(k, pos[j] != 0, b.score[at + j]), b.score[at + j]);
          }
        }
      }
    }
    long tc[8], ttp[8], tfp[8], tfn[8], twrong[8];
    store_mask(tc, t_counted);
    store_mask(ttp, t_tp);
    store_mask(tfp, t_fp);
    store_mask(tfn, t_fn);
    store_mask(twrong, t_wrong);
    ops::LabelTally tally[8];
    for (int j = 0; j < kClassLanes; ++j) {
      tally[j].counted = tc[j];
      tally[j].tp = ttp[j];
      tally[j].fp = tfp[j];
      tally[j].fn = tfn[j];
      tally[j].right = twrong[j] == 0;
    }
    for (int j = 0; j < lanes; ++j) {
      if (!sample_in[j]) {
        continue;
      }
      if (sample_bad[j]) {
        w[L::kInvalid] += 1;
        if (sample_raises[j] && i + j < *first_invalid) {
          *first_invalid = i + j;
        }
        continue;
      }
      ops::add_label_sample(w, l, tally[j], p);
    }
  }
  counts.flush(l, w);
  w[L::kIgnored] += BlockLabelCounts::lane_sum(ignored);
  w[L::kTerms] += BlockLabelCounts::lane_sum(terms);
  if (!b.labels) {
    sums.flush(l, w);
  }
}

// A weighted multilabel record: each sample through the scalar ops (ops::sample_binary and
// ops::add_label with its weight), which compute the same terms as the vector lanes, bit for bit.
void weighted_multilabel_block(const ClassBlock& b, const L& l, const ops::ClassParams& p,
                               std::uint64_t* w, int* first_invalid) {
  const bool scores = !b.labels;
  for (int i = 0; i < b.n; ++i) {
    // The sample's weight is every included label's (weights are per sample).
    bool any = false, bad = false, raise = false;
    double weight = 0;
    for (std::int64_t k = 0; k < l.classes; ++k) {
      const double in = b.include[k * b.stride + i];
      if (in == 0.0) {
        continue;
      }
      any = true;
      weight = in;
      const ops::Outcome o =
          ops::sample_binary(b.score[k * b.stride + i], b.labels, b.target[k * b.stride + i], p);
      const bool dropped = o.kind == ops::Outcome::invalid || o.kind == ops::Outcome::nonfinite;
      bad = bad || dropped;
      raise = raise || (dropped && ops::raises(o.kind, p));
    }
    if (!any) {
      continue;
    }
    const ops::Weight wt = ops::weight_of(weight);
    if (bad) {
      ops::add_count(w, l, L::kInvalid, wt);
      if (raise && i < *first_invalid) {
        *first_invalid = i;
      }
      continue;
    }
    ops::LabelTally tally;
    for (std::int64_t k = 0; k < l.classes; ++k) {
      const std::int64_t at = k * b.stride + i;
      if (b.include[at] == 0.0) {
        continue;
      }
      const ops::Outcome o = ops::sample_binary(b.score[at], b.labels, b.target[at], p);
      if (o.kind == ops::Outcome::ignored) {
        ops::add_count(w, l, L::kIgnored, wt);
        continue;
      }
      ops::add_label(w, l, k, o, wt);
      if (b.hist != nullptr && scores) {
        count_weight(b, p.hist, p.hist.index(k, o.target != 0, b.score[at]), b.score[at], wt);
      }
      tally.add(o.target != 0, o.pred != 0);
    }
    ops::add_label_sample(w, l, tally, p, wt);
  }
}

__attribute__((flatten)) void fold_block(const ClassBlock& b, const L& l, const ops::ClassParams& p,
                                         std::uint64_t* w, int* first_invalid) {
  if (l.weighted && l.task == ops::ClassTask::multilabel) {
    weighted_multilabel_block(b, l, p, w, first_invalid);
    return;
  }
  switch (l.task) {
  case ops::ClassTask::binary:
    binary_block(b, l, p, w, first_invalid);
    break;
  case ops::ClassTask::multiclass:
    multiclass_block(b, l, p, w, first_invalid);
    break;
  case ops::ClassTask::multilabel:
    multilabel_block(b, l, p, w, first_invalid);
    break;
  }
}

} // namespace

ClassBlockFn class_block_function() {
  return fold_block;
}

} // namespace gpueval::cpu::GPUEVAL_ISA_NS
