// A reference for the classification metrics, written from their definitions (scikit-learn's
// for the label metrics, zero division giving 0) and computed sample by sample in long double:
// no code shared with the engine, so a slip in the engine's formulas (an average over the wrong
// classes, a marginal summed over one class too few) shows as a difference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gpueval::test {

struct ClassSample {
  std::int64_t target = 0;
  std::vector<double> scores; // probabilities (multiclass: C of them; binary: one); empty: none
  std::int64_t pred = -1;     // a label prediction; -1: from the scores
};

// Report name -> value.
using ClassValues = std::map<std::string, double>;

inline long double safe_ratio(long double num, long double den) {
  return den > 0 ? num / den : 0.0L;
}

// Per-class scores from the counts, as scikit-learn defines them.
inline long double per_class(const std::string& metric, long double tp, long double fp,
                             long double fn, long double tn, long double beta) {
  const long double b2 = beta * beta;
  if (metric == "precision") {
    return safe_ratio(tp, tp + fp);
  }
  if (metric == "recall") {
    return safe_ratio(tp, tp + fn);
  }
  if (metric == "f1") {
    return safe_ratio(2 * tp, 2 * tp + fp + fn);
  }
  if (metric == "fbeta") {
    return safe_ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp);
  }
  if (metric == "specificity") {
    return safe_ratio(tn, tn + fp);
  }
  return safe_ratio(tp, tp + fp + fn); // jaccard
}

inline const char* const kAveragedMetrics[] = {"precision", "recall",      "f1",
                                               "fbeta",     "specificity", "jaccard"};

// The predicted class of a sample: its label, or the first of its highest scores (numpy.argmax);
// binary scores: above `threshold`.
inline std::int64_t predicted(const ClassSample& s, bool binary, double threshold) {
  if (s.pred >= 0) {
    return s.pred;
  }
  if (binary) {
    return s.scores[0] > threshold ? 1 : 0;
  }
  std::size_t best = 0;
  for (std::size_t c = 1; c < s.scores.size(); ++c) {
    if (s.scores[c] > s.scores[best]) {
      best = c;
    }
  }
  return static_cast<std::int64_t>(best);
}

