// Report output: a table for people, JSON and CSV for programs.
#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "cli/cli.hpp"
#include "gpueval/version.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

// 17 significant digits round-trip a double; non-finite values as nan/inf (CSV) .
std::string number(double v) {
  if (std::isnan(v)) {
    return "nan";
  }
  if (std::isinf(v)) {
    return v > 0 ? "inf" : "-inf";
  }
  return fmt::format("{:.17g}", v);
}

std::string short_number(double v) {
  if (std::isnan(v)) {
    return "nan";
  }
  return fmt::format("{:.6g}", v);
}

std::string table(const Report& r) {
  std::string out;
  const double gbs = r.elapsed_s > 0 ? static_cast<double>(r.bytes_read) / r.elapsed_s / 1e9 : 0;
  out += fmt::format("gpu-eval {}: {} pairs, {} channels, {} non-finite pairs skipped\n",
                     std::string(kVersion), r.count, r.channels, r.skipped_nonfinite);
  out += fmt::format("device {}; {:.3f} s; {:.2f} GB read at {:.2f} GB/s\n\n", r.device,
                     r.elapsed_s, static_cast<double>(r.bytes_read) / 1e9, gbs);
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
  out += "\nper channel\n";
  out += fmt::format("{:>7} {:>12}", "channel", "count");
  for (Metric m : r.spec.metrics) {
    out += fmt::format(" {:>12}", std::string(metric_name(m)).substr(0, 12));
  }
  out += '\n';
  for (std::int64_t c = 0; c < r.channels; ++c) {
    out += fmt::format("{:>7} {:>12}", c, r.per_channel_count[static_cast<std::size_t>(c)]);
    for (std::size_t i = 0; i < r.spec.metrics.size(); ++i) {
      out += fmt::format(" {:>12}", short_number(r.per_channel[i][static_cast<std::size_t>(c)]));
    }
    out += '\n';
  }
  if (r.by_axis_index >= 0) {
    out += fmt::format("\nby axis {} (mean over channels)\n", r.by_axis_index);
    out += fmt::format("{:>7} {:>12}", "index", "count");
    for (Metric m : r.spec.metrics) {
      out += fmt::format(" {:>12}", std::string(metric_name(m)).substr(0, 12));
    }
    out += '\n';
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
std::string csv(const Report& r) {
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

std::string class_table(const ClassificationReport& r) {
  std::string out;
  const double gbs = r.elapsed_s > 0 ? static_cast<double>(r.bytes_read) / r.elapsed_s / 1e9 : 0;
  out += fmt::format("gpu-eval {}: {} {} samples, {} classes, {} invalid skipped, {} ignored\n",
                     std::string(kVersion), r.count, class_task_name(r.spec.task), r.classes,
                     r.skipped_invalid, r.ignored);
  out += fmt::format("device {}; {:.3f} s; {:.2f} GB read at {:.2f} GB/s\n\n", r.device,
                     r.elapsed_s, static_cast<double>(r.bytes_read) / 1e9, gbs);
  out += fmt::format("{:<40} {:>18}\n", "metric", "value");
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    out += fmt::format("{:<40} {:>18}\n", r.names[i], short_number(r.values[i]));
  }
  if (!r.histogram_key.empty()) {
    out += fmt::format("(auroc, average_precision: {} score keys, {} bits per bin, {})\n",
                       r.histogram_key, r.histogram_bits,
                       r.histogram_exact ? "exact" : "*_bound: the most they can be off");
  }
  if (r.classes <= 64) {
    out += "\nper class\n";
    out += fmt::format("{:>7} {:>12}", "class", "support");
    for (const std::string& n : r.per_class_names) {
      out += fmt::format(" {:>12}", n.substr(0, 12));
    }
    out += '\n';
    for (std::int64_t c = 0; c < r.classes; ++c) {
      const auto cc = static_cast<std::size_t>(c);
      out += fmt::format("{:>7} {:>12}", c, r.support[cc]);
      for (const std::vector<double>& v : r.per_class) {
        out += fmt::format(" {:>12}", short_number(v[cc]));
      }
      out += '\n';
    }
  } else {
    out += fmt::format("\n(per class values and the confusion matrix of {} classes: "
                       "--format json or csv)\n",
                       r.classes);
  }
  if (!r.confusion_matrix.empty() && r.classes <= 16) {
    out += "\nconfusion matrix (rows: target, columns: prediction)\n";
    for (std::int64_t i = 0; i < r.classes; ++i) {
      for (std::int64_t j = 0; j < r.classes; ++j) {
        out +=
            fmt::format(" {:>10}", r.confusion_matrix[static_cast<std::size_t>(i * r.classes + j)]);
      }
      out += '\n';
    }
  }
  if (!r.calibration_count.empty()) {
    out += "\ncalibration\n";
    out += fmt::format("{:>7} {:>12} {:>12} {:>12}\n", "bin", "count", "confidence", "accuracy");
    for (std::size_t b = 0; b < r.calibration_count.size(); ++b) {
      out += fmt::format("{:>7} {:>12} {:>12} {:>12}\n", b, r.calibration_count[b],
                         short_number(r.calibration_confidence[b]),
                         short_number(r.calibration_accuracy[b]));
    }
  }
  return out;
}

// scope,index,count,value: one row per metric (scope metrics, index the metric name), per class
// and metric (scope class), per confusion-matrix cell (scope confusion, index "target:pred"), per
// calibration bin (scope calibration, name confidence or accuracy), the histograms' key bits
// (scope histogram) and per point of the binary ROC and PR curves (scope roc or pr, index the
// point, name fpr/tpr/threshold or recall/precision/threshold).
std::string class_csv(const ClassificationReport& r) {
  std::string out = "scope,index,name,count,value\n";
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    out +=
        "metrics,," + r.names[i] + "," + std::to_string(r.count) + "," + number(r.values[i]) + "\n";
  }
  for (std::int64_t c = 0; c < r.classes; ++c) {
    const auto cc = static_cast<std::size_t>(c);
    for (std::size_t k = 0; k < r.per_class_names.size(); ++k) {
      out += "class," + std::to_string(c) + "," + r.per_class_names[k] + "," +
             std::to_string(r.support[cc]) + "," + number(r.per_class[k][cc]) + "\n";
    }
  }
  for (std::int64_t i = 0; i < r.classes && !r.confusion_matrix.empty(); ++i) {
    for (std::int64_t j = 0; j < r.classes; ++j) {
      out += "confusion," + std::to_string(i) + ":" + std::to_string(j) + ",," +
             std::to_string(r.confusion_matrix[static_cast<std::size_t>(i * r.classes + j)]) +
             ",\n";
    }
  }
  for (std::size_t b = 0; b < r.calibration_count.size(); ++b) {
    const std::string count = std::to_string(r.calibration_count[b]);
    out += "calibration," + std::to_string(b) + ",confidence," + count + "," +
           number(r.calibration_confidence[b]) + "\n";
    out += "calibration," + std::to_string(b) + ",accuracy," + count + "," +
           number(r.calibration_accuracy[b]) + "\n";
  }
  if (!r.histogram_key.empty()) {
    out += "histogram,," + r.histogram_key + "_bits,," + std::to_string(r.histogram_bits) + "\n";
  }
  const auto curve = [&](const char* scope, const char* x, const std::vector<double>& xs,
                         const char* y, const std::vector<double>& ys,
                         const std::vector<double>& thresholds) {
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const std::string at = std::string(scope) + "," + std::to_string(i) + ",";
      out += at + x + ",," + number(xs[i]) + "\n";
      out += at + y + ",," + number(ys[i]) + "\n";
      out += at + "threshold,," + number(thresholds[i]) + "\n";
    }
  };
  curve("roc", "fpr", r.roc_fpr, "tpr", r.roc_tpr, r.roc_threshold);
  curve("pr", "recall", r.pr_recall, "precision", r.pr_precision, r.pr_threshold);
  return out;
}

} // namespace

