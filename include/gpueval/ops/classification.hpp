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
// Real-valued sums (log loss, Brier score, calibration confidence) are kept as fixed-point
// numbers with 64 fractional bits in two words (Fixed128): each term is truncated to a multiple
// of 2^-64 and the sums are exact integer additions, so they too are independent of the order
// of the terms (DESIGN.md, "Metric families"). A term's error is below 2^-64 (5.4e-20), far
// under the accuracy rule for any count a state can hold.
#pragma once

#include <cstdint>
#include <math.h>

#include "gpueval/macros.hpp"

namespace gpueval::ops {

enum class ClassTask : std::uint8_t { binary, multiclass, multilabel };

// A real number in fixed point: value = hi + lo * 2^-64. Two words of a record, added with carry.
struct Fixed128 {
  std::uint64_t lo = 0;
  std::int64_t hi = 0;

  // Truncates x to a multiple of 2^-64 (toward minus infinity). |x| < 2^62.
  GPUEVAL_HD static Fixed128 from_double(double x) {
    Fixed128 f;
    const double whole = floor(x);
    f.hi = static_cast<std::int64_t>(whole);
    // x - whole is exact (both are doubles of the same binade or smaller) and in [0, 1); times
    // 2^64 it is below 2^64 and an exact double, so the conversion only drops bits below 2^-64.
    f.lo = static_cast<std::uint64_t>((x - whole) * 18446744073709551616.0);
    return f;
  }
  GPUEVAL_HD double to_double() const {
    return static_cast<double>(hi) + static_cast<double>(lo) * 5.421010862427522e-20;
  }
};

// Adds the fixed-point number at words[i], words[i + 1] (lo, hi) of `from` into `into`.
GPUEVAL_HD inline void add_fixed(std::uint64_t* into, std::uint64_t lo, std::uint64_t hi) {
  const std::uint64_t sum = into[0] + lo;
  into[1] += hi + (sum < lo ? 1u : 0u);
  into[0] = sum;
}

// Where each statistic of a task's record lives, in 64-bit words. Counts first (plain integer
// adds), then the fixed-point sums (pairs of words added with carry).
struct ClassLayout {
  ClassTask task = ClassTask::binary;
  std::int64_t classes = 2; // binary: 2; multiclass: C; multilabel: L (labels)
  bool scores = false;      // the predictions are scores: log loss, Brier, calibration, top-k
  bool top_k = false;       // multiclass scores with k given
  int bins = 0;             // calibration bins (binary and multiclass scores), else 0

  // Counts.
  static constexpr std::int64_t kSamples = 0; // samples folded into the statistics
  static constexpr std::int64_t kInvalid = 1; // samples dropped: invalid target, score or label
  static constexpr std::int64_t kIgnored = 2; // targets equal to ignore_index (elements, for
                                              // multilabel)
  static constexpr std::int64_t kTerms = 3;   // terms of the log loss and Brier sums
  std::int64_t confusion = -1; // binary/multiclass: C x C, row = target, column = prediction
  std::int64_t tp = -1, fp = -1, fn = -1, tn = -1; // multilabel: one word per label each
  std::int64_t subset_right = -1; // multilabel: samples with every counted label right
  std::int64_t subset_rows = -1;  // multilabel: samples with at least one counted label
  std::int64_t topk_hits = -1;
  std::int64_t calib_count = -1, calib_correct = -1; // bins words each
  // Fixed-point sums (two words each).
  std::int64_t fixed = 0; // first word of the fixed-point region
  std::int64_t log_loss = -1, brier = -1;
  std::int64_t calib_conf = -1; // bins pairs
  std::int64_t words = 0;

