// Rank metrics from the score histograms: AUROC and average precision with their bounds, and
// the binary ROC and PR curves.
#include "classification/internal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gpueval {

namespace classification {

namespace {

// Histogram g of class c read bin by bin, ascending (bins relative to its start), from the
// nonzero words: a count, or (weighted) a bin's lo and hi words as one weight sum. No copy.
class BinCursor {
public:
  BinCursor(const Histograms& h, const ops::HistLayout& hl, std::int64_t c, std::int64_t g)
      : h_(h), per_bin_(h.weighted ? 2 : 1) {
    const auto bins = static_cast<std::uint64_t>(hl.bins());
    first_ = static_cast<std::uint64_t>(c * hl.groups() + g) * bins;
    const auto lower = [&](std::uint64_t bin) {
      return static_cast<std::size_t>(
          std::lower_bound(h.words.begin(), h.words.end(),
                           std::make_pair(bin * per_bin_, std::uint64_t{0})) -
          h.words.begin());
    };
    at_ = lower(first_);
    end_ = lower(first_ + bins);
    read();
  }
  bool done() const { return at_ == end_; }
  std::uint64_t bin() const { return bin_; }
  double value() const { return value_; }
  // The bin's shared key: kMixedKey when the keys were not kept.
  std::uint32_t key() const { return h_.keys == nullptr ? ops::kMixedKey : (*h_.keys)[at_]; }
  void next() {
    at_ = after_;
    read();
  }
  std::size_t left() const { return end_ - at_; }

private:
  void read() {
    if (at_ == end_) {
      return;
    }
    const std::uint64_t bin = h_.words[at_].first / per_bin_;
    bin_ = bin - first_;
    if (per_bin_ == 1) {
      value_ = static_cast<double>(h_.words[at_].second);
      after_ = at_ + 1;
      return;
    }
    std::uint64_t words[2] = {0, 0};
    for (after_ = at_; after_ < end_ && h_.words[after_].first / 2 == bin; ++after_) {
      words[h_.words[after_].first % 2] = h_.words[after_].second;
    }
    value_ = ops::weight_sum_value(words);
  }