std::string format_report(const Report& report, Format format) {
  switch (format) {
  case Format::json:
    return report.to_json() + "\n";
  case Format::csv:
    return csv(report);
  case Format::table:
    return table(report);
  case Format::none:
    return {};
  }
  return {};
}

std::string format_report(const ClassificationReport& report, Format format) {
  switch (format) {
  case Format::json:
    return report.to_json() + "\n";
  case Format::csv:
    return class_csv(report);
  case Format::table:
    return class_table(report);
  case Format::none:
    return {};
  }
  return {};
}

std::string format_report(const AnyReport& report, Format format) {
  if (const Report* r = report.regression()) {
    return format_report(*r, format);
  }
  return format_report(*report.classification(), format);
}

Format parse_format(const std::string& text) {
  if (text == "table") {
    return Format::table;
  }
  if (text == "json") {
    return Format::json;
  }
  if (text == "csv") {
    return Format::csv;
  }
  if (text == "none") {
    return Format::none;
  }
  throw UsageError("--format '" + text + "' is not table, json, csv or none");
}

void emit_report(const AnyReport& report, Format format, const std::string& output) {
  if (format == Format::none) {
    return;
  }
  const std::string text = format_report(report, format);
  if (output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::ofstream out(output, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    throw io::ReadError(output + ": cannot write the report");
  }
}

void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw io::ReadError(path + ": cannot write the state (" + std::strerror(errno) + ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw io::ReadError(path + ": cannot write the state (" + why + ")");
  }
}

} // namespace gpueval::cli