// Binary (C = 2) and multiclass samples: every label metric, and with scores top-k accuracy, log
// loss, Brier, ECE and MCE (15 bins). Macro averages run over the classes that occur in the
// targets or the predictions, as scikit-learn's (labels=None); micro over every class; weighted
// by support. Weighted kappas use the class indices 0..C-1 as the scale (scikit-learn's
// cohen_kappa_score with labels=range(C)).
inline ClassValues class_reference(const std::vector<ClassSample>& samples, std::int64_t classes,
                                   bool binary, int top_k = 0, double beta = 1.0,
                                   double threshold = 0.5, double clip_eps = 1.1920928955078125e-7,
                                   int bins = 15) {
  const auto C = static_cast<std::size_t>(classes);
  std::vector<long double> cm(C * C, 0);
  long double n = 0, topk = 0, log_loss = 0, brier = 0;
  std::vector<long double> bin_n(static_cast<std::size_t>(bins), 0),
      bin_conf(static_cast<std::size_t>(bins), 0), bin_right(static_cast<std::size_t>(bins), 0);
  const bool scored = !samples.empty() && !samples[0].scores.empty() && samples[0].pred < 0;
  for (const ClassSample& s : samples) {
    const std::int64_t p = predicted(s, binary, threshold);
    cm[static_cast<std::size_t>(s.target) * C + static_cast<std::size_t>(p)] += 1;
    n += 1;
    if (!scored) {
      continue;
    }
    long double conf;
    bool right;
    if (binary) {
      const long double q = s.scores[0];
      const long double clipped =
          std::min<long double>(std::max<long double>(q, clip_eps), 1.0L - clip_eps);
      log_loss -= std::log(s.target == 1 ? clipped : 1.0L - clipped);
      brier += (q - s.target) * (q - s.target);
      conf = q; // the positive class's probability, as TorchMetrics' binary calibration
      right = s.target == 1;
    } else {
      const long double st = s.scores[static_cast<std::size_t>(s.target)];
      int higher = 0;
      long double top = s.scores[0];
      for (std::size_t c = 0; c < C; ++c) {
        higher += s.scores[c] > st ? 1 : 0;
        top = std::max<long double>(top, s.scores[c]);
        const long double d = s.scores[c] - (static_cast<std::int64_t>(c) == s.target ? 1 : 0);
        brier += d * d;
      }
      topk += higher < top_k ? 1 : 0;
      log_loss -=
          std::log(std::min<long double>(std::max<long double>(st, clip_eps), 1.0L - clip_eps));
      conf = top;
      right = p == s.target;
    }
    auto b = static_cast<std::int64_t>(static_cast<double>(conf) * bins);
    b = std::min<std::int64_t>(std::max<std::int64_t>(b, 0), bins - 1);
    bin_n[static_cast<std::size_t>(b)] += 1;
    bin_conf[static_cast<std::size_t>(b)] += conf;
    bin_right[static_cast<std::size_t>(b)] += right ? 1 : 0;
  }
  std::vector<long double> tp(C), fp(C), fn(C), tn(C), support(C);
  long double trace = 0;
  for (std::size_t i = 0; i < C; ++i) {
    long double row = 0, col = 0;
    for (std::size_t j = 0; j < C; ++j) {
      row += cm[i * C + j];
      col += cm[j * C + i];
    }
    tp[i] = cm[i * C + i];
    fn[i] = row - tp[i];
    fp[i] = col - tp[i];
    tn[i] = n - row - col + tp[i];
    support[i] = row;
    trace += tp[i];
  }
  ClassValues out;
  out["accuracy"] = static_cast<double>(trace / n);
  long double recall_sum = 0, present = 0;
  for (std::size_t i = 0; i < C; ++i) {
    if (support[i] > 0) {
      recall_sum += tp[i] / support[i];
      present += 1;
    }
  }
  out["balanced_accuracy"] = static_cast<double>(recall_sum / present);
  // adjusted: chance (1 / classes present) scores 0, as scikit-learn's adjusted=True
  out["balanced_accuracy_adjusted"] =
      static_cast<double>((recall_sum / present - 1 / present) / (1 - 1 / present));
  for (const char* metric : kAveragedMetrics) {
    const std::string m = metric;
    if (binary) {
      out[m] = static_cast<double>(per_class(m, tp[1], fp[1], fn[1], tn[1], beta));
      continue;
    }
    long double macro = 0, labels = 0, weighted = 0, weight = 0;
    long double stp = 0, sfp = 0, sfn = 0, stn = 0;
    for (std::size_t i = 0; i < C; ++i) {
      const long double v = per_class(m, tp[i], fp[i], fn[i], tn[i], beta);
      stp += tp[i];
      sfp += fp[i];
      sfn += fn[i];
      stn += tn[i];
      if (tp[i] + fp[i] + fn[i] > 0) { // in the targets or the predictions
        macro += v;
        labels += 1;
      }
      weighted += v * support[i];
      weight += support[i];
    }
    out[m + "_micro"] = static_cast<double>(per_class(m, stp, sfp, sfn, stn, beta));
    out[m + "_macro"] = static_cast<double>(labels > 0 ? macro / labels : 0);
    out[m + "_weighted"] = static_cast<double>(safe_ratio(weighted, weight));
  }
  // Matthews: covariances from the marginals (scikit-learn's multiclass formula).
  long double tk_pk = 0, pk2 = 0, tk2 = 0;
  for (std::size_t k = 0; k < C; ++k) {
    const long double pk = tp[k] + fp[k];
    tk_pk += support[k] * pk;
    pk2 += pk * pk;
    tk2 += support[k] * support[k];
  }
  const long double cov_tp = trace * n - tk_pk, cov_pp = n * n - pk2, cov_tt = n * n - tk2;
  out["mcc"] =
      cov_pp == 0 || cov_tt == 0 ? 0.0 : static_cast<double>(cov_tp / std::sqrt(cov_tt * cov_pp));
  for (int power = 0; power < 3; ++power) {
    long double observed = 0, expected = 0;
    for (std::size_t i = 0; i < C; ++i) {
      for (std::size_t j = 0; j < C; ++j) {
        const long double d = i > j ? i - j : j - i;
        const long double w = power == 0 ? (i == j ? 0 : 1) : (power == 1 ? d : d * d);
        observed += w * cm[i * C + j] / n;
        expected += w * support[i] * (tp[j] + fp[j]) / (n * n);
      }
    }
    const char* name =
        power == 0 ? "cohen_kappa" : (power == 1 ? "cohen_kappa_linear" : "cohen_kappa_quadratic");
    out[name] = static_cast<double>(1 - observed / expected);
  }
  if (scored) {
    if (!binary && top_k > 0) {
      out["top_k_accuracy"] = static_cast<double>(topk / n);
    }
    out["log_loss"] = static_cast<double>(log_loss / n);
    out["nll"] = out["log_loss"];
    out["perplexity"] = static_cast<double>(std::exp(log_loss / n));
    out["bits_per_token"] = static_cast<double>(log_loss / n / std::log(2.0L));
    out["brier"] = static_cast<double>(brier / n);
    long double ece = 0, mce = 0;
    for (std::size_t b = 0; b < bin_n.size(); ++b) {
      if (bin_n[b] > 0) {
        const long double gap = std::fabs(bin_right[b] / bin_n[b] - bin_conf[b] / bin_n[b]);
        ece += gap * bin_n[b] / n;
        mce = std::max(mce, gap);
      }
    }
    out["ece"] = static_cast<double>(ece);
    out["mce"] = static_cast<double>(mce);
  }
  return out;
}

