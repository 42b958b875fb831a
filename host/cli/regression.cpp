// The regression family in gpu-eval: its report as a table and as CSV, and synthetic shards that
// look like motion data.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "gpueval/regression.hpp"
#include "gpueval/version.hpp"

namespace gpueval::cli {

namespace {

std::string table(const RegressionReport& r) {
  std::string out;
  out += fmt::format("gpu-eval {}: {} pairs, {} channels, {} non-finite pairs skipped\n",
                     std::string(kVersion), r.count, r.channels, r.skipped_nonfinite);
  out += io_line(r) + "\n";
  out += fmt::format("{:<40} {:>18} {:>18}\n", "metric", "mean over channels", "flat");
  for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
    const std::string name(metric_name(r.spec.metrics[i]));
    out += fmt::format("{:<40} {:>18} {:>18}\n", name, short_number(r.headline[i]),
                       short_number(r.flat[i]));
  }
  for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
    const Metric m = r.spec.metrics[i];
    if (m == Metric::r2 || m == Metric::explained_variance) {
      out += fmt::format("{:<40} {:>18}\n", std::string(metric_name(m)) + " (variance weighted)",
                         short_number(m == Metric::r2 ? r.variance_weighted_r2
                                                      : r.variance_weighted_explained_variance));
    }
  }
  if (r.quantile_bits > 0) {
    out += fmt::format("(error quantiles: a sketch within {:.3g}% of the exact values, "
                       "relatively; none per breakdown index)\n",
                       100 * r.quantile_accuracy);
  }
  const auto header = [&](const char* first) {
    out += fmt::format("{:>7} {:>12}", first, "count");
    for (Metric m : r.spec.metrics) {
      out += fmt::format(" {:>12}", std::string(metric_name(m)).substr(0, 12));
    }
    out += '\n';
  };
  out += "\nper channel\n";
  header("channel");
  for (std::int64_t c = 0; c < r.channels; ++c) {
    out += fmt::format("{:>7} {:>12}", c, r.per_channel_count[static_cast<std::size_t>(c)]);
    for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
      out += fmt::format(" {:>12}", short_number(r.per_channel[i][static_cast<std::size_t>(c)]));
    }
    out += '\n';
  }
  if (r.by_axis_index >= 0) {
    out += fmt::format("\nby axis {} (mean over channels)\n", r.by_axis_index);
    header("index");
    for (std::size_t j = 0; j < r.by_axis_count.size(); ++j) {
      out += fmt::format("{:>7} {:>12}", j, r.by_axis_count[j]);
      for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
        out += fmt::format(" {:>12}", short_number(r.by_axis[i][j]));
      }
      out += '\n';
    }
  }
  return out;
}

// One row per scope: scope,index,count,<metric...>. Values with 17 significant digits.
std::string csv(const RegressionReport& r) {
  std::string out = "scope,index,count";
  for (Metric m : r.spec.metrics) {
    out += "," + std::string(metric_name(m));
  }
  out += '\n';
  auto row = [&](const std::string& scope, const std::string& index, const std::string& count,
                 auto value_of) {
    out += scope + "," + index + "," + count;
    for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
      out += "," + value_of(i);
    }
    out += '\n';
  };
  row("metrics", "", std::to_string(r.count), [&](std::size_t i) { return number(r.headline[i]); });
  row("flat", "", std::to_string(r.count), [&](std::size_t i) { return number(r.flat[i]); });
  row("variance_weighted", "", "", [&](std::size_t i) {
    const Metric m = r.spec.metrics[i];
    return m == Metric::r2                   ? number(r.variance_weighted_r2)
           : m == Metric::explained_variance ? number(r.variance_weighted_explained_variance)
                                             : std::string();
  });
  for (std::int64_t c = 0; c < r.channels; ++c) {
    const auto cc = static_cast<std::size_t>(c);
    row("channel", std::to_string(c), std::to_string(r.per_channel_count[cc]),
        [&](std::size_t i) { return number(r.per_channel[i][cc]); });
  }
  for (std::size_t j = 0; j < r.by_axis_count.size(); ++j) {
    row("by_axis", std::to_string(j), std::to_string(r.by_axis_count[j]),
        [&](std::size_t i) { return number(r.by_axis[i][j]); });
  }
  return out;
}

