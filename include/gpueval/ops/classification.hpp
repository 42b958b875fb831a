// The classification statistics: integer counts and order-independent real sums, and the
// operations every backend uses. The family contract of ops/regression.hpp, for a record whose
// size depends on the number of classes:
//
//   ClassLayout::make(...)            where each statistic lives in a flat array of 64-bit words
//                                     (the record); a zeroed array is the identity of combine.
//   sample_binary / sample_multiclass / sample_label
//                                     one sample's outcome (decision, loss and calibration terms,
//                                     or why it is invalid) from its scores and target.
//   add(words, layout, outcome)       folds one outcome into a record.
//   combine(into, from, layout)       merges two records: integer additions, so associative and
//                                     commutative exactly: any batch split, thread count or
//                                     device gives bitwise the same record.
//   finalize (host/core)              metrics from a record, in double.
//
// Real-valued sums (log loss, Brier score, calibration confidence) are fixed-point numbers in
// two words: each term (always >= 0) is rounded to a multiple of 2^-40 and the sums are exact
// integer additions, so they too are independent of the order of the terms (docs/design.md,
// "Classification"). A term's rounding error is at most 2^-41 (4.5e-13), far under the accuracy
// rule: the mean of any number of terms is within 4.5e-13 of the mean of the exact terms.
//
// The terms themselves are computed with the deterministic log, exp and log1p below, built from
// +, -, *, / and bit operations only, with no FMA contraction on any backend (-ffp-contract=off
// on the host, --fmad=false for the CUDA kernels): a score gives the same terms, bit for bit, on
// every CPU instruction set, in a vector lane or alone, and on the GPU. With integer counts, the
// whole record is then the same on every backend.
#pragma once

#include <cstdint>
#include <math.h>
#include <string.h> // memcpy, which nvcc also provides on the device

#include "gpueval/dtype.hpp"
#include "gpueval/macros.hpp"