  GPUEVAL_HD static ClassLayout make(ClassTask task, std::int64_t classes, bool scores, bool top_k,
                                     int bins) {
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
    } else {
      l.confusion = w;
      w += l.classes * l.classes;
    }
    if (l.top_k) {
      l.topk_hits = w++;
    }
    if (l.bins > 0) {
      l.calib_count = w;
      l.calib_correct = w + l.bins;
      w += 2 * l.bins;
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
    l.words = w;
    return l;
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
};

// A sample's outcome: what add() folds.
struct Outcome {
  enum Kind : std::uint8_t { folded, invalid, ignored } kind = folded;
  std::int64_t target = 0;
  std::int64_t pred = 0;
  bool scored = false;   // loss, Brier and calibration terms below are set
  double log_loss = 0;   // -log p(target)
  double brier = 0;      // binary: (p - y)^2; multiclass: sum_c (p_c - [y = c])^2
  double confidence = 0; // binary: p(positive); multiclass: the top probability
  bool correct = false;  // binary: y = 1; multiclass: prediction = target (calibration accuracy)
  bool top_k_hit = false;
};

GPUEVAL_HD inline bool finite(double x) {
  return x - x == 0.0;
}

// log(sigmoid(z)) without overflow or cancellation, in double.
GPUEVAL_HD inline double log_sigmoid(double z) {
  return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
}

GPUEVAL_HD inline double sigmoid(double z) {
  return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

// A calibration bin: floor(confidence * bins), the top bin closed on the right (as TorchMetrics'
// equal-width bins on [0, 1]).
GPUEVAL_HD inline int calibration_bin(double confidence, int bins) {
  int b = static_cast<int>(confidence * bins);
  b = b < 0 ? 0 : b;
  return b >= bins ? bins - 1 : b;
}

// A target as a class index, or an invalid / ignored outcome. Float targets must be whole.
GPUEVAL_HD inline Outcome::Kind read_target(double t, const ClassParams& p, std::int64_t& out) {
  if (!finite(t) || t != floor(t)) {
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
  if (is_label) {
    if (score != 0.0 && score != 1.0) {
      o.kind = Outcome::invalid;
      return o;
    }
    o.pred = score != 0.0;
    return o;
  }
  if (!finite(score) || (!p.logits && (score < 0.0 || score > 1.0))) {
    o.kind = Outcome::invalid;
    return o;
  }
  double prob;
  if (p.logits) {
    prob = sigmoid(score);
    o.log_loss = -(o.target ? log_sigmoid(score) : log_sigmoid(-score));
  } else {
    prob = score;
    const double c = fmin(fmax(score, p.clip_eps), 1.0 - p.clip_eps);
    o.log_loss = -(o.target ? log(c) : log(1.0 - c));
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
  // One pass: validity, the argmax (lowest index on a tie) and the target's score.
  double best = score(0);
  std::int64_t arg = 0;
  bool ok = true;
  for (std::int64_t c = 0; c < p.classes; ++c) {
    const double s = score(c);
    ok = ok && finite(s) && (p.logits || (s >= 0.0 && s <= 1.0));
    if (s > best) {
      best = s;
      arg = c;
    }
  }
  if (!ok) {
    o.kind = Outcome::invalid;
    return o;
  }
  o.pred = arg;
  o.scored = true;
  const double st = score(o.target);
  std::int64_t higher = 0;
  if (p.logits) {
    double sum = 0;
    for (std::int64_t c = 0; c < p.classes; ++c) {
      const double s = score(c);
      higher += s > st;
      sum += exp(s - best);
    }
    const double lse = best + log(sum);
    o.log_loss = lse - st;
    double brier = 0;
    for (std::int64_t c = 0; c < p.classes; ++c) {
      const double q = exp(score(c) - lse);
      const double d = q - (c == o.target ? 1.0 : 0.0);
      brier += d * d;
    }
    o.brier = brier;
    o.confidence = 1.0 / sum;
  } else {
    double brier = 0;
    for (std::int64_t c = 0; c < p.classes; ++c) {
      const double s = score(c);
      higher += s > st;
      const double d = s - (c == o.target ? 1.0 : 0.0);
      brier += d * d;
    }
    o.brier = brier;
    o.log_loss = -log(fmin(fmax(st, p.clip_eps), 1.0 - p.clip_eps));
    o.confidence = best;
  }
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
  if (!finite(label) || label != floor(label) || label < 0 ||
      label >= static_cast<double>(p.classes)) {
    o.kind = Outcome::invalid;
    return o;
  }
  o.pred = static_cast<std::int64_t>(label);
  o.correct = o.pred == o.target;
  return o;
}

// The scored terms of an outcome: log loss and Brier (every scored task), calibration (binary and
// multiclass).
GPUEVAL_HD inline void add_scored(std::uint64_t* w, const ClassLayout& l, const Outcome& o) {
  w[ClassLayout::kTerms] += 1;
  Fixed128 f = Fixed128::from_double(o.log_loss);
  add_fixed(w + l.log_loss, f.lo, static_cast<std::uint64_t>(f.hi));
  f = Fixed128::from_double(o.brier);
  add_fixed(w + l.brier, f.lo, static_cast<std::uint64_t>(f.hi));
  if (l.bins > 0) {
    const int b = calibration_bin(o.confidence, l.bins);
    w[l.calib_count + b] += 1;
    w[l.calib_correct + b] += o.correct ? 1u : 0u;
    f = Fixed128::from_double(o.confidence);
    add_fixed(w + l.calib_conf + 2 * b, f.lo, static_cast<std::uint64_t>(f.hi));
  }
}

// Folds a binary or multiclass outcome (folded, invalid or ignored) into a record.
GPUEVAL_HD inline void add(std::uint64_t* w, const ClassLayout& l, const Outcome& o) {
  if (o.kind != Outcome::folded) {
    w[o.kind == Outcome::invalid ? ClassLayout::kInvalid : ClassLayout::kIgnored] += 1;
    return;
  }
  w[ClassLayout::kSamples] += 1;
  w[l.confusion + o.target * l.classes + o.pred] += 1;
  if (l.top_k) {
    w[l.topk_hits] += o.top_k_hit ? 1u : 0u;
  }
  if (o.scored) {
    add_scored(w, l, o);
  }
}

// Folds one folded label of a multilabel sample (its outcome from sample_binary); the caller
// counts ignored labels and closes the sample with add_label_sample.
GPUEVAL_HD inline void add_label(std::uint64_t* w, const ClassLayout& l, std::int64_t label,
                                 const Outcome& o) {
  const bool y = o.target != 0, yhat = o.pred != 0;
  w[(y ? (yhat ? l.tp : l.fn) : (yhat ? l.fp : l.tn)) + label] += 1;
  if (o.scored) {
    add_scored(w, l, o);
  }
}

// Closes a multilabel sample: `counted` labels were folded, all of them right when `right`.
GPUEVAL_HD inline void add_label_sample(std::uint64_t* w, const ClassLayout& l,
                                        std::int64_t counted, bool right) {
  w[ClassLayout::kSamples] += 1;
  if (counted > 0) {
    w[l.subset_rows] += 1;
    w[l.subset_right] += right ? 1u : 0u;
  }
}

} // namespace gpueval::ops