// Targets look like motion data: per channel a smooth curve over the second axis, scaled per
// sample, plus noise; predictions are targets plus a per-channel bias and `noise` error.
void synth(const SynthRequest& q) {
  double offset = 0;
  if (const auto it = q.options.find("offset"); it != q.options.end()) {
    try {
      std::size_t used = 0;
      offset = std::stod(it->second, &used);
      if (used != it->second.size()) {
        throw std::invalid_argument("");
      }
    } catch (const std::exception&) {
      throw UsageError("synth: --offset '" + it->second + "' is not a number");
    }
  }
  const std::vector<std::int64_t>& shape = q.shape;
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    n *= d;
  }
  const std::int64_t rows = shape[0];
  const std::int64_t channels = shape.size() > 1 ? shape.back() : 1;
  const std::int64_t steps = shape.size() > 2 ? shape[1] : 1;
  const std::int64_t per_row = n / rows;
  const std::size_t item = dtype_size(q.dtype);
  std::vector<unsigned char> pred(static_cast<std::size_t>(n) * item), target(pred.size());
  std::vector<unsigned char> mask;
  std::vector<std::int64_t> mask_shape(shape.begin(), shape.begin() + (shape.size() > 1 ? 2 : 1));
  std::int64_t mask_n = 1;
  for (std::int64_t d : mask_shape) {
    mask_n *= d;
  }
  // One smooth curve per (step, channel), shared by all shards.
  std::vector<double> curve(static_cast<std::size_t>(steps * channels));
  for (std::int64_t s = 0; s < steps; ++s) {
    for (std::int64_t c = 0; c < channels; ++c) {
      curve[static_cast<std::size_t>(s * channels + c)] = std::sin(
          0.02 * static_cast<double>(s) * static_cast<double>(c + 1) + static_cast<double>(c));
    }
  }
  Rng rng(q.seed);
  for (int k = 0; k < q.shards; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const double amplitude = 1.0 + 0.5 * rng.uniform();
      for (std::int64_t j = 0; j < per_row; ++j) {
        const std::int64_t c = j % channels;
        const std::int64_t s = (j / channels) % steps;
        const double t = offset + amplitude * curve[static_cast<std::size_t>(s * channels + c)] +
                         0.1 * rng.normal();
        const double p = t + 0.01 * static_cast<double>(c % 5) + q.noise * rng.normal();
        const auto i = static_cast<std::size_t>(r * per_row + j);
        store(target, q.dtype, i, t);
        store(pred, q.dtype, i, p);
      }
    }
    if (q.mask) {
      mask.resize(static_cast<std::size_t>(mask_n));
      for (auto& m : mask) {
        m = rng.uniform() < 0.9 ? 1 : 0;
      }
    }
    write_synth_shard(q, k, {q.dtype, shape, pred.data()}, {q.dtype, shape, target.data()},
                      {DType::boolean, mask_shape, q.mask ? mask.data() : nullptr});
  }
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dims += (i ? "," : "") + std::to_string(shape[i]);
  }
  std::fprintf(stderr, "gpu-eval synth: wrote %d shard%s of [%s] %s to %s\n", q.shards,
               q.shards == 1 ? "" : "s", dims.c_str(), std::string(dtype_name(q.dtype)).c_str(),
               q.out.c_str());
}

} // namespace

void register_regression_cli() {
  CliFamily f;
  f.tag = kRegressionFamily;
  f.format = [](const FamilyReport& report, TextFormat format) {
    const auto& r = dynamic_cast<const RegressionReport&>(report);
    return format == TextFormat::csv ? csv(r) : table(r);
  };
  f.synth_flags = {{"offset",
                    "regression: added to every target and prediction (adversarial "
                    "data: 1e6)",
                    "0"}};
  f.synth = synth;
  register_cli_family(std::move(f));
}

} // namespace gpueval::cli