namespace gpueval::ops {

enum class ClassTask : std::uint8_t { binary, multiclass, multilabel };

// ---- deterministic math ----------------------------------------------------------------------

// The primitives the functions below need from a value type: doubles here; the CPU backend adds
// its SIMD vector of doubles, so that a vector lane performs exactly the scalar operations.
template <class V> struct DetMath;
template <> struct DetMath<double> {
  using V = double;
  using I = std::int64_t;
  using Mask = bool;
  GPUEVAL_HD static I bits(V x) {
    I i;
    memcpy(&i, &x, sizeof i);
    return i;
  }
  GPUEVAL_HD static V from_bits(I i) {
    V x;
    memcpy(&x, &i, sizeof x);
    return x;
  }
  GPUEVAL_HD static V select(Mask m, V a, V b) { return m ? a : b; }
  GPUEVAL_HD static Mask greater(V a, V b) { return a > b; }
  GPUEVAL_HD static Mask less(V a, V b) { return a < b; }
};

// 2 atanh(f) = log((1 + f) / (1 - f)) for |f| <= 0.1716, as its Taylor series to f^25 / 25
// (f^2 <= 0.0295: the next term is below 1e-19 relative).
template <class V> GPUEVAL_HD inline V det_two_atanh(V f) {
  const V s = f * f;
  V q = s * 0.0 + 1.0 / 25;
  const double c[12] = {1.0 / 23, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
                        1.0 / 11, 1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3,  1.0};
  for (int i = 0; i < 12; ++i) {
    q = q * s + c[i];
  }
  return (2.0 * f) * q;
}

// log(r) for a positive normal r: r = 2^k m with m in [sqrt(1/2), sqrt(2)), log r = k ln 2 +
// 2 atanh((m - 1) / (m + 1)); ln 2 split so that k ln2_hi is exact (fdlibm's constants).
template <class V> GPUEVAL_HD inline V det_log(V r) {
  using M = DetMath<V>;
  const auto b = M::bits(r);
  const auto exponent = (b >> 52) & 0x7ff;
  V m = M::from_bits((b & 0x000fffffffffffffLL) | 0x3ff0000000000000LL); // [1, 2)
  // The biased exponent as a double without an integer conversion: 2^52 + e - 2^52.
  V k = M::from_bits(exponent | 0x4330000000000000LL) - 4503599627370496.0 - 1023.0;
  const auto high = M::greater(m, m * 0.0 + 1.4142135623730951);
  m = M::select(high, m * 0.5, m);
  k = M::select(high, k + 1.0, k);
  const V f = (m - 1.0) / (m + 1.0);
  return k * 6.93147180369123816490e-01 + (k * 1.90821492927058770002e-10 + det_two_atanh(f));
}

// exp(x) for x <= 0 (0 below -708): x = k ln 2 + r with |r| <= ln(2) / 2, exp(r) as its Taylor
// series to r^13 / 13! (the next term is below 5e-18), times 2^k built in the exponent bits.
template <class V> GPUEVAL_HD inline V det_exp(V x) {
  using M = DetMath<V>;
  constexpr double kRound = 6755399441055744.0; // 1.5 * 2^52: adding it rounds to an integer
  const V kd = (x * 1.4426950408889634 + kRound) - kRound;
  const V r = (x - kd * 6.93147180369123816490e-01) - kd * 1.90821492927058770002e-10;
  V p = r * 0.0 + 1.0 / 6227020800.0; // 1 / 13!
  const double c[12] = {1.0 / 479001600.0,
                        1.0 / 39916800.0,
                        1.0 / 3628800.0,
                        1.0 / 362880.0,
                        1.0 / 40320.0,
                        1.0 / 5040.0,
                        1.0 / 720.0,
                        1.0 / 120.0,
                        1.0 / 24.0,
                        1.0 / 6.0,
                        0.5,
                        1.0};
  for (int i = 0; i < 12; ++i) {
    p = p * r + c[i];
  }
  p = p * r + 1.0;
  const auto k = M::bits(kd + kRound) - M::bits(kd * 0.0 + kRound); // kd as an integer
  const V scale = M::from_bits((k + 1023) << 52);
  return M::select(M::less(x, x * 0.0 - 708.0), x * 0.0, p * scale);
}

// log(1 + u) for u >= 0: log(w) with w = 1 + u, corrected by the rounding of w.
template <class V> GPUEVAL_HD inline V det_log1p(V u) {
  const V w = u + 1.0;
  return det_log(w) + (u - (w - 1.0)) / w;
}

// ---- fixed-point sums ------------------------------------------------------------------------

// round(x * 2^40) for 0 <= x < 4096 (x * 2^40 < 2^52): the low bits of x * 2^40 + 2^52.
GPUEVAL_HD inline std::uint64_t quantize(double x) {
  using M = DetMath<double>;
  return static_cast<std::uint64_t>(M::bits(x * 1099511627776.0 + 4503599627370496.0) -
                                    M::bits(4503599627370496.0));
}
inline constexpr double kQuantizeLimit = 4096.0;

// Adds lo + hi * 2^64 (units of 2^-40) into the two words at `into` (lo, hi).
GPUEVAL_HD inline void add_fixed(std::uint64_t* into, std::uint64_t lo, std::uint64_t hi) {
  const std::uint64_t sum = into[0] + lo;
  into[1] += hi + (sum < lo ? 1u : 0u);
  into[0] = sum;
}

// Adds one term x >= 0 into a fixed-point sum. Terms of 4096 or more (only the log loss of
// extreme logits) take the 128-bit path; 2^87 and above saturate.
GPUEVAL_HD inline void add_term(std::uint64_t* into, double x) {
  if (x < kQuantizeLimit) {
    add_fixed(into, quantize(x), 0);
    return;
  }
  const double y = x * 1099511627776.0;               // exact; an integer, since y >= 2^52
  const double hi = floor(y * 5.421010862427522e-20); // y / 2^64, exact
  if (hi >= 18446744073709551616.0 || !(y == y)) {
    add_fixed(into, ~std::uint64_t{0}, ~std::uint64_t{0} >> 1);
    return;
  }
  add_fixed(into, static_cast<std::uint64_t>(y - hi * 18446744073709551616.0),
            static_cast<std::uint64_t>(hi));
}

// The value of a fixed-point sum.
GPUEVAL_HD inline double fixed_value(const std::uint64_t* words) {
  return static_cast<double>(words[1]) * 16777216.0 +
         static_cast<double>(words[0]) * 9.094947017729282e-13; // hi 2^24 + lo 2^-40
}

// Where each statistic of a task's record lives, in 64-bit words. Counts first (plain integer
// adds), then the fixed-point sums (pairs of words added with carry). A weighted record (sample
// weights, docs/design.md "Weights") adds, after them, the weights' fixed-point sum of
// every count: count word i's weight sum is the pair at weights + 2 i; its real-valued sums are
// then sums of weight x term.
struct ClassLayout {
  ClassTask task = ClassTask::binary;
  std::int64_t classes = 2; // binary: 2; multiclass: C; multilabel: L (labels)
  bool scores = false;      // the predictions are scores: log loss, Brier, calibration, top-k
  bool top_k = false;       // multiclass scores with k given
  int bins = 0;             // calibration bins (binary and multiclass scores), else 0
  bool weighted = false;    // the record carries the weight sums of its counts
  bool per_sample = false;  // multilabel: the per-sample scores' sums (average="samples")

