// The classification report: accessors and its JSON (schema gpueval.report/1).
#include "gpueval/classification.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "classification/internal.hpp"
#include "core/json_text.hpp"
#include "gpueval/error.hpp"
#include "gpueval/version.hpp"

namespace gpueval {

using namespace classification; // the family's internal functions (internal.hpp)

namespace {

// "a, b, c": the names a lookup error lists.
std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

} // namespace

bool ClassificationReport::has(std::string_view name) const {
  return std::find(names.begin(), names.end(), name) != names.end();
}

double ClassificationReport::value(std::string_view name) const {
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    throw InvalidArgument("metric '" + std::string(name) +
                          "' is not in this report; it has: " + listed(names));
  }
  return values[static_cast<std::size_t>(it - names.begin())];
}

const std::vector<double>& ClassificationReport::per_class_values(std::string_view name) const {
  const auto it = std::find(per_class_names.begin(), per_class_names.end(), name);
  GPUEVAL_EXPECTS(it != per_class_names.end(),
                  "'" + std::string(name) + "' has no per-class values in this report");
  return per_class[static_cast<std::size_t>(it - per_class_names.begin())];
}

const std::vector<double>& ClassificationReport::by_axis_values(std::string_view name) const {
  GPUEVAL_EXPECTS(by_axis_index >= 0, "this report has no breakdown axis (by_axis)");
  const auto it = std::find(by_axis_names.begin(), by_axis_names.end(), name);
  if (it == by_axis_names.end()) {
    throw InvalidArgument("'" + std::string(name) +
                          "' has no by_axis values; this report has: " + listed(by_axis_names));
  }
  return by_axis[static_cast<std::size_t>(it - by_axis_names.begin())];
}

