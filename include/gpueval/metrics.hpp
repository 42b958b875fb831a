// The regression metric registry: names, the statistic groups each needs, the default set.
// The math of each metric lives in ops/regression.hpp (finalize); this header only names them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/ops/metric_ids.hpp"

namespace gpueval {

struct MetricInfo {
  Metric metric;
  std::string_view name;
  unsigned groups; // groups beyond core that the metric needs
  bool opt_in;     // not in the default set
  std::string_view description;
};

// One entry per Metric, in enum order.
const std::array<MetricInfo, kNumMetrics>& metric_table();
const MetricInfo& metric_info(Metric m);
inline std::string_view metric_name(Metric m) {
  return metric_info(m).name;
}

// Throws InvalidArgument listing the valid names when `name` is not one.
Metric parse_metric(std::string_view name);
// Comma-separated list; empty entries and duplicates are errors. "default" expands to the
// default set and "all" to every metric.
std::vector<Metric> parse_metric_list(std::string_view text);

std::vector<Metric> default_metrics();
std::vector<Metric> all_metrics();
// Union of the groups the metrics need.
unsigned groups_for(const std::vector<Metric>& metrics);
// The metrics a state with these statistic groups reports when none are named: the default set,
// plus each opt-in metric whose groups the state holds (a state of `all` gives every metric).
std::vector<Metric> metrics_for_groups(unsigned groups);
// "core + pct (mape, smape)": the groups and the opt-in metrics they serve, for messages.
std::string group_names(unsigned groups);

} // namespace gpueval
