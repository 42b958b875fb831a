// Report accessors and its JSON form (schema gpueval.report/1).
#include "gpueval/regression.hpp"

#include "core/json_text.hpp"

#include <cmath>
#include <string>

#include "gpueval/error.hpp"
#include "gpueval/version.hpp"

namespace gpueval {

using detail::append_array;
using detail::append_number;
using detail::append_string;

std::size_t RegressionReport::index_of(std::string_view metric) const {
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    if (metric_name(spec.metrics[i]) == metric) {
      return i;
    }
  }
  std::string requested;
  for (Metric m : spec.metrics) {
    requested += (requested.empty() ? "" : ", ") + std::string(metric_name(m));
  }
  (void)parse_metric(metric); // an unknown name gets the list of valid names
  throw InvalidArgument("metric '" + std::string(metric) +
                        "' was not requested; this report has: " + requested);
}

bool RegressionReport::has(std::string_view metric) const {
  for (Metric m : spec.metrics) {
    if (metric_name(m) == metric) {
      return true;
    }
  }
  return false;
}

double RegressionReport::value(std::string_view metric) const {
  return headline[index_of(metric)];
}
double RegressionReport::flat_value(std::string_view metric) const {
  return flat[index_of(metric)];
}

const std::vector<double>& RegressionReport::per_channel_values(std::string_view metric) const {
  return per_channel[index_of(metric)];
}

const std::vector<double>& RegressionReport::by_axis_values(std::string_view metric) const {
  GPUEVAL_EXPECTS(by_axis_index >= 0, "this report has no breakdown axis (by_axis)");
  return by_axis[index_of(metric)];
}

namespace {

// {"name": value, ...} over the report's metrics.
void append_metric_object(std::string& out, const std::vector<Metric>& metrics,
                          const std::vector<double>& values) {
  out += '{';
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    if (i) {
      out += ", ";
    }
    append_string(out, metric_name(metrics[i]));
    out += ": ";
    append_number(out, values[i]);
  }
  out += '}';
}

} // namespace

std::string RegressionReport::to_json() const {
  std::string out;
  out += "{\"schema\": \"gpueval.report/1\", \"version\": ";
  append_string(out, kVersion);
  out += ", \"task\": \"regression\", \"device\": ";
  append_string(out, device);
  out += ", \"spec\": {\"metrics\": [";
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    out += i ? ", " : "";
    append_string(out, metric_name(spec.metrics[i]));
  }
  out += "], \"channel_axis\": ";
  out += spec.channel_axis ? std::to_string(*spec.channel_axis) : "null";
  out += ", \"by_axis\": ";
  out += by_axis_index >= 0 ? std::to_string(by_axis_index) : "null";
  out += ", \"nan_policy\": ";
  append_string(out, nan_policy_name(spec.nan_policy));
  out += ", \"quantile_alpha\": ";
  append_number(out, spec.quantile_alpha);
  out += "}, \"count\": " + std::to_string(count);
  if (weight_sum != static_cast<double>(count)) { // weighted; unweighted reports read as before
    out += ", \"weight_sum\": ";
    append_number(out, weight_sum);
  }
  out += ", \"skipped_nonfinite\": " + std::to_string(skipped_nonfinite);
  out += ", \"channels\": " + std::to_string(channels);
  out += ", \"metrics\": ";
  append_metric_object(out, spec.metrics, headline);
  out += ", \"flat\": ";
  append_metric_object(out, spec.metrics, flat);
  out += ", \"variance_weighted\": {";
  bool first = true;
  for (Metric m : spec.metrics) {
    if (m == Metric::r2 || m == Metric::explained_variance) {
      out += first ? "" : ", ";
      first = false;
      append_string(out, metric_name(m));
      out += ": ";
      append_number(out,
                    m == Metric::r2 ? variance_weighted_r2 : variance_weighted_explained_variance);
    }
  }
  out += "}, \"per_channel\": {\"count\": ";
  append_array(out, per_channel_count);
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    out += ", ";
    append_string(out, metric_name(spec.metrics[i]));
    out += ": ";
    append_array(out, per_channel[i]);
  }
  out += "}, \"by_axis\": ";
  if (by_axis_index < 0) {
    out += "null";
  } else {
    out += "{\"axis\": " + std::to_string(by_axis_index) + ", \"count\": ";
    append_array(out, by_axis_count);
    for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
      out += ", ";
      append_string(out, metric_name(spec.metrics[i]));
      out += ": ";
      append_array(out, by_axis[i]);
    }
    // Per channel: one array per index, of the channels' values.
    out += ", \"per_channel\": {";
    const std::size_t c = static_cast<std::size_t>(channels);
    for (std::size_t i = 0; i < spec.metrics.size() && !by_axis_per_channel.empty(); ++i) {
      out += i ? ", " : "";
      append_string(out, metric_name(spec.metrics[i]));
      out += ": [";
      for (std::size_t j = 0; j < by_axis_count.size(); ++j) {
        out += j ? ", " : "";
        append_array(out, std::vector<double>(by_axis_per_channel[i].begin() + j * c,
                                              by_axis_per_channel[i].begin() + (j + 1) * c));
      }
      out += ']';
    }
    out += "}}";
  }
  out += ", \"quantile_sketch\": ";
  if (quantile_bits == 0) {
    out += "null";
  } else {
    out += "{\"relative_accuracy\": ";
    append_number(out, quantile_accuracy);
    out += ", \"mantissa_bits\": " + std::to_string(quantile_bits) + "}";
  }
  out += ", \"elapsed_s\": ";
  append_number(out, elapsed_s);
  out += ", \"bytes_read\": " + std::to_string(bytes_read);
  out += "}";
  return out;
}

} // namespace gpueval