std::string ClassificationReport::to_json() const {
  using detail::append_array;
  using detail::append_number;
  using detail::append_string;
  std::string out = "{\"schema\": \"gpueval.report/1\", \"version\": ";
  append_string(out, kVersion);
  out += ", \"task\": ";
  append_string(out, class_task_name(spec.task));
  out += ", \"device\": ";
  append_string(out, device);
  out += ", \"spec\": {\"metrics\": [";
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    out += i ? ", " : "";
    append_string(out, class_metric_info(spec.metrics[i]).name);
  }
  out += "], \"num_classes\": " + std::to_string(classes);
  out += ", \"predictions\": ";
  append_string(out, !scores ? "labels"
                             : (spec.scores == ScoreKind::logits ? "logits" : "probabilities"));
  out += ", \"threshold\": ";
  append_number(out, spec.threshold);
  out += ", \"class_axis\": " + std::to_string(spec.class_axis);
  out += ", \"top_k\": " + std::to_string(spec.top_k);
  out += ", \"ignore_index\": ";
  out += spec.ignore_index ? std::to_string(*spec.ignore_index) : "null";
  out += ", \"bins\": " + std::to_string(spec.bins);
  out += ", \"beta\": ";
  append_number(out, spec.beta);
  out += ", \"zero_division\": ";
  out += std::isnan(spec.zero_division) ? "\"nan\"" : (spec.zero_division == 1.0 ? "1" : "0");
  out += ", \"pos_label\": " + std::to_string(spec.pos_label);
  out += ", \"class_names\": ";
  if (spec.class_names.empty()) {
    out += "null";
  } else {
    append_array(out, spec.class_names);
  }
  out += ", \"labels\": ";
  if (spec.labels.empty()) {
    out += "null";
  } else {
    append_array(out, spec.labels);
  }
  out += ", \"nan_policy\": ";
  append_string(out, nan_policy_name(spec.nan_policy));
  out += ", \"invalid\": ";
  append_string(out, invalid_policy_name(spec.invalid));
  out += ", \"by_axis\": ";
  out += by_axis_index >= 0 ? std::to_string(by_axis_index) : "null";
  out += "}, \"count\": " + std::to_string(count);
  if (weighted) { // unweighted reports read as before
    out += ", \"weight_sum\": ";
    append_number(out, weight_sum);
  }
  out += ", \"skipped_invalid\": " + std::to_string(skipped_invalid);
  out += ", \"ignored\": " + std::to_string(ignored);
  out += ", \"classes\": " + std::to_string(classes);
  out += ", \"metrics\": {";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i ? ", " : "";
    append_string(out, names[i]);
    out += ": ";
    append_number(out, values[i]);
  }
  // Weighted reports: weight sums in place of the counts (the metrics' inputs).
  const auto counts = [&](const std::vector<std::uint64_t>& n, const std::vector<double>& sums) {
    if (weighted) {
      append_array(out, sums);
    } else {
      append_array(out, n);
    }
  };
  out += "}, \"per_class\": {\"support\": ";
  counts(support, weight_sums.support);
  detail::append_named_arrays(out, per_class_names, per_class);
  if (!tp.empty()) {
    out += ", \"tp\": ";
    counts(tp, weight_sums.tp);
    out += ", \"fp\": ";
    counts(fp, weight_sums.fp);
    out += ", \"fn\": ";
    counts(fn, weight_sums.fn);
    out += ", \"tn\": ";
    counts(tn, weight_sums.tn);
  }
  out += "}, \"confusion_matrix\": ";
  if (confusion_matrix.empty()) {
    out += "null";
  } else {
    out += '[';
    for (std::int64_t i = 0; i < classes; ++i) {
      out += i ? ", " : "";
      if (weighted) {
        append_array(out,
                     std::vector<double>(weight_sums.confusion_matrix.begin() + i * classes,
                                         weight_sums.confusion_matrix.begin() + (i + 1) * classes));
      } else {
        append_array(out, std::vector<std::uint64_t>(confusion_matrix.begin() + i * classes,
                                                     confusion_matrix.begin() + (i + 1) * classes));
      }
    }
    out += ']';
  }
  out += ", \"calibration\": ";
  if (calibration_count.empty()) {
    out += "null";
  } else {
    out += "{\"bins\": " + std::to_string(calibration_count.size()) + ", \"count\": ";
    counts(calibration_count, weight_sums.calibration_count);
    out += ", \"confidence\": ";
    append_array(out, calibration_confidence);
    out += ", \"accuracy\": ";
    append_array(out, calibration_accuracy);
    out += '}';
  }
  out += ", \"histogram\": ";
  if (histogram_key.empty()) {
    out += "null";
  } else {
    out += "{\"key\": ";
    append_string(out, histogram_key);
    out += ", \"bits\": " + std::to_string(histogram_bits) + ", \"exact\": ";
    out += histogram_exact ? "true" : "false";
    out += '}';
  }
  const auto curve = [&](const char* name, const char* x, const std::vector<double>& xs,
                         const char* y, const std::vector<double>& ys,
                         const std::vector<double>& thresholds) {
    out += std::string(", \"") + name + "\": ";
    if (xs.empty()) {
      out += "null";
      return;
    }
    out += std::string("{\"") + x + "\": ";
    append_array(out, xs);
    out += std::string(", \"") + y + "\": ";
    append_array(out, ys);
    out += ", \"threshold\": ";
    append_array(out, thresholds);
    out += '}';
  };
  curve("roc", "fpr", roc_fpr, "tpr", roc_tpr, roc_threshold);
  curve("pr", "recall", pr_recall, "precision", pr_precision, pr_threshold);
  out += ", \"by_axis\": ";
  if (by_axis_index < 0) {
    out += "null";
  } else {
    out += "{\"axis\": " + std::to_string(by_axis_index) + ", \"count\": ";
    counts(by_axis_count, by_axis_weight);
    detail::append_named_arrays(out, by_axis_names, by_axis);
    out += '}';
  }
  out += ", \"elapsed_s\": ";
  append_number(out, elapsed_s);
  out += ", \"bytes_read\": " + std::to_string(bytes_read) + "}";
  return out;
}

} // namespace gpueval
