// The classification metrics from a record (finalize): per-class scores and their averages,
// MCC and the kappas exact in integers, the proper scores and calibration, the histograms' rank
// metrics; the report they make.
#include "classification/internal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gpueval/error.hpp"

namespace gpueval {

using namespace classification; // the family's internal functions (internal.hpp)

namespace classification {

double ratio(double num, double den, double zero_division) {
  return den > 0 ? num / den : zero_division;
}

double precision_of(double tp, double fp, double, double, double, double zd) {
  return ratio(tp, tp + fp, zd);
}
double recall_of(double tp, double, double fn, double, double, double zd) {
  return ratio(tp, tp + fn, zd);
}
double f1_of(double tp, double fp, double fn, double, double, double zd) {
  return ratio(2 * tp, 2 * tp + fp + fn, zd);
}
double fbeta_of(double tp, double fp, double fn, double, double b2, double zd) {
  return ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp, zd);
}
double specificity_of(double, double fp, double, double tn, double, double zd) {
  return ratio(tn, tn + fp, zd);
}
double jaccard_of(double tp, double fp, double fn, double, double, double zd) {
  return ratio(tp, tp + fp + fn, zd);
}

PerClassFn per_class_fn(ClassMetric m) {
  switch (m) {
  case ClassMetric::precision:
    return precision_of;
  case ClassMetric::recall:
    return recall_of;
  case ClassMetric::f1:
    return f1_of;
  case ClassMetric::fbeta:
    return fbeta_of;
  case ClassMetric::specificity:
    return specificity_of;
  default:
    return jaccard_of;
  }
}

namespace {

__extension__ typedef unsigned __int128 U128;
__extension__ typedef __int128 I128;

// Each formula below serves counts (exact, in 128-bit integers) and weight sums (long double,
// as scikit-learn computes them with sample_weight in float64) alike: A is the accumulator.

// Matthews' correlation from the marginals (targets t_k and predictions y_k per class) and the
// trace: scikit-learn's multiclass formula; 0 when a variance is 0.
template <class A> double mcc_from(const std::vector<A>& t, const std::vector<A>& y, A trace) {
  A n = 0, tk_pk = 0, pk2 = 0, tk2 = 0;
  for (std::size_t k = 0; k < t.size(); ++k) {
    n += t[k];
    tk_pk += t[k] * y[k];
    pk2 += y[k] * y[k];
    tk2 += t[k] * t[k];
  }
  const A cov_ytyp = trace * n - tk_pk, cov_ypyp = n * n - pk2, cov_ytyt = n * n - tk2;
  if (cov_ypyp == 0 || cov_ytyt == 0) {
    return 0.0;
  }
  return static_cast<double>(
      static_cast<long double>(cov_ytyp) /
      std::sqrt(static_cast<long double>(cov_ytyt) * static_cast<long double>(cov_ypyp)));
}

// Cohen's kappa's expected disagreement sum_ij w_ij t_i y_j from the marginals in O(C), with
// w = 1 off the diagonal (power 0), |i - j| (1) or (i - j)^2 (2).
template <class A>
A expected_disagreement(const std::vector<A>& t, const std::vector<A>& y, int power) {
  const std::size_t C = t.size();
  A n = 0, diag = 0, total_j = 0;
  for (std::size_t i = 0; i < C; ++i) {
    n += t[i];
    diag += t[i] * y[i];
    total_j += y[i] * static_cast<A>(i);
  }
  if (power == 0) {
    return n * n - diag;
  }
  if (power == 1) { // sum_i t_i (sum_{j<i} (i - j) y_j + sum_{j>i} (j - i) y_j), prefix sums
    A expected = 0, below = 0, below_j = 0;
    for (std::size_t i = 0; i < C; ++i) {
      const A ia = static_cast<A>(i);
      const A above = n - below - y[i], above_j = total_j - below_j - y[i] * ia;
      expected += t[i] * ((below * ia - below_j) + (above_j - above * ia));
      below += y[i];
      below_j += y[i] * ia;
    }
    return expected;
  }
  // sum_ij (i - j)^2 t_i y_j = n sum i^2 y_i + n sum i^2 t_i - 2 (sum i t_i)(sum j y_j)
  A t1 = 0, t2 = 0, y2 = 0;
  for (std::size_t i = 0; i < C; ++i) {
    const A ia = static_cast<A>(i);
    t1 += t[i] * ia;
    t2 += t[i] * ia * ia;
    y2 += y[i] * ia * ia;
  }
  return n * y2 + n * t2 - 2 * t1 * total_j;
}

// kappa = 1 - n * observed / expected, one final division.
template <class A> double kappa_from(A observed, A n, A expected) {
  if (expected == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return static_cast<double>(1.0L - static_cast<long double>(observed * n) /
                                        static_cast<long double>(expected));
}

// A confusion matrix's marginals (rows: targets, columns: predictions) and trace.
template <class A, class Cell> struct MatrixMarginals {
  std::vector<A> t, y;
  A n = 0, trace = 0;
  MatrixMarginals(const std::vector<Cell>& m, std::int64_t c)
      : t(static_cast<std::size_t>(c), 0), y(static_cast<std::size_t>(c), 0) {
    const auto C = static_cast<std::size_t>(c);
    for (std::size_t i = 0; i < C; ++i) {
      for (std::size_t j = 0; j < C; ++j) {
        t[i] += static_cast<A>(m[i * C + j]);
        y[j] += static_cast<A>(m[i * C + j]);
      }
      trace += static_cast<A>(m[i * C + i]);
    }
    for (const A v : t) {
      n += v;
    }
  }
};

// Kappa of a confusion matrix: the observed disagreement from its cells.
template <class A, class Cell>
double matrix_kappa(const std::vector<Cell>& m, std::int64_t c, int power) {
  const MatrixMarginals<A, Cell> mm(m, c);
  const auto C = static_cast<std::size_t>(c);
  A observed = 0;
  for (std::size_t i = 0; i < C; ++i) {
    for (std::size_t j = 0; j < C; ++j) {
      const A d = static_cast<A>(i > j ? i - j : j - i);
      const A w = power == 0 ? (i == j ? 0 : 1) : (power == 1 ? d : d * d);
      observed += w * static_cast<A>(m[i * C + j]);
    }
  }
  return kappa_from(observed, mm.n, expected_disagreement(mm.t, mm.y, power));
}

// A record without the confusion matrix: class i's targets, predictions and right ones, as
// counts (A = U128) or weight sums (A = long double).
template <class A> struct RecordMarginals {
  std::vector<A> t, y;
  A n = 0, trace = 0;
  RecordMarginals(const std::vector<std::uint64_t>& w, const ops::ClassLayout& l) {
    const std::int64_t c = l.classes;
    const auto word = [&](std::int64_t k) {
      return l.weighted ? static_cast<A>(static_cast<long double>(
                              ops::weight_sum_value(&w[static_cast<std::size_t>(l.weight_of(k))])))
                        : static_cast<A>(w[static_cast<std::size_t>(k)]);
    };
    for (std::int64_t i = 0; i < c; ++i) {
      t.push_back(word(l.marginals + i));
      y.push_back(word(l.marginals + c + i));
      trace += word(l.marginals + 2 * c + i);
      n += t.back();
    }
  }
};

// A fixed-point sum of whole numbers (the class distances of an unweighted record) exactly.
U128 whole_sum(const std::uint64_t* words) {
  return ((static_cast<U128>(words[1]) << 64) | words[0]) >> 40;
}

template <class A> std::vector<I128> signed_of(const std::vector<A>& v) {
  return std::vector<I128>(v.begin(), v.end());
}

} // namespace

double kappa(const std::vector<std::uint64_t>& m, std::int64_t c, int power) {
  return matrix_kappa<U128>(m, c, power);
}

double mcc_of(const std::vector<std::uint64_t>& m, std::int64_t c) {
  const MatrixMarginals<I128, std::uint64_t> mm(m, c);
  return mcc_from(mm.t, mm.y, mm.trace);
}

double kappa_weighted(const std::vector<double>& m, std::int64_t c, int power) {
  return matrix_kappa<long double>(m, c, power);
}

double mcc_weighted(const std::vector<double>& m, std::int64_t c) {
  const MatrixMarginals<long double, double> mm(m, c);
  return mcc_from(mm.t, mm.y, mm.trace);
}

double marginal_mcc(const std::vector<std::uint64_t>& w, const ops::ClassLayout& l) {
  if (l.weighted) {
    const RecordMarginals<long double> m(w, l);
    return mcc_from(m.t, m.y, m.trace);
  }
  const RecordMarginals<U128> m(w, l);
  return mcc_from(signed_of(m.t), signed_of(m.y), static_cast<I128>(m.trace));
}

double marginal_kappa(const std::vector<std::uint64_t>& w, const ops::ClassLayout& l, int power) {
  if (l.weighted) {
    // The class distances' weighted sums can exceed their fixed point's range (weight x (t - p)^2
    // up to 2^68): the weighted linear and quadratic kappas need the confusion matrix, and are
    // NaN without it (documented; confusion_matrix='on' gives them).
    if (power != 0) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    const RecordMarginals<long double> m(w, l);
    return kappa_from(m.n - m.trace, m.n, expected_disagreement(m.t, m.y, 0));
  }
  // kappa() of the matrix from what the record holds: the observed disagreement n - trace,
  // sum |t - p| or sum (t - p)^2 (the record's class-distance sums), exact in 128-bit integers.
  const RecordMarginals<U128> m(w, l);
  const U128 observed =
      power == 0 ? m.n - m.trace
                 : whole_sum(&w[static_cast<std::size_t>(l.class_distance + (power == 1 ? 0 : 2))]);
  return kappa_from(observed, m.n, expected_disagreement(m.t, m.y, power));
}

namespace {

// The per-sample metrics (by_axis_metric) of samples of weight n (their count): `right` of them
// right, `topk` top-k hits, and the log-loss and Brier sums over `terms` scored terms. The
// headline and every index of a breakdown take them from here.
double sample_metric(ClassMetric m, double n, double right, double topk, double terms, double loss,
                     double brier) {
  switch (m) {
  case ClassMetric::accuracy:
    return right / n;
  case ClassMetric::top_k_accuracy:
    return topk / n;
  case ClassMetric::log_loss:
  case ClassMetric::nll: // the language-model name of the log loss: nats per counted token
    return loss / terms;
  case ClassMetric::perplexity:
    return std::exp(loss / terms);
  case ClassMetric::bits_per_token:
    return loss / terms / 0.69314718055994530942;
  case ClassMetric::brier:
    return brier / terms;
  default:
    return std::numeric_limits<double>::quiet_NaN();
  }
}

// Count word i of a record as the metrics read it: the count, or (weighted) its weight sum.
double count_value(const std::vector<std::uint64_t>& w, const ops::ClassLayout& l, std::int64_t i) {
  return l.weighted ? ops::weight_sum_value(&w[static_cast<std::size_t>(l.weight_of(i))])
                    : static_cast<double>(w[static_cast<std::size_t>(i)]);
}

// by_axis: per index of the breakdown axis, its samples and the per-sample metrics among the
// reported ones.
void add_breakdown(const detail::ClassBackend& b, const std::vector<std::uint64_t>& w,
                   ClassificationReport& r) {
  const ops::ClassLayout& l = b.layout;
  const std::int64_t positions = l.positions;
  const auto at = [&](std::int64_t i) { return count_value(w, l, i); };
  const auto sum = [&](std::int64_t pair) {
    return l.axis_sums >= 0 ? ops::fixed_value(&w[static_cast<std::size_t>(l.axis_sums + 2 * pair)])
                            : 0.0;
  };
  r.by_axis_index = axis_breakdown(b.spec, b.sample_shape).axis;
  for (std::int64_t p = 0; p < positions; ++p) {
    r.by_axis_count.push_back(w[static_cast<std::size_t>(l.axis_counts + p)]);
    if (l.weighted) {
      r.by_axis_weight.push_back(at(l.axis_counts + p));
    }
  }
  for (ClassMetric m : b.spec.metrics) {
    if (!by_axis_metric(m)) {
      continue;
    }
    std::vector<double> values(static_cast<std::size_t>(positions));
    for (std::int64_t p = 0; p < positions; ++p) {
      const double n = at(l.axis_counts + p);
      const double topk = l.top_k ? at(l.axis_counts + 2 * positions + p) : 0.0;
      values[static_cast<std::size_t>(p)] =
          n > 0 ? sample_metric(m, n, at(l.axis_counts + positions + p), topk, n, sum(p),
                                sum(positions + p))
                : std::numeric_limits<double>::quiet_NaN();
    }
    r.by_axis_names.emplace_back(class_metric_info(m).name);
    r.by_axis.push_back(std::move(values));
  }
}

} // namespace

ClassificationReport build_class_report(const detail::ClassBackend& b,
                                        const std::vector<std::uint64_t>& w, const Sparse& hist,
                                        const Keys& keys) {
  using L = ops::ClassLayout;
  const ops::ClassLayout& l = b.layout;
  const ClassificationSpec& spec = b.spec;
  ClassificationReport r;
  r.spec = spec;
  r.count = w[L::kSamples];
  r.skipped_invalid = w[L::kInvalid];
  r.ignored = w[L::kIgnored];
  r.classes = l.classes;
  r.scores = b.pred_scores;
  const auto at = [&](std::int64_t i) { return count_value(w, l, i); };
  r.weighted = l.weighted;
  r.weight_sum = at(L::kSamples);
  ClassificationReport::WeightSums& ws = r.weight_sums;
  const std::int64_t c = l.classes;
  const auto C = static_cast<std::size_t>(c);
  ClassCounts k;
  k.tp.assign(C, 0);
  k.fp.assign(C, 0);
  k.fn.assign(C, 0);
  k.tn.assign(C, 0);
  const double n = r.weight_sum;
  if (spec.task == ClassTask::multilabel) {
    for (std::size_t i = 0; i < C; ++i) {
      const auto ii = static_cast<std::int64_t>(i);
      r.tp.push_back(w[static_cast<std::size_t>(l.tp) + i]);
      r.fp.push_back(w[static_cast<std::size_t>(l.fp) + i]);
      r.fn.push_back(w[static_cast<std::size_t>(l.fn) + i]);
      r.tn.push_back(w[static_cast<std::size_t>(l.tn) + i]);
      k.tp[i] = at(l.tp + ii);
      k.fp[i] = at(l.fp + ii);
      k.fn[i] = at(l.fn + ii);
      k.tn[i] = at(l.tn + ii);
      r.support.push_back(r.tp[i] + r.fn[i]);
    }
    if (l.weighted) {
      ws.tp = k.tp;
      ws.fp = k.fp;
      ws.fn = k.fn;
      ws.tn = k.tn;
      for (std::size_t i = 0; i < C; ++i) {
        ws.support.push_back(k.tp[i] + k.fn[i]);
      }
    }
  } else if (l.marginals >= 0) {
    // No confusion matrix: per class the targets, the predictions and the right ones.
    for (std::size_t i = 0; i < C; ++i) {
      const auto ii = static_cast<std::int64_t>(i);
      const double t = at(l.marginals + ii), y = at(l.marginals + c + ii);
      const double right = at(l.marginals + 2 * c + ii);
      k.tp[i] = right;
      k.fn[i] = t - right;
      k.fp[i] = y - right;
      k.tn[i] = n - t - y + right;
      r.support.push_back(w[static_cast<std::size_t>(l.marginals + ii)]);
      if (l.weighted) {
        ws.support.push_back(t);
      }
    }
  } else {
    r.confusion_matrix.assign(w.begin() + l.confusion, w.begin() + l.confusion + c * c);
    std::vector<double> confusion(C * C);
    for (std::size_t i = 0; i < C * C; ++i) {
      confusion[i] = at(l.confusion + static_cast<std::int64_t>(i));
    }
    for (std::size_t i = 0; i < C; ++i) {
      std::uint64_t count_row = 0;
      double row = 0, col = 0;
      for (std::size_t j = 0; j < C; ++j) {
        count_row += r.confusion_matrix[i * C + j];
        row += confusion[i * C + j];
        col += confusion[j * C + i];
      }
      // Whole counts (unweighted) are exact in double: these are the integer identities.
      k.tp[i] = confusion[i * C + i];
      k.fn[i] = row - confusion[i * C + i];
      k.fp[i] = col - confusion[i * C + i];
      k.tn[i] = n - row - col + confusion[i * C + i];
      r.support.push_back(count_row);
      if (l.weighted) {
        ws.support.push_back(row);
      }
    }
    if (l.weighted) {
      ws.confusion_matrix = std::move(confusion);
    }
  }
  // The classes averaged over: the spec's labels; else multiclass, those that occur in the
  // targets or the predictions (scikit-learn's default labels); multilabel, every label; binary,
  // the positive class.
  std::vector<std::size_t> averaged;
  for (std::size_t i = 0; i < C; ++i) {
    const bool seen = k.tp[i] + k.fp[i] + k.fn[i] > 0;
    if (spec.task == ClassTask::multilabel || (spec.task == ClassTask::multiclass && seen)) {
      averaged.push_back(i);
    }
  }
  const bool given_labels = !spec.labels.empty();
  if (given_labels) {
    averaged.assign(spec.labels.begin(), spec.labels.end());
  }
  const double zd = spec.zero_division;
  const double beta2 = spec.beta * spec.beta;
  const bool undefined =
      r.count == 0 || (spec.nan_policy == NanPolicy::propagate && r.skipped_invalid > 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto put = [&](const std::string& name, double v) {
    r.names.push_back(name);
    r.values.push_back(undefined ? nan : v);
  };
  const Histograms hv{hist, l.weighted, b.params.hist.keyed() ? &keys : nullptr};
  // Each class's one-vs-rest rank metrics, computed once for AUROC and average precision both;
  // a binary task's bins kept for its curves.
  std::vector<RankMetrics> ranks;
  std::vector<BinCounts> binary_bins;
  const auto class_rank = [&](std::int64_t i) -> const RankMetrics& {
    if (ranks.empty()) {
      for (std::int64_t cls = 0; cls < b.params.hist.classes; ++cls) {
        std::vector<BinCounts> bins = class_bins(hv, b.params.hist, cls);
        ranks.push_back(rank_metrics(bins, b.params.hist.exact()));
        if (spec.task == ClassTask::binary) {
          binary_bins = std::move(bins);
        }
      }
    }
    return ranks[static_cast<std::size_t>(i)];
  };
  double counted = 0, right = 0; // multilabel: label decisions
  for (std::size_t i = 0; i < C; ++i) {
    counted += k.tp[i] + k.fp[i] + k.fn[i] + k.tn[i];
    right += k.tp[i] + k.tn[i];
  }
  for (ClassMetric metric : spec.metrics) {
    const ClassMetricInfo& info = class_metric_info(metric);
    const std::string name(info.name);
    if (info.averaged) {
      const PerClassFn f = per_class_fn(metric);
      std::vector<double> values(C);
      for (std::size_t i = 0; i < C; ++i) {
        values[i] = f(k.tp[i], k.fp[i], k.fn[i], k.tn[i], beta2, zd);
      }
      r.per_class_names.push_back(name);
      r.per_class.push_back(undefined ? std::vector<double>(C, nan) : values);
      if (spec.task == ClassTask::binary) {
        put(name, values[static_cast<std::size_t>(spec.pos_label)]);
        continue;
      }
      // NaN values (zero_division=nan) are left out of the macro and weighted averages, as
      // scikit-learn's _nanaverage.
      double tp = 0, fp = 0, fn = 0, tn = 0, macro = 0, weighted = 0, weight = 0, defined = 0,
             support = 0;
      for (std::size_t i : averaged) {
        tp += k.tp[i];
        fp += k.fp[i];
        fn += k.fn[i];
        tn += k.tn[i];
        support += k.tp[i] + k.fn[i];
        if (!std::isnan(values[i])) {
          macro += values[i];
          defined += 1;
          weighted += values[i] * (k.tp[i] + k.fn[i]);
          weight += k.tp[i] + k.fn[i];
        }
      }
      if (spec.task == ClassTask::multiclass && !given_labels) { // micro over every class
        tp = fp = fn = tn = 0;
        for (std::size_t i = 0; i < C; ++i) {
          tp += k.tp[i];
          fp += k.fp[i];
          fn += k.fn[i];
          tn += k.tn[i];
        }
      }
      put(name + "_micro", f(tp, fp, fn, tn, beta2, zd));
      put(name + "_macro", averaged.empty() ? zd : (defined > 0 ? macro / defined : nan));
      put(name + "_weighted", support == 0 ? zd : (weight > 0 ? weighted / weight : nan));
      continue;
    }
    if (metric == ClassMetric::auroc_ovo) {
      // Hand and Till's M, scikit-learn's multi_class="ovo": over each pair of classes present
      // in the targets, the mean of A(a | b) and A(b | a), each the AUROC of one class's score
      // between the samples of the two; the mean over pairs, and _weighted by the pairs'
      // prevalence (their samples' share).
      const ops::HistLayout& hl = b.params.hist;
      std::vector<std::int64_t> present;
      std::vector<double> positives(C, 0);
      for (std::int64_t i = 0; i < c; ++i) {
        for (const BinCounts& bin : class_bins(hv, hl, i)) {
          positives[static_cast<std::size_t>(i)] += bin.pos;
        }
        if (positives[static_cast<std::size_t>(i)] > 0) {
          present.push_back(i);
        }
      }
      double sum = 0, sum_b = 0, pairs = 0, wsum = 0, wsum_b = 0, weight = 0;
      for (std::size_t x = 0; x < present.size(); ++x) {
        for (std::size_t y = x + 1; y < present.size(); ++y) {
          const std::int64_t a = present[x], bb = present[y];
          const RankMetrics ab = rank_metrics(pair_bins(hv, hl, a, bb), hl.exact());
          const RankMetrics ba = rank_metrics(pair_bins(hv, hl, bb, a), hl.exact());
          const double v = 0.5 * (ab.auroc + ba.auroc);
          const double bound = 0.5 * (ab.auroc_bound + ba.auroc_bound);
          const double prevalence =
              positives[static_cast<std::size_t>(a)] + positives[static_cast<std::size_t>(bb)];
          sum += v;
          sum_b += bound;
          pairs += 1;
          wsum += prevalence * v;
          wsum_b += prevalence * bound;
          weight += prevalence;
        }
      }
      put(name, pairs > 0 ? sum / pairs : nan);
      put(name + "_bound", pairs > 0 ? sum_b / pairs : nan);
      put(name + "_weighted", weight > 0 ? wsum / weight : nan);
      put(name + "_weighted_bound", weight > 0 ? wsum_b / weight : nan);
      continue;
    }
    if (metric == ClassMetric::auroc || metric == ClassMetric::average_precision) {
      const bool roc = metric == ClassMetric::auroc;
      std::vector<double> values(C, nan), bounds(C, nan);
      double sum = 0, sum_b = 0, count = 0, wsum = 0, wsum_b = 0, weight = 0;
      for (std::size_t i = 0; i < static_cast<std::size_t>(b.params.hist.classes); ++i) {
        const RankMetrics& m = class_rank(static_cast<std::int64_t>(i));
        values[i] = roc ? m.auroc : m.ap;
        bounds[i] = roc ? m.auroc_bound : m.ap_bound;
        if (!std::isnan(values[i])) { // classes where the metric is defined
          sum += values[i];
          sum_b += bounds[i];
          count += 1;
          wsum += values[i] * m.positives;
          wsum_b += bounds[i] * m.positives;
          weight += m.positives;
        }
      }
      if (spec.task == ClassTask::binary) {
        if (spec.pos_label == 0) { // class 0 positive, ranked by the negated score
          const RankMetrics m =
              rank_metrics(flipped_bins(class_bins(hv, b.params.hist, 0)), b.params.hist.exact());
          values[0] = roc ? m.auroc : m.ap;
          bounds[0] = roc ? m.auroc_bound : m.ap_bound;
        }
        put(name, values[0]);
        put(name + "_bound", bounds[0]);
        continue;
      }
      r.per_class_names.push_back(name);
      r.per_class.push_back(undefined ? std::vector<double>(C, nan) : values);
      r.per_class_names.push_back(name + "_bound");
      r.per_class.push_back(undefined ? std::vector<double>(C, nan) : bounds);
      put(name + "_macro", count > 0 ? sum / count : nan);
      put(name + "_macro_bound", count > 0 ? sum_b / count : nan);
      put(name + "_weighted", weight > 0 ? wsum / weight : nan);
      put(name + "_weighted_bound", weight > 0 ? wsum_b / weight : nan);
      // micro: every class's one-vs-rest decisions pooled in one histogram (scikit-learn's
      // average="micro": y_true and y_score flattened).
      const RankMetrics micro = rank_metrics(pooled_bins(hv, b.params.hist), b.params.hist.exact());
      put(name + "_micro", roc ? micro.auroc : micro.ap);
      put(name + "_micro_bound", roc ? micro.auroc_bound : micro.ap_bound);
      continue;
    }
    if (l.per_sample && metric >= ClassMetric::precision_samples) {
      // scikit-learn's average="samples": the mean over samples (weighted) of each sample's
      // score; a zero denominator gives zero_division (NaN: the sample is left out).
      const int k = static_cast<int>(metric) - static_cast<int>(ClassMetric::precision_samples);
      const int undefined_word = k < 2 ? k : 2;
      const double sum = ops::fixed_value(&w[static_cast<std::size_t>(l.sample_sums + 2 * k)]);
      const double none = at(l.sample_undefined + undefined_word), rows = at(l.subset_rows);
      put(name, std::isnan(zd) ? ratio(sum, rows - none, nan) : ratio(sum + zd * none, rows, nan));
      continue;
    }
    switch (metric) {
    case ClassMetric::accuracy:
      if (spec.task == ClassTask::multilabel) {
        double sum = 0, labels = 0;
        for (std::size_t i = 0; i < C; ++i) {
          const double total = k.tp[i] + k.fp[i] + k.fn[i] + k.tn[i];
          if (total > 0) {
            sum += (k.tp[i] + k.tn[i]) / total;
            labels += 1;
          }
        }
        put(name, labels > 0 ? sum / labels : nan);
      } else {
        double trace = 0;
        for (std::size_t i = 0; i < C; ++i) {
          trace += k.tp[i];
        }
        put(name, trace / n);
      }
      break;
    case ClassMetric::subset_accuracy:
      put(name, ratio(at(l.subset_right), at(l.subset_rows)));
      break;
    case ClassMetric::balanced_accuracy:
    case ClassMetric::balanced_accuracy_adjusted: {
      double sum = 0, present = 0;
      for (std::size_t i = 0; i < C; ++i) {
        if (k.tp[i] + k.fn[i] > 0) {
          sum += k.tp[i] / (k.tp[i] + k.fn[i]);
          present += 1;
        }
      }
      double score = sum / present;
      if (metric == ClassMetric::balanced_accuracy_adjusted) {
        // scikit-learn's adjusted=True: chance (1 / classes present) scores 0, perfect 1.
        const double chance = 1.0 / present;
        score = (score - chance) / (1.0 - chance);
      }
      put(name, score);
      break;
    }
    case ClassMetric::mcc:
      put(name, l.marginals >= 0 ? marginal_mcc(w, l)
                : l.weighted     ? mcc_weighted(ws.confusion_matrix, c)
                                 : mcc_of(r.confusion_matrix, c));
      break;
    case ClassMetric::cohen_kappa:
    case ClassMetric::cohen_kappa_linear:
    case ClassMetric::cohen_kappa_quadratic: {
      const int power = metric == ClassMetric::cohen_kappa          ? 0
                        : metric == ClassMetric::cohen_kappa_linear ? 1
                                                                    : 2;
      put(name, l.marginals >= 0 ? marginal_kappa(w, l, power)
                : l.weighted     ? kappa_weighted(ws.confusion_matrix, c, power)
                                 : kappa(r.confusion_matrix, c, power));
      break;
    }
    case ClassMetric::hamming_loss:
      put(name, ratio(counted - right, counted));
      break;
    case ClassMetric::top_k_accuracy:
    case ClassMetric::nll: // over counted tokens (ignore_index drops padding)
    case ClassMetric::perplexity:
    case ClassMetric::bits_per_token:
    case ClassMetric::log_loss:
    case ClassMetric::brier:
      put(name, sample_metric(metric, n, 0, l.top_k ? at(l.topk_hits) : 0, at(L::kTerms),
                              ops::fixed_value(&w[static_cast<std::size_t>(l.log_loss)]),
                              ops::fixed_value(&w[static_cast<std::size_t>(l.brier)])));
      break;
    case ClassMetric::ece:
    case ClassMetric::mce: {
      double ece = 0, mce = 0;
      for (int bin = 0; bin < l.bins; ++bin) {
        const double cnt = at(l.calib_count + bin);
        if (cnt == 0) {
          continue;
        }
        const double conf = ops::fixed_value(&w[static_cast<std::size_t>(l.calib_conf + 2 * bin)]);
        const double gap = std::fabs(at(l.calib_correct + bin) / cnt - conf / cnt);
        ece += gap * cnt / at(L::kTerms);
        mce = std::max(mce, gap);
      }
      put(name, metric == ClassMetric::ece ? ece : mce);
      break;
    }
    default:
      break;
    }
  }
  if (b.params.hist.on) {
    const ops::HistLayout& hl = b.params.hist;
    r.histogram_key = std::string(dtype_name(dtype_of(hl.format)));
    r.histogram_bits = hl.bits;
    r.histogram_exact = hl.exact();
    if (spec.task == ClassTask::binary && !undefined && spec.pos_label == 1) {
      // pos_label=0: no curves (their thresholds are scores of class 1)
      if (ranks.empty()) {
        binary_bins = class_bins(hv, hl, 0);
      }
      curves(binary_bins, hl, r);
    }
  }
  if (l.positions > 0) {
    add_breakdown(b, w, r);
  }
  if (l.bins > 0) {
    for (int bin = 0; bin < l.bins; ++bin) {
      const double cnt = at(l.calib_count + bin);
      const double conf = ops::fixed_value(&w[static_cast<std::size_t>(l.calib_conf + 2 * bin)]);
      r.calibration_count.push_back(w[static_cast<std::size_t>(l.calib_count + bin)]);
      if (l.weighted) {
        ws.calibration_count.push_back(cnt);
      }
      r.calibration_confidence.push_back(cnt > 0 ? conf / cnt : nan);
      r.calibration_accuracy.push_back(cnt > 0 ? at(l.calib_correct + bin) / cnt : nan);
    }
  }
  return r;
}

} // namespace classification

} // namespace gpueval