  // Counts.
  static constexpr std::int64_t kSamples = 0; // samples folded into the statistics
  static constexpr std::int64_t kInvalid = 1; // samples dropped: invalid target, score or label
  static constexpr std::int64_t kIgnored = 2; // targets equal to ignore_index (elements, for
                                              // multilabel)
  static constexpr std::int64_t kTerms = 3;   // terms of the log loss and Brier sums
  std::int64_t confusion = -1; // binary/multiclass: C x C, row = target, column = prediction
  // Without the confusion matrix (multiclass, any C): per class the targets, the predictions and
  // the right predictions (3 x C words, from `marginals`), and, among the real-valued sums, the
  // sums of |t - p| and (t - p)^2 for the weighted kappas (`class_distance`, two pairs).
  std::int64_t marginals = -1, class_distance = -1;
  std::int64_t tp = -1, fp = -1, fn = -1, tn = -1; // multilabel: one word per label each
  std::int64_t subset_right = -1; // multilabel: samples with every counted label right
  std::int64_t subset_rows = -1;  // multilabel: samples with at least one counted label
  // per_sample: samples whose precision, recall, F / jaccard have a zero denominator (3 words),
  // and the sums of the defined ones: precision, recall, F1, F-beta, jaccard (5 pairs).
  std::int64_t sample_undefined = -1, sample_sums = -1;
  std::int64_t topk_hits = -1;
  std::int64_t calib_count = -1, calib_correct = -1; // bins words each
  // by_axis (binary and multiclass): per index of the breakdown axis (`positions` of them) the
  // folded samples, the right ones (prediction = target) and, with top_k, the top-k hits, each a
  // run of `positions` count words from `axis_counts`; with scores, the log-loss and Brier sums,
  // each a run of `positions` pairs from `axis_sums`. A sample's index along the axis is
  // position_of(its index within the batch): the batch axis is outermost, `position_step`
  // samples apart (the sample axes after the breakdown axis).
  std::int64_t positions = 0, position_step = 1;
  std::int64_t axis_counts = -1, axis_sums = -1;
  // Fixed-point sums (two words each).
  std::int64_t fixed = 0; // first word of the fixed-point region
  std::int64_t log_loss = -1, brier = -1;
  std::int64_t calib_conf = -1; // bins pairs
  std::int64_t weights = -1;    // weighted: `fixed` pairs, the weight sums of the counts
  std::int64_t words = 0;

