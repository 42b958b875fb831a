// Report accessors and its JSON form (schema gpueval.report/1, task "geometry").
#include <optional>
#include <string>

#include "core/json_text.hpp"
#include "gpueval/error.hpp"
#include "gpueval/geometry.hpp"
#include "gpueval/version.hpp"

namespace gpueval {

using detail::append_array;
using detail::append_named_arrays;
using detail::append_number;
using detail::append_string;

std::size_t GeometryReport::index_of(std::string_view metric) const {
  const std::string_view name = metric == "epe" || metric == "ade" ? "mpjpe" : metric;
  std::string requested;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      return i;
    }
    requested += (requested.empty() ? "" : ", ") + names[i];
  }
  if (name.substr(0, 4) != "pck@") {
    (void)parse_geo_metric(name); // an unknown name gets the list of valid names
  }
  throw InvalidArgument("metric '" + std::string(metric) +
                        "' was not requested; this report has: " + requested);
}

bool GeometryReport::has(std::string_view metric) const {
  const std::string_view name = metric == "epe" || metric == "ade" ? "mpjpe" : metric;
  for (const std::string& n : names) {
    if (n == name) {
      return true;
    }
  }
  return false;
}

double GeometryReport::value(std::string_view metric) const {
  return values[index_of(metric)];
}

const std::vector<double>& GeometryReport::per_key_values(std::string_view metric) const {
  return per_key[index_of(metric)];
}

const std::vector<double>& GeometryReport::by_axis_values(std::string_view metric) const {
  GPUEVAL_EXPECTS(by_axis_index >= 0, "this report has no breakdown axis (by_axis)");
  return by_axis[index_of(metric)];
}

std::string GeometryReport::to_json() const {
  std::string out;
  out += "{\"schema\": \"gpueval.report/1\", \"version\": ";
  append_string(out, kVersion);
  out += ", \"task\": \"geometry\", \"device\": ";
  append_string(out, device);
  out += ", \"spec\": {\"metrics\": ";
  append_array(out, names);
  out += ", \"vector_axis\": " + std::to_string(spec.vector_axis.value_or(-1));
  const auto axis = [&](const char* name, const std::optional<int>& a) {
    out += std::string(", \"") + name + "\": ";
    out += a ? std::to_string(*a) : "null";
  };
  axis("key_axis", spec.key_axis);
  axis("time_axis", spec.time_axis);
  axis("mode_axis", spec.mode_axis);
  axis("by_axis", spec.by_axis);
  out += ", \"miss_threshold\": ";
  append_number(out, spec.miss_threshold);
  out += ", \"quantile_alpha\": ";
  append_number(out, spec.quantile_alpha);
  out += ", \"pck_thresholds\": ";
  append_array(out, spec.pck_thresholds);
  out += ", \"auc_max\": ";
  append_number(out, spec.auc_max);
  out += ", \"auc_steps\": " + std::to_string(spec.auc_steps);
  out += ", \"outlier_abs\": ";
  append_number(out, spec.outlier_abs);
  out += ", \"outlier_rel\": ";
  append_number(out, spec.outlier_rel);
  out += std::string(", \"pck_normalized\": ") +
         (spec.pck_normalized.value_or(false) ? "true" : "false");
  out += ", \"nan_policy\": ";
  append_string(out, nan_policy_name(spec.nan_policy));
  out += "}, \"count\": " + std::to_string(count);
  if (weight_sum != static_cast<double>(count)) {
    out += ", \"weight_sum\": ";
    append_number(out, weight_sum);
  }
  out += ", \"skipped_nonfinite\": " + std::to_string(skipped_nonfinite);
  out += ", \"dims\": " + std::to_string(dims);
  out += ", \"metrics\": {";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i ? ", " : "";
    append_string(out, names[i]);
    out += ": ";
    append_number(out, values[i]);
  }
  out += "}, \"per_key\": {\"axis\": ";
  out += key_axis >= 0 ? std::to_string(key_axis) : "null";
  out += ", \"count\": ";
  append_array(out, per_key_count);
  append_named_arrays(out, names, per_key);
  out += "}, \"by_axis\": ";
  if (by_axis_index < 0) {
    out += "null";
  } else {
    out += "{\"axis\": " + std::to_string(by_axis_index) + ", \"count\": ";
    append_array(out, by_axis_count);
    append_named_arrays(out, names, by_axis);
    out += "}";
  }
  if (spec.mode_axis) {
    out += ", \"samples\": " + std::to_string(samples) +
           ", \"samples_with_final\": " + std::to_string(samples_with_final);
  }
  out += ", \"quantile_accuracy\": ";
  append_number(out, quantile_accuracy);
  out += ", \"pck_curve\": ";
  if (auc_thresholds.empty()) {
    out += "null";
  } else {
    out += "{\"thresholds\": ";
    append_array(out, auc_thresholds);
    out += ", \"pck\": ";
    append_array(out, auc_curve);
    out += "}";
  }
  out += ", \"elapsed_s\": ";
  append_number(out, elapsed_s);
  out += ", \"bytes_read\": " + std::to_string(bytes_read);
  out += "}";
  return out;
}

} // namespace gpueval