// One multilabel sample: per label its target (0/1), its probability, and whether it is counted
// (the mask).
struct LabelSample {
  std::vector<int> target;
  std::vector<double> score;
  std::vector<bool> counted;
};

// Multilabel: accuracy (the mean over labels of per-label accuracy), subset accuracy, Hamming
// loss, every averaged metric (macro over every label), log loss and Brier over counted labels.
inline ClassValues label_reference(const std::vector<LabelSample>& samples, std::int64_t labels,
                                   double beta = 1.0, double threshold = 0.5,
                                   double clip_eps = 1.1920928955078125e-7) {
  const auto L = static_cast<std::size_t>(labels);
  std::vector<long double> tp(L, 0), fp(L, 0), fn(L, 0), tn(L, 0);
  long double rows = 0, rows_right = 0, terms = 0, log_loss = 0, brier = 0;
  // average="samples": each sample's own scores (0 on a zero denominator: zero_division 0).
  long double sample_sum[5] = {0, 0, 0, 0, 0};
  for (const LabelSample& s : samples) {
    bool any = false, all_right = true;
    long double stp = 0, sfp = 0, sfn = 0;
    for (std::size_t k = 0; k < L; ++k) {
      if (!s.counted[k]) {
        continue;
      }
      any = true;
      const int y = s.target[k];
      const int yhat = s.score[k] > threshold ? 1 : 0;
      (y ? (yhat ? tp : fn) : (yhat ? fp : tn))[k] += 1;
      stp += y && yhat;
      sfp += !y && yhat;
      sfn += y && !yhat;
      all_right = all_right && y == yhat;
      const long double q = s.score[k];
      const long double c =
          std::min<long double>(std::max<long double>(q, clip_eps), 1.0L - clip_eps);
      log_loss -= std::log(y ? c : 1.0L - c);
      brier += (q - y) * (q - y);
      terms += 1;
    }
    if (any) {
      rows += 1;
      rows_right += all_right ? 1 : 0;
      const long double b2 = static_cast<long double>(beta) * beta;
      sample_sum[0] += safe_ratio(stp, stp + sfp);
      sample_sum[1] += safe_ratio(stp, stp + sfn);
      sample_sum[2] += safe_ratio(2 * stp, 2 * stp + sfp + sfn);
      sample_sum[3] += safe_ratio((1 + b2) * stp, (1 + b2) * stp + b2 * sfn + sfp);
      sample_sum[4] += safe_ratio(stp, stp + sfp + sfn);
    }
  }
  ClassValues out;
  long double acc = 0, counted_labels = 0, wrong = 0, decisions = 0;
  for (std::size_t k = 0; k < L; ++k) {
    const long double total = tp[k] + fp[k] + fn[k] + tn[k];
    if (total > 0) {
      acc += (tp[k] + tn[k]) / total;
      counted_labels += 1;
    }
    wrong += fp[k] + fn[k];
    decisions += total;
  }
  out["accuracy"] = static_cast<double>(acc / counted_labels);
  out["subset_accuracy"] = static_cast<double>(safe_ratio(rows_right, rows));
  out["hamming_loss"] = static_cast<double>(safe_ratio(wrong, decisions));
  const char* sample_names[5] = {"precision_samples", "recall_samples", "f1_samples",
                                 "fbeta_samples", "jaccard_samples"};
  for (int k = 0; k < 5; ++k) {
    out[sample_names[k]] = static_cast<double>(safe_ratio(sample_sum[k], rows));
  }
  for (const char* metric : kAveragedMetrics) {
    const std::string m = metric;
    long double macro = 0, weighted = 0, weight = 0, stp = 0, sfp = 0, sfn = 0, stn = 0;
    for (std::size_t k = 0; k < L; ++k) {
      const long double v = per_class(m, tp[k], fp[k], fn[k], tn[k], beta);
      macro += v;
      weighted += v * (tp[k] + fn[k]);
      weight += tp[k] + fn[k];
      stp += tp[k];
      sfp += fp[k];
      sfn += fn[k];
      stn += tn[k];
    }
    out[m + "_micro"] = static_cast<double>(per_class(m, stp, sfp, sfn, stn, beta));
    out[m + "_macro"] = static_cast<double>(macro / static_cast<long double>(L));
    out[m + "_weighted"] = static_cast<double>(safe_ratio(weighted, weight));
  }
  out["log_loss"] = static_cast<double>(log_loss / terms);
  out["brier"] = static_cast<double>(brier / terms);
  return out;
}

} // namespace gpueval::test