  GPUEVAL_HD static ClassLayout make(ClassTask task, std::int64_t classes, bool scores, bool top_k,
                                     int bins, bool weighted = false, bool per_sample = false,
                                     bool confusion = true, std::int64_t positions = 0,
                                     std::int64_t position_step = 1) {
    ClassLayout l;
    l.task = task;
    l.classes = task == ClassTask::binary ? 2 : classes;
    l.scores = scores;
    l.top_k = scores && top_k && task == ClassTask::multiclass;
    l.bins = scores && task != ClassTask::multilabel ? bins : 0;
    std::int64_t w = 4;
    if (task == ClassTask::multilabel) {
      l.tp = w;
      l.fp = w + l.classes;
      l.fn = w + 2 * l.classes;
      l.tn = w + 3 * l.classes;
      w += 4 * l.classes;
      l.subset_right = w++;
      l.subset_rows = w++;
      l.per_sample = per_sample;
      if (per_sample) {
        l.sample_undefined = w;
        w += 3;
      }
    } else if (confusion || task == ClassTask::binary) {
      l.confusion = w;
      w += l.classes * l.classes;
    } else {
      l.marginals = w;
      w += 3 * l.classes;
    }
    if (l.top_k) {
      l.topk_hits = w++;
    }
    if (l.bins > 0) {
      l.calib_count = w;
      l.calib_correct = w + l.bins;
      w += 2 * l.bins;
    }
    if (positions > 0 && task != ClassTask::multilabel) {
      l.positions = positions;
      l.position_step = position_step;
      l.axis_counts = w;
      w += l.axis_count_runs() * positions;
    }
    l.fixed = w;
    if (scores) {
      l.log_loss = w;
      l.brier = w + 2;
      w += 4;
    }
    if (l.bins > 0) {
      l.calib_conf = w;
      w += 2 * l.bins;
    }
    if (l.per_sample) {
      l.sample_sums = w;
      w += 10;
    }
    if (l.marginals >= 0) {
      l.class_distance = w;
      w += 4;
    }
    if (l.positions > 0 && scores) {
      l.axis_sums = w;
      w += 4 * l.positions;
    }
    l.weighted = weighted;
    if (weighted) {
      l.weights = w;
      w += 2 * l.fixed;
    }
    l.words = w;
    return l;
  }
  // Where count word i's weight sum lives (weighted records).
  GPUEVAL_HD std::int64_t weight_of(std::int64_t i) const { return weights + 2 * i; }
  // by_axis: the count runs per index (samples, right, top-k hits) and a batch's sample s's index.
  GPUEVAL_HD std::int64_t axis_count_runs() const { return top_k ? 3 : 2; }
  GPUEVAL_HD std::int64_t position_of(std::int64_t s) const {
    return (s / position_step) % positions;
  }
};

// into += from, word by word; the fixed-point region with carries.
GPUEVAL_HD inline void combine(std::uint64_t* into, const std::uint64_t* from,
                               const ClassLayout& l) {
  for (std::int64_t i = 0; i < l.fixed; ++i) {
    into[i] += from[i];
  }
  for (std::int64_t i = l.fixed; i < l.words; i += 2) {
    add_fixed(into + i, from[i], from[i + 1]);
  }
}

// ---- sample weights ------------------------------------------------------------------------

// A sample's weight: its value (terms are multiplied by it) and its fixed-point value in units of
// 2^-64: hi its whole part, lo its fraction times 2^64, truncated (whole weights exactly; any
// weight in [2^-24, kMaxWeight) within 2^-40 relative). The weight sums of the counts add these
// with carry, so they too are exact integer sums in any order. Unweighted folds use
// unit_weight(): terms times 1.0 are the terms, bit for bit, and every weight sum is its count.
inline constexpr double kMaxWeight = 4294967296.0; // 2^32: weight sums below 2^64 for 2^32 samples
// 2^-24: below it the fixed point keeps fewer than 40 of a weight's bits (a weight of 1e-38
// would count as 0, one of 1e-12 within 2% of itself): such a weight is refused, not rounded.
inline constexpr double kMinWeight = 5.9604644775390625e-08;
struct Weight {
  double value = 1.0;
  std::uint64_t lo = 0, hi = 1;
};
GPUEVAL_HD inline Weight weight_of(double value) {
  Weight w;
  w.value = value;
  const double whole = floor(value);
  w.hi = static_cast<std::uint64_t>(whole);
  w.lo = static_cast<std::uint64_t>((value - whole) * 18446744073709551616.0);
  return w;
}
GPUEVAL_HD inline Weight unit_weight() {
  return Weight{};
}
// Whether a classification sample weight can be folded: 0, or in [kMinWeight, kMaxWeight).
GPUEVAL_HD inline bool class_weight_ok(double value) {
  return value == 0.0 || (value >= kMinWeight && value < kMaxWeight);
}
// The value of a weight sum (two words: lo, hi).
GPUEVAL_HD inline double weight_sum_value(const std::uint64_t* words) {
  return static_cast<double>(words[1]) + static_cast<double>(words[0]) * 5.421010862427522e-20;
}

// Count word i += 1, and (weighted records) its weight sum += the sample's weight.
GPUEVAL_HD inline void add_count(std::uint64_t* w, const ClassLayout& l, std::int64_t i,
                                 const Weight& wt) {
  w[i] += 1;
  if (l.weighted) {
    add_fixed(w + l.weight_of(i), wt.lo, wt.hi);
  }
}

// ---- score histograms: AUROC and average precision ---------------------------------------------

// The float format whose bits order a score: a 16-bit format gives every distinct score of that
// format its own bin; wider scores are keyed as float32 (rounding to it is monotonic, so bins of
// rounded scores stay ordered). float64 keys are read in states but not chosen.
enum class KeyFormat : std::uint8_t { f16, bf16, f32, f64 };

GPUEVAL_HD inline int key_width(KeyFormat f) {
  return f == KeyFormat::f64 ? 64 : f == KeyFormat::f32 ? 32 : 16;
}

// A score's order-preserving key: its bits in `f` (for a 16-bit format it converts exactly: it came
// from that format; to float32 it rounds, monotonically), the sign bit flipped for positives and
// every bit for negatives, so that unsigned order is numeric order. -0 counts as +0.
GPUEVAL_HD inline std::uint64_t score_key(double v, KeyFormat f) {
  v = v == 0.0 ? 0.0 : v;
  std::uint64_t u = 0;
  switch (f) {
  case KeyFormat::f16:
    u = float_to_half_bits(static_cast<float>(v));
    break;
  case KeyFormat::bf16:
    u = float_to_bf16_bits(static_cast<float>(v));
    break;
  case KeyFormat::f32: {
    const float x = static_cast<float>(v);
    std::uint32_t b;
    memcpy(&b, &x, sizeof b);
    u = b;
    break;
  }
  case KeyFormat::f64:
    memcpy(&u, &v, sizeof u);
    break;
  }
  const int w = key_width(f);
  const std::uint64_t mask = w == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << w) - 1;
  const std::uint64_t sign = std::uint64_t{1} << (w - 1);
  return (u & sign) ? (~u & mask) : (u | sign);
}

// The score whose key is `key` (the inverse of score_key), as a double.
GPUEVAL_HD inline double key_value(std::uint64_t key, KeyFormat f) {
  const int w = key_width(f);
  const std::uint64_t mask = w == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << w) - 1;
  const std::uint64_t sign = std::uint64_t{1} << (w - 1);
  const std::uint64_t u = (key & sign) ? (key ^ sign) : (~key & mask);
  switch (f) {
  case KeyFormat::f16:
    return half_bits_to_float(static_cast<std::uint16_t>(u));
  case KeyFormat::bf16:
    return bf16_bits_to_float(static_cast<std::uint16_t>(u));
  case KeyFormat::f32: {
    const auto b = static_cast<std::uint32_t>(u);
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
  }
  case KeyFormat::f64:
    break;
  }
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