  const Histograms& h_;
  std::uint64_t per_bin_, first_ = 0, bin_ = 0;
  std::size_t at_ = 0, end_ = 0, after_ = 0;
  double value_ = 0;
};

// Histogram g of class c as (bin, value) pairs.
BinValues histogram_of(const Histograms& h, const ops::HistLayout& hl, std::int64_t c,
                       std::int64_t g) {
  BinCursor it(h, hl, c, g);
  BinValues out;
  out.reserve(it.left());
  for (; !it.done(); it.next()) {
    out.emplace_back(it.bin(), it.value());
  }
  return out;
}

// Histograms added bin by bin.
BinValues sum_of(const std::vector<BinValues>& parts) {
  BinValues all;
  for (const BinValues& p : parts) {
    all.insert(all.end(), p.begin(), p.end());
  }
  std::sort(all.begin(), all.end());
  BinValues out;
  for (const auto& [bin, v] : all) {
    if (!out.empty() && out.back().first == bin) {
      out.back().second += v;
    } else {
      out.emplace_back(bin, v);
    }
  }
  return out;
}

// Negatives' and positives' histograms side by side.
template <class Neg, class Pos> std::vector<BinCounts> side_by_side(Neg n, Pos p) {
  std::vector<BinCounts> out;
  out.reserve(n.left() + p.left());
  while (!n.done() || !p.done()) {
    const std::uint64_t nb = !n.done() ? n.bin() : ~std::uint64_t{0};
    const std::uint64_t pb = !p.done() ? p.bin() : ~std::uint64_t{0};
    BinCounts b{std::min(nb, pb), 0, 0, 0};
    if (nb == b.bin) {
      b.neg = n.value();
      b.key = n.key();
      n.next();
    }
    if (pb == b.bin) {
      b.pos = p.value();
      b.key = ops::merge_key(b.key, p.key());
      p.next();
    }
    out.push_back(b);
  }
  return out;
}

// BinValues read as a BinCursor.
class ValuesCursor {
public:
  explicit ValuesCursor(const BinValues& v) : v_(v) {}
  bool done() const { return at_ == v_.size(); }
  std::uint64_t bin() const { return v_[at_].first; }
  double value() const { return v_[at_].second; }
  std::uint32_t key() const { return ops::kMixedKey; } // sums of histograms keep no keys
  void next() { ++at_; }
  std::size_t left() const { return v_.size() - at_; }

private:
  const BinValues& v_;
  std::size_t at_ = 0;
};

} // namespace

std::vector<BinCounts> class_bins(const Histograms& h, const ops::HistLayout& hl, std::int64_t c) {
  if (!hl.per_target) {
    return side_by_side(BinCursor(h, hl, c, 0), BinCursor(h, hl, c, 1));
  }
  // One-vs-one histograms: class c's negatives are the samples of every other target.
  std::vector<BinValues> others;
  for (std::int64_t t = 0; t < hl.classes; ++t) {
    if (t != c) {
      others.push_back(histogram_of(h, hl, c, t));
    }
  }
  const BinValues negatives = sum_of(others);
  return side_by_side(ValuesCursor(negatives), BinCursor(h, hl, c, c));
}

std::vector<BinCounts> pair_bins(const Histograms& h, const ops::HistLayout& hl, std::int64_t c,
                                 std::int64_t t) {
  return side_by_side(BinCursor(h, hl, c, t), BinCursor(h, hl, c, c));
}

std::vector<BinCounts> pooled_bins(const Histograms& h, const ops::HistLayout& hl) {
  std::vector<BinCounts> all;
  for (std::int64_t c = 0; c < hl.classes; ++c) {
    const std::vector<BinCounts> one = class_bins(h, hl, c);
    all.insert(all.end(), one.begin(), one.end());
  }
  std::sort(all.begin(), all.end(),
            [](const BinCounts& a, const BinCounts& b) { return a.bin < b.bin; });
  std::vector<BinCounts> out;
  for (const BinCounts& b : all) {
    if (!out.empty() && out.back().bin == b.bin) {
      out.back().neg += b.neg;
      out.back().pos += b.pos;
      out.back().key = ops::merge_key(out.back().key, b.key);
    } else {
      out.push_back(b);
    }
  }
  return out;
}

std::vector<BinCounts> flipped_bins(const std::vector<BinCounts>& bins) {
  std::vector<BinCounts> out;
  out.reserve(bins.size());
  for (auto it = bins.rbegin(); it != bins.rend(); ++it) {
    out.push_back({~it->bin, it->pos, it->neg, it->key}); // descending keys, ascending order
  }
  return out;
}

// AUROC with pairs in one bin as ties (half), and average precision with one threshold per bin,
// as scikit-learn computes them on those scores. When every distinct score has its own bin
// (`exact`) they are the exact values; otherwise the order inside a bin is unknown, and the
// bounds say how far the true values can be: AUROC by half the fraction of positive-negative
// pairs that share a bin, average precision by each bin's range of possible precisions. A bin
// whose samples share one score (its key) is a true tie, counted exactly: no bound.
namespace {

__extension__ typedef unsigned __int128 U128;

// A sum of doubles with Neumaier's compensation: within an ulp or two of the exact sum of any
// number of terms, at a few additions a term.
struct CompensatedSum {
  double sum = 0, carry = 0;
  void add(double x) {
    const double t = sum + x;
    carry += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double value() const { return sum + carry; }
};

} // namespace

RankMetrics rank_metrics(const std::vector<BinCounts>& bins, bool exact) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Counts (whole numbers below 2^53) sum exactly in doubles and give AUROC's sums exactly in
  // 128-bit integers; weight sums take long double.
  double P = 0, N = 0;
  bool whole = true;
  for (const BinCounts& b : bins) {
    P += b.pos;
    N += b.neg;
    whole = whole && b.pos == std::floor(b.pos) && b.neg == std::floor(b.neg);
  }
  whole = whole && P + N < 9007199254740992.0;
  RankMetrics r{nan, nan, nan, nan, P};
  if (P > 0 && N > 0) {
    const long double pairs = static_cast<long double>(P) * N;
    if (whole) { // 2 x area and the mixed bins' pairs, exactly
      U128 area2 = 0, ties = 0;
      std::uint64_t below = 0;
      for (const BinCounts& b : bins) {
        const auto pos = static_cast<std::uint64_t>(b.pos), neg = static_cast<std::uint64_t>(b.neg);
        area2 += static_cast<U128>(pos) * (2 * below + neg);
        if (b.key == ops::kMixedKey) {
          ties += static_cast<U128>(pos) * neg;
        }
        below += neg;
      }
      r.auroc = static_cast<double>(static_cast<long double>(area2) / (2 * pairs));
      r.auroc_bound =
          exact ? 0.0 : static_cast<double>(static_cast<long double>(ties) / (2 * pairs));
    } else {
      long double below = 0, area = 0, ties = 0;
      for (const BinCounts& b : bins) {
        area += static_cast<long double>(b.pos) * (below + 0.5L * b.neg);
        if (b.key == ops::kMixedKey) {
          ties += static_cast<long double>(b.pos) * b.neg;
        }
        below += b.neg;
      }
      r.auroc = static_cast<double>(area / pairs);
      r.auroc_bound = exact ? 0.0 : static_cast<double>(0.5L * ties / pairs);
    }
  }
  if (P > 0) {
    double tp = 0, fp = 0;
    CompensatedSum ap, bound; // of pos x precision, and of each bin's bound term
    for (auto it = bins.rbegin(); it != bins.rend(); ++it) {
      const double tp0 = tp, fp0 = fp;
      tp += it->pos;
      fp += it->neg;
      if (it->pos == 0) {
        continue;
      }
      const double prec = tp / (tp + fp);
      ap.add(it->pos * prec);
      // The bin's positives have an average precision between these, whatever the order inside
      // it: at most the last one's with every positive first (hi); at least, with every negative
      // first, the mean of (a + x) / (d + x) over their cumulated weight x in [0, pos] (the
      // integral; each positive's precision is that curve at the end of its own weight, and the
      // curve rises): 1 - (d - a) / pos * log(1 + pos / d). Counts and weight sums alike.
      if (exact || it->key != ops::kMixedKey) {
        continue; // every distinct score has its own bin, or this bin one score: no bound
      }
      const double a = tp0, d = tp0 + fp0 + it->neg;
      const double lo = d == a ? 1.0 : 1.0 - (d - a) / it->pos * std::log1p(it->pos / d);
      const double hi = tp / (tp0 + fp0 + it->pos);
      bound.add(it->pos * std::max(hi - prec, prec - lo));
    }
    r.ap = ap.value() / P;
    r.ap_bound = exact ? 0.0 : bound.value() / P;
  }
  return r;
}

// ROC and PR curves of a binary task at every bin's threshold (its lowest score), at most
// kCurvePoints points, descending thresholds; the ROC starts at (0, 0), threshold +inf.

void curves(const std::vector<BinCounts>& bins, const ops::HistLayout& hl,
            ClassificationReport& r) {
  double P = 0, N = 0;
  for (const BinCounts& b : bins) {
    P += static_cast<double>(b.pos);
    N += static_cast<double>(b.neg);
  }
  if (bins.empty()) {
    return;
  }
  const std::size_t n = bins.size();
  const std::size_t points = std::min(n, kCurvePoints - 1);
  r.roc_fpr.push_back(0.0);
  r.roc_tpr.push_back(0.0);
  r.roc_threshold.push_back(std::numeric_limits<double>::infinity());
  double tp = 0, fp = 0;
  std::size_t next = 0; // the k-th of `points` kept bins (descending), evenly spread
  for (std::size_t i = 0; i < n; ++i) {
    const BinCounts& b = bins[n - 1 - i];
    tp += static_cast<double>(b.pos);
    fp += static_cast<double>(b.neg);
    const std::size_t want = points <= 1 ? n - 1 : next * (n - 1) / (points - 1);
    if (i != want) {
      continue;
    }
    ++next;
    // A bin of one score: that score; else the lowest a score of the bin can be.
    const double threshold = b.key != ops::kMixedKey && b.key != 0
                                 ? ops::key_value(b.key - 1, hl.format)
                                 : ops::key_value(b.bin << hl.shift, hl.format);
    r.roc_fpr.push_back(N > 0 ? fp / N : std::numeric_limits<double>::quiet_NaN());
    r.roc_tpr.push_back(P > 0 ? tp / P : std::numeric_limits<double>::quiet_NaN());
    r.roc_threshold.push_back(threshold);
    r.pr_precision.push_back(tp / (tp + fp));
    r.pr_recall.push_back(P > 0 ? tp / P : std::numeric_limits<double>::quiet_NaN());
    r.pr_threshold.push_back(threshold);
  }
}

} // namespace classification

} // namespace gpueval
