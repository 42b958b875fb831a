// Rank metrics from the score histograms: AUROC and average precision with their bounds, and
// the binary ROC and PR curves.
#include "classification/internal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gpueval {

namespace classification {

// Class c's nonzero bins, ascending: its negatives' and positives' histograms side by side.
BinValues bin_values(const Sparse& h, bool weighted) {
  BinValues out;
  out.reserve(h.size());
  if (!weighted) {
    for (const auto& [index, n] : h) {
      out.emplace_back(index, static_cast<double>(n));
    }
    return out;
  }
  for (std::size_t i = 0; i < h.size();) {
    const std::uint64_t bin = h[i].first / 2;
    std::uint64_t words[2] = {0, 0};
    for (; i < h.size() && h[i].first / 2 == bin; ++i) {
      words[h[i].first % 2] = h[i].second;
    }
    out.emplace_back(bin, ops::weight_sum_value(words));
  }
  return out;
}

namespace {

// Histogram g of class c (bins relative to its start), ascending.
BinValues histogram_of(const BinValues& h, const ops::HistLayout& hl, std::int64_t c,
                       std::int64_t g) {
  const auto bins = static_cast<std::uint64_t>(hl.bins());
  const std::uint64_t lo = static_cast<std::uint64_t>(c * hl.groups() + g) * bins;
  const auto lower = [&](std::uint64_t x) {
    return std::lower_bound(h.begin(), h.end(), std::make_pair(x, -1.0));
  };
  BinValues out;
  for (auto it = lower(lo), end = lower(lo + bins); it != end; ++it) {
    out.emplace_back(it->first - lo, it->second);
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
std::vector<BinCounts> side_by_side(const BinValues& neg, const BinValues& pos) {
  std::vector<BinCounts> out;
  auto n = neg.begin(), p = pos.begin();
  while (n != neg.end() || p != pos.end()) {
    const std::uint64_t nb = n != neg.end() ? n->first : ~std::uint64_t{0};
    const std::uint64_t pb = p != pos.end() ? p->first : ~std::uint64_t{0};
    BinCounts b{std::min(nb, pb), 0, 0};
    if (nb == b.bin) {
      b.neg = (n++)->second;
    }
    if (pb == b.bin) {
      b.pos = (p++)->second;
    }
    out.push_back(b);
  }
  return out;
}

} // namespace

std::vector<BinCounts> class_bins(const BinValues& h, const ops::HistLayout& hl, std::int64_t c) {
  if (!hl.per_target) {
    return side_by_side(histogram_of(h, hl, c, 0), histogram_of(h, hl, c, 1));
  }
  // One-vs-one histograms: class c's negatives are the samples of every other target.
  std::vector<BinValues> others;
  for (std::int64_t t = 0; t < hl.classes; ++t) {
    if (t != c) {
      others.push_back(histogram_of(h, hl, c, t));
    }
  }
  return side_by_side(sum_of(others), histogram_of(h, hl, c, c));
}

std::vector<BinCounts> pair_bins(const BinValues& h, const ops::HistLayout& hl, std::int64_t c,
                                 std::int64_t t) {
  return side_by_side(histogram_of(h, hl, c, t), histogram_of(h, hl, c, c));
}

std::vector<BinCounts> pooled_bins(const BinValues& h, const ops::HistLayout& hl) {
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
    out.push_back({~it->bin, it->pos, it->neg}); // descending keys, ascending order
  }
  return out;
}

// AUROC with pairs in one bin as ties (half), and average precision with one threshold per bin,
// as scikit-learn computes them on those scores. When every distinct score has its own bin
// (`exact`) they are the exact values; otherwise the order inside a bin is unknown, and the
// bounds say how far the true values can be: AUROC by half the fraction of positive-negative
// pairs that share a bin, average precision by each bin's range of possible precisions.
RankMetrics rank_metrics(const std::vector<BinCounts>& bins, bool exact) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  long double P = 0, N = 0;
  for (const BinCounts& b : bins) {
    P += b.pos;
    N += b.neg;
  }
  RankMetrics r{nan, nan, nan, nan, static_cast<double>(P)};
  if (P > 0 && N > 0) {
    long double below = 0, area = 0, ties = 0;
    for (const BinCounts& b : bins) {
      area += static_cast<long double>(b.pos) * (below + 0.5L * b.neg);
      ties += static_cast<long double>(b.pos) * b.neg;
      below += b.neg;
    }
    r.auroc = static_cast<double>(area / (P * N));
    r.auroc_bound = exact ? 0.0 : static_cast<double>(0.5L * ties / (P * N));
  }
  if (P > 0) {
    long double tp = 0, fp = 0, ap = 0, bound = 0;
    for (auto it = bins.rbegin(); it != bins.rend(); ++it) {
      const long double tp0 = tp, fp0 = fp;
      tp += it->pos;
      fp += it->neg;
      if (it->pos == 0) {
        continue;
      }
      const long double prec = tp / (tp + fp);
      ap += it->pos / P * prec;
      // The bin's positives have an average precision between these, whatever the order inside
      // it: at most the last one's with every positive first (hi); at least, with every negative
      // first, the mean of (a + x) / (d + x) over their cumulated weight x in [0, pos] (the
      // integral; each positive's precision is that curve at the end of its own weight, and the
      // curve rises): 1 - (d - a) / pos * log(1 + pos / d). Counts and weight sums alike.
      if (exact) {
        continue; // every distinct score has its own bin: no bound to compute
      }
      // (a bound: double precision is plenty, and log1p in double is several times faster)
      const double a = static_cast<double>(tp0), d = static_cast<double>(tp0 + fp0 + it->neg);
      const double lo = d == a ? 1.0 : 1.0 - (d - a) / it->pos * std::log1p(it->pos / d);
      const double hi = static_cast<double>(tp / (tp0 + fp0 + it->pos));
      bound +=
          it->pos / P * std::max(hi - static_cast<double>(prec), static_cast<double>(prec) - lo);
    }
    r.ap = static_cast<double>(ap);
    r.ap_bound = exact ? 0.0 : static_cast<double>(bound);
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
    const double threshold = ops::key_value(b.bin << hl.shift, hl.format);
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