// Two count histograms (negatives, positives) per class over the top `bits` bits of the key:
// counts[(c * 2 + positive) * bins + bin]. Integer counts: they merge exactly. Multiclass
// one-vs-one AUROC (`per_target`) splits each class's score by the sample's target instead:
// counts[(c * classes + t) * bins + bin], C histograms per class, from which the one-vs-rest
// ones are sums.
struct HistLayout {
  bool on = false;
  KeyFormat format = KeyFormat::f32;
  int bits = 0;  // bins per histogram: 2^bits
  int shift = 0; // key_width - bits
  std::int64_t classes = 0;
  bool per_target = false;
  // Inexact float32 keys of scores given as they are (not computed, as multiclass logits'
  // probabilities): each bin also notes the one key its samples share (keyed()).
  bool keys = false;
  GPUEVAL_HD std::int64_t bins() const { return std::int64_t{1} << bits; }
  // Histograms per class.
  GPUEVAL_HD std::int64_t groups() const { return per_target ? classes : 2; }
  GPUEVAL_HD std::int64_t size() const { return classes * groups() * bins(); }
  GPUEVAL_HD std::int64_t index(std::int64_t c, bool positive, double score) const {
    return (c * 2 + (positive ? 1 : 0)) * bins() +
           static_cast<std::int64_t>(score_key(score, format) >> shift);
  }
  // A multiclass sample of target t: its class-c score's bin in either layout.
  GPUEVAL_HD std::int64_t class_index(std::int64_t c, std::int64_t t, double score) const {
    if (!per_target) {
      return index(c, t == c, score);
    }
    return (c * classes + t) * bins() +
           static_cast<std::int64_t>(score_key(score, format) >> shift);
  }
  // The exact case: every distinct score has its own bin.
  GPUEVAL_HD bool exact() const { return shift == 0; }
  // Inexact float32 histograms note per bin the one key its samples share (key_of), so that a
  // bin of equal scores, a tie the metrics already count exactly, adds nothing to the bounds. A
  // score that float32 does not hold exactly (a float64 between two float32 values) notes
  // kMixedKey: equal keys would not mean equal scores.
  GPUEVAL_HD bool keyed() const { return on && keys; }
  GPUEVAL_HD std::uint32_t key_of(double score) const {
    const bool exact = static_cast<double>(static_cast<float>(score)) == score;
    return exact ? static_cast<std::uint32_t>(score_key(score, format)) + 1 : 0xffffffffu;
  }
};

// A bin's shared key: 0 while empty, key + 1 while its samples share one float32 key (finite
// scores' keys stay below 0xff800001), kMixedKey once two differ. Merging is order-free, so a
// state's keys are the same bits however the samples were split.
inline constexpr std::uint32_t kMixedKey = 0xffffffffu;
GPUEVAL_HD inline std::uint32_t merge_key(std::uint32_t a, std::uint32_t b) {
  return a == 0 ? b : (b == 0 || a == b) ? a : kMixedKey;
}

// What turns scores into decisions and terms. Plain data, passed to kernels by value.
struct ClassParams {
  ClassTask task = ClassTask::binary;
  std::int64_t classes = 2;
  bool logits = false;     // scores are logits (sigmoid / softmax), not probabilities
  double threshold = 0.5;  // binary and multilabel: positive when the probability is above it
  int top_k = 0;           // multiclass: top-k hits when > 0
  bool has_ignore = false; // targets equal to ignore_index are dropped
  std::int64_t ignore_index = -100;
  double clip_eps = 0; // probabilities clipped to [eps, 1 - eps] for the log loss
  int bins = 0;        // calibration bins
  HistLayout hist;     // AUROC and average precision histograms, when requested
  // Multiclass probabilities: a row whose sum is off 1 by more than this is invalid.
  double sum_tolerance = 1e-3;
  double beta2 = 1.0; // beta^2 of the per-sample F-beta (layout.per_sample)
  // Which samples that cannot be folded stop compute() (docs/design.md, "Masks and invalid
  // values"): non-finite ones under nan_policy=error, invalid ones (a value outside what the
  // spec says it is) under invalid=error. The first of them is recorded.
  bool raise_nonfinite = false;
  bool raise_invalid = true;
};

// A sample's outcome: what add() folds. A sample that is not folded is invalid (a value that
// cannot be what the spec says: a probability outside [0, 1], a target outside its classes),
// non-finite (a NaN or an infinity where the value is read), or ignored (ignore_index).
struct Outcome {
  enum Kind : std::uint8_t { folded, invalid, nonfinite, ignored } kind = folded;
  std::int64_t target = 0;
  std::int64_t pred = 0;
  bool scored = false;   // loss, Brier and calibration terms below are set
  double log_loss = 0;   // -log p(target)
  double brier = 0;      // binary: (p - y)^2; multiclass: sum_c (p_c - [y = c])^2
  double confidence = 0; // binary: p(positive); multiclass: the top probability
  bool correct = false;  // binary: y = 1; multiclass: prediction = target (calibration accuracy)
  bool top_k_hit = false;
  double max_score = 0, exp_sum = 0; // multiclass logits: the softmax's max and sum
};

