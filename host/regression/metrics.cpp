// The metric registry: names, groups and the default set.
#include "gpueval/regression.hpp"

#include <algorithm>
#include <string>

#include "gpueval/error.hpp"

namespace gpueval {

const std::array<MetricInfo, kNumMetrics>& metric_table() {
  static const std::array<MetricInfo, kNumMetrics> table = {{
      {Metric::mse, "mse", kGroupCore, false, "mean squared error"},
      {Metric::rmse, "rmse", kGroupCore, false, "root mean squared error"},
      {Metric::mae, "mae", kGroupCore, false, "mean absolute error"},
      {Metric::bias, "bias", kGroupCore, false, "mean of prediction - target"},
      {Metric::max_error, "max_error", kGroupCore, false, "largest |prediction - target|"},
      {Metric::r2, "r2", kGroupCore, false, "coefficient of determination"},
      {Metric::explained_variance, "explained_variance", kGroupCore, false,
       "1 - var(error) / var(target)"},
      {Metric::pearson, "pearson", kGroupCore, false, "Pearson correlation"},
      {Metric::ccc, "ccc", kGroupCore, false, "Lin's concordance correlation coefficient"},
      {Metric::cosine, "cosine", kGroupCore, false, "cosine similarity of the key's column"},
      {Metric::rse, "rse", kGroupCore, false, "relative squared error"},
      {Metric::nrmse, "nrmse", kGroupCore, false, "rmse / |mean(target)|"},
      {Metric::nrmse_range, "nrmse_range", kGroupRange, true, "rmse / (max - min of target)"},
      {Metric::mape, "mape", kGroupPct, true, "mean absolute percentage error (fraction)"},
      {Metric::smape, "smape", kGroupPct, true, "symmetric mean absolute percentage error"},
      {Metric::msle, "msle", kGroupLog, true, "mean squared logarithmic error"},
      {Metric::median_absolute_error, "median_absolute_error", kGroupQuantile, true,
       "median of |prediction - target| (quantile sketch)"},
      {Metric::abs_error_q90, "abs_error_q90", kGroupQuantile, true,
       "90th percentile of |prediction - target| (quantile sketch)"},
      {Metric::abs_error_q99, "abs_error_q99", kGroupQuantile, true,
       "99th percentile of |prediction - target| (quantile sketch)"},
  }};
  return table;
}

const MetricInfo& metric_info(Metric m) {
  return metric_table()[static_cast<std::size_t>(m)];
}

namespace {
std::string valid_names() {
  std::string out;
  for (const MetricInfo& info : metric_table()) {
    if (!out.empty()) {
      out += ", ";
    }
    out += info.name;
  }
  return out;
}
} // namespace

Metric parse_metric(std::string_view name) {
  for (const MetricInfo& info : metric_table()) {
    if (info.name == name) {
      return info.metric;
    }
  }
  throw InvalidArgument("unknown metric '" + std::string(name) +
                        "'; valid metrics: " + valid_names() + " (or 'default', 'all')");
}

std::vector<Metric> parse_metric_list(std::string_view text) {
  std::vector<Metric> out;
  auto add = [&](Metric m) {
    if (std::find(out.begin(), out.end(), m) != out.end()) {
      throw InvalidArgument("metric '" + std::string(metric_name(m)) + "' is listed twice");
    }
    out.push_back(m);
  };
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) {
      throw InvalidArgument("empty entry in metric list '" + std::string(text) +
                            "'; give names separated by commas, e.g. mse,mae,r2");
    }
    if (item == "default") {
      for (Metric m : default_metrics()) {
        add(m);
      }
    } else if (item == "all") {
      for (Metric m : all_metrics()) {
        add(m);
      }
    } else {
      add(parse_metric(item));
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

std::vector<Metric> default_metrics() {
  std::vector<Metric> out;
  for (const MetricInfo& info : metric_table()) {
    if (!info.opt_in) {
      out.push_back(info.metric);
    }
  }
  return out;
}

std::vector<Metric> all_metrics() {
  std::vector<Metric> out;
  for (const MetricInfo& info : metric_table()) {
    out.push_back(info.metric);
  }
  return out;
}

std::vector<Metric> metrics_for_groups(unsigned groups) {
  std::vector<Metric> out;
  for (const MetricInfo& info : metric_table()) {
    if (!info.opt_in || (info.groups != kGroupCore && (groups & info.groups) == info.groups)) {
      out.push_back(info.metric);
    }
  }
  return out;
}

std::string group_names(unsigned groups) {
  std::string out = "core";
  static constexpr struct {
    unsigned bit;
    std::string_view name;
  } kNames[] = {
      {kGroupRange, "range"}, {kGroupPct, "pct"}, {kGroupLog, "log"}, {kGroupQuantile, "quantile"}};
  for (const auto& g : kNames) {
    if ((groups & g.bit) == 0) {
      continue;
    }
    out += " + ";
    out += g.name;
    std::string served;
    for (const MetricInfo& info : metric_table()) {
      if (info.groups == g.bit) {
        served += (served.empty() ? "" : ", ") + std::string(info.name);
      }
    }
    out += " (" + served + ")";
  }
  return out;
}

unsigned groups_for(const std::vector<Metric>& metrics) {
  unsigned g = kGroupCore;
  for (Metric m : metrics) {
    g |= metric_info(m).groups;
  }
  return g;
}

} // namespace gpueval