GPUEVAL_HD inline bool finite(double x) {
  return x - x == 0.0;
}

// log(sigmoid(z)) and log(sigmoid(-z)), and sigmoid(z), from a = exp(-|z|): no overflow, no
// cancellation. The CPU's vector path computes the same expressions lane by lane.
struct Sigmoid {
  double log_p, log_q, p; // log sigmoid(z), log sigmoid(-z), sigmoid(z)
};
GPUEVAL_HD inline Sigmoid sigmoid_of(double z) {
  const double a = det_exp(-fabs(z));
  const double l = det_log1p(a);
  return {z >= 0 ? -l : z - l, z <= 0 ? -l : -z - l, z >= 0 ? 1.0 / (1.0 + a) : a / (1.0 + a)};
}

// Probabilities clipped to [eps, 1 - eps] for the log loss (scikit-learn's eps="auto": the
// predictions' dtype's eps).
GPUEVAL_HD inline double clip(double x, double eps) {
  const double lo = x < eps ? eps : x;
  return lo > 1.0 - eps ? 1.0 - eps : lo;
}

// A calibration bin: floor(confidence * bins), the top bin closed on the right (as TorchMetrics'
// equal-width bins on [0, 1]).
GPUEVAL_HD inline int calibration_bin(double confidence, int bins) {
  int b = static_cast<int>(confidence * bins);
  b = b < 0 ? 0 : b;
  return b >= bins ? bins - 1 : b;
}

// Whether an outcome stops compute() under the spec's policies (ClassParams::raise_*).
GPUEVAL_HD inline bool raises(Outcome::Kind kind, const ClassParams& p) {
  return (kind == Outcome::nonfinite && p.raise_nonfinite) ||
         (kind == Outcome::invalid && p.raise_invalid);
}

// A target as a class index, or an invalid / non-finite / ignored outcome. Float targets must be
// whole.
GPUEVAL_HD inline Outcome::Kind read_target(double t, const ClassParams& p, std::int64_t& out) {
  if (!finite(t)) {
    return Outcome::nonfinite;
  }
  if (t != floor(t)) {
    return Outcome::invalid;
  }
  out = static_cast<std::int64_t>(t);
  if (p.has_ignore && out == p.ignore_index) {
    return Outcome::ignored;
  }
  const std::int64_t limit = p.task == ClassTask::multiclass ? p.classes : 2;
  return out >= 0 && out < limit ? Outcome::folded : Outcome::invalid;
}

// One binary sample (or one label of a multilabel sample): a score (probability or logit) or,
// when `is_label`, a 0/1 prediction.
GPUEVAL_HD inline Outcome sample_binary(double score, bool is_label, double target,
                                        const ClassParams& p) {
  Outcome o;
  o.kind = read_target(target, p, o.target);
  if (o.kind != Outcome::folded) {
    return o;
  }
  if (!finite(score)) {
    o.kind = Outcome::nonfinite;
    return o;
  }
  if (is_label) {
    if (score != 0.0 && score != 1.0) {
      o.kind = Outcome::invalid;
      return o;
    }
    o.pred = score != 0.0;
    return o;
  }
  if (!p.logits && (score < 0.0 || score > 1.0)) {
    o.kind = Outcome::invalid;
    return o;
  }
  double prob;
  if (p.logits) {
    const Sigmoid sg = sigmoid_of(score);
    prob = sg.p;
    o.log_loss = -(o.target ? sg.log_p : sg.log_q);
  } else {
    prob = score;
    const double c = clip(score, p.clip_eps);
    o.log_loss = -det_log(o.target ? c : 1.0 - c);
  }
  o.pred = prob > p.threshold;
  o.scored = true;
  const double d = prob - static_cast<double>(o.target);
  o.brier = d * d;
  o.confidence = prob;
  o.correct = o.target == 1;
  return o;
}

// One multiclass sample from its C scores, read through score(c) (a strided load), or from a
// predicted label.
template <class Score>
GPUEVAL_HD inline Outcome sample_multiclass(Score score, double target, const ClassParams& p) {
  Outcome o;
  o.kind = read_target(target, p, o.target);
  if (o.kind != Outcome::folded) {
    return o;
  }
  // One pass: validity, the argmax (lowest index on a tie) and the target's score. Probability
  // rows must also sum to 1 (within sum_tolerance), added in class order.
  double best = score(0);
  std::int64_t arg = 0;
  bool all_finite = true, in_range = true;
  double total = 0;
  for (std::int64_t c = 0; c < p.classes; ++c) {
    const double s = score(c);
    all_finite = all_finite && finite(s);
    in_range = in_range && (p.logits || (s >= 0.0 && s <= 1.0));
    total = total + s;
    if (s > best) {
      best = s;
      arg = c;
    }
  }
  if (!all_finite) {
    o.kind = Outcome::nonfinite;
    return o;
  }
  if (!in_range || (!p.logits && fabs(total - 1.0) > p.sum_tolerance)) {
    o.kind = Outcome::invalid;
    return o;
  }
  o.pred = arg;
  o.scored = true;
  const double st = score(o.target);
  std::int64_t higher = 0;
  for (std::int64_t c = 0; c < p.classes; ++c) {
    higher += score(c) > st;
  }
  // Sums in class order (the vector path sums the same terms in the same order per lane).
  double brier = 0;
  if (p.logits) {
    // One exponential a class, no division: with e_c = exp(s_c - best), S their sum and R the
    // other classes' (c != target) sum, the Brier term sum_c (p_c - [c = t])^2 is
    // (sum_{c != t} e_c^2 + R^2) / S^2 (as 1 - p_t = R / S), without cancellation.
    double sum = 0, rest = 0, rest2 = 0;
    for (std::int64_t c = 0; c < p.classes; ++c) {
      const double e = det_exp(score(c) - best);
      sum = sum + e;
      if (c != o.target) {
        rest = rest + e;
        rest2 = rest2 + e * e;
      }
    }
    o.log_loss = best + det_log(sum) - st;
    o.max_score = best;
    o.exp_sum = sum;
    brier = (rest2 + rest * rest) / (sum * sum);
    o.confidence = 1.0 / sum;
  } else {
    for (std::int64_t c = 0; c < p.classes; ++c) {
      const double d = score(c) - (c == o.target ? 1.0 : 0.0);
      brier = brier + d * d;
    }
    o.log_loss = -det_log(clip(st, p.clip_eps));
    o.confidence = best;
  }
  o.brier = brier;
  o.top_k_hit = higher < p.top_k;
  o.correct = arg == o.target;
  return o;
}

// A multiclass sample whose prediction is a label.
GPUEVAL_HD inline Outcome sample_multiclass_label(double label, double target,
                                                  const ClassParams& p) {
  Outcome o;
  o.kind = read_target(target, p, o.target);
  if (o.kind != Outcome::folded) {
    return o;
  }
  if (!finite(label)) {
    o.kind = Outcome::nonfinite;
    return o;
  }
  if (label != floor(label) || label < 0 || label >= static_cast<double>(p.classes)) {
    o.kind = Outcome::invalid;
    return o;
  }
  o.pred = static_cast<std::int64_t>(label);
  o.correct = o.pred == o.target;
  return o;
}

// The probability of class c of a folded multiclass sample, as its one-vs-rest histogram sees
// it: the score itself, or for logits the softmax, exp(s_c - max) / sum, as the Brier terms.
template <class Score>
GPUEVAL_HD inline double class_probability(Score score, std::int64_t c, const Outcome& o,
                                           const ClassParams& p) {
  return p.logits ? det_exp(score(c) - o.max_score) / o.exp_sum : score(c);
}

// The scored terms of an outcome: log loss and Brier (every scored task), calibration (binary and
// multiclass), each term times the sample's weight.
GPUEVAL_HD inline void add_scored(std::uint64_t* w, const ClassLayout& l, const Outcome& o,
                                  const Weight& wt = unit_weight()) {
  add_count(w, l, ClassLayout::kTerms, wt);
  add_term(w + l.log_loss, o.log_loss * wt.value);
  add_term(w + l.brier, o.brier * wt.value);
  if (l.bins > 0) {
    const int b = calibration_bin(o.confidence, l.bins);
    add_count(w, l, l.calib_count + b, wt);
    if (o.correct) {
      add_count(w, l, l.calib_correct + b, wt);
    }
    add_term(w + l.calib_conf + 2 * b, o.confidence * wt.value);
  }
}

// A folded binary or multiclass sample's target t and prediction y: its confusion cell, or (no
// confusion matrix) its class counts and its class distance |t - y|, (t - y)^2, times its weight.
GPUEVAL_HD inline void add_decision(std::uint64_t* w, const ClassLayout& l, std::int64_t t,
                                    std::int64_t y, const Weight& wt) {
  if (l.confusion >= 0) {
    add_count(w, l, l.confusion + t * l.classes + y, wt);
    return;
  }
  add_count(w, l, l.marginals + t, wt);
  add_count(w, l, l.marginals + l.classes + y, wt);
  if (t == y) {
    add_count(w, l, l.marginals + 2 * l.classes + t, wt);
    return;
  }
  const double d = static_cast<double>(t > y ? t - y : y - t);
  add_term(w + l.class_distance, d * wt.value);
  add_term(w + l.class_distance + 2, d * d * wt.value);
}

// by_axis: a folded binary or multiclass sample at index `pos` of the breakdown axis: counted,
// right (prediction = target) or not, a top-k hit or not, and its log-loss and Brier terms
// (scored), each times its weight.
GPUEVAL_HD inline void add_position(std::uint64_t* w, const ClassLayout& l, std::int64_t pos,
                                    const Outcome& o, const Weight& wt) {
  const std::int64_t n = l.positions;
  add_count(w, l, l.axis_counts + pos, wt);
  if (o.target == o.pred) {
    add_count(w, l, l.axis_counts + n + pos, wt);
  }
  if (l.top_k && o.top_k_hit) {
    add_count(w, l, l.axis_counts + 2 * n + pos, wt);
  }
  if (o.scored) {
    add_term(w + l.axis_sums + 2 * pos, o.log_loss * wt.value);
    add_term(w + l.axis_sums + 2 * (n + pos), o.brier * wt.value);
  }
}

// Folds a binary or multiclass outcome (folded, invalid or ignored) into a record; by_axis
// records take the sample's index within its batch.
GPUEVAL_HD inline void add(std::uint64_t* w, const ClassLayout& l, const Outcome& o,
                           const Weight& wt = unit_weight(), std::int64_t sample = 0) {
  if (o.kind != Outcome::folded) { // invalid and non-finite samples are counted together
    add_count(w, l, o.kind == Outcome::ignored ? ClassLayout::kIgnored : ClassLayout::kInvalid, wt);
    return;
  }
  add_count(w, l, ClassLayout::kSamples, wt);
  add_decision(w, l, o.target, o.pred, wt);
  if (l.top_k && o.top_k_hit) {
    add_count(w, l, l.topk_hits, wt);
  }
  if (o.scored) {
    add_scored(w, l, o, wt);
  }
  if (l.positions > 0) {
    add_position(w, l, l.position_of(sample), o, wt);
  }
}

// Folds one folded label of a multilabel sample (its outcome from sample_binary); the caller
// counts ignored labels and closes the sample with add_label_sample.
GPUEVAL_HD inline void add_label(std::uint64_t* w, const ClassLayout& l, std::int64_t label,
                                 const Outcome& o, const Weight& wt = unit_weight()) {
  const bool y = o.target != 0, yhat = o.pred != 0;
  add_count(w, l, (y ? (yhat ? l.tp : l.fn) : (yhat ? l.fp : l.tn)) + label, wt);
  if (o.scored) {
    add_scored(w, l, o, wt);
  }
}

// A multilabel sample's own scores from its label counts (scikit-learn's average="samples"):
// precision, recall, F1, F-beta and jaccard, and which of them have a zero denominator
// (precision: tp + fp = 0, recall: tp + fn = 0, the F-scores and jaccard: tp + fp + fn = 0).
struct SampleScores {
  double value[5];
  bool undefined[3]; // precision, recall, F and jaccard
};
GPUEVAL_HD inline SampleScores sample_scores(double tp, double fp, double fn, double beta2) {
  SampleScores s;
  s.undefined[0] = tp + fp == 0.0;
  s.undefined[1] = tp + fn == 0.0;
  s.undefined[2] = tp + fp + fn == 0.0;
  s.value[0] = s.undefined[0] ? 0.0 : tp / (tp + fp);
  s.value[1] = s.undefined[1] ? 0.0 : tp / (tp + fn);
  s.value[2] = s.undefined[2] ? 0.0 : (2.0 * tp) / (2.0 * tp + fp + fn);
  s.value[3] = s.undefined[2] ? 0.0 : ((1.0 + beta2) * tp) / ((1.0 + beta2) * tp + beta2 * fn + fp);
  s.value[4] = s.undefined[2] ? 0.0 : tp / (tp + fp + fn);
  return s;
}

// The label counts of one multilabel sample, as its labels are folded.
struct LabelTally {
  std::int64_t counted = 0, tp = 0, fp = 0, fn = 0;
  bool right = true;
  GPUEVAL_HD void add(bool y, bool yhat) {
    ++counted;
    tp += y && yhat;
    fp += !y && yhat;
    fn += y && !yhat;
    right = right && y == yhat;
  }
};

// Closes a multilabel sample from its tally: counted, subset accuracy and (per_sample records)
// its own scores, each times its weight.
GPUEVAL_HD inline void add_label_sample(std::uint64_t* w, const ClassLayout& l, const LabelTally& t,
                                        const ClassParams& p, const Weight& wt = unit_weight()) {
  add_count(w, l, ClassLayout::kSamples, wt);
  if (t.counted == 0) {
    return;
  }
  add_count(w, l, l.subset_rows, wt);
  if (t.right) {
    add_count(w, l, l.subset_right, wt);
  }
  if (l.per_sample) {
    const SampleScores s = sample_scores(static_cast<double>(t.tp), static_cast<double>(t.fp),
                                         static_cast<double>(t.fn), p.beta2);
    for (int k = 0; k < 3; ++k) {
      if (s.undefined[k]) {
        add_count(w, l, l.sample_undefined + k, wt);
      }
    }
    for (int k = 0; k < 5; ++k) {
      add_term(w + l.sample_sums + 2 * k, s.value[k] * wt.value);
    }
  }
}

} // namespace gpueval::ops
