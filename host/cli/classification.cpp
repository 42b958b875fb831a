// The classification family in gpu-eval: its report as a table and as CSV, and synthetic shards
// from a model that is right more often than not.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/version.hpp"

namespace gpueval::cli {

namespace {

// A count of the report as the metrics read it: the count, or (weighted) its weight sum.
std::string count_text(const ClassificationReport& r, const std::vector<std::uint64_t>& n,
                       const std::vector<double>& sums, std::size_t i, bool shorten) {
  if (!r.weighted) {
    return std::to_string(n[i]);
  }
  return shorten ? short_number(sums[i]) : number(sums[i]);
}

std::string table(const ClassificationReport& r) {
  std::string out;
  out += fmt::format("gpu-eval {}: {} {} samples, {} classes, {} invalid skipped, {} ignored\n",
                     std::string(kVersion), r.count, class_task_name(r.spec.task), r.classes,
                     r.skipped_invalid, r.ignored);
  if (r.weighted) {
    out += fmt::format("weighted: weight sum {}; support, confusion matrix and calibration "
                       "counts are weight sums\n",
                       short_number(r.weight_sum));
  }
  out += io_line(r) + "\n";
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
      out +=
          fmt::format("{:>7} {:>12}", c, count_text(r, r.support, r.weight_sums.support, cc, true));
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
            fmt::format(" {:>10}", count_text(r, r.confusion_matrix, r.weight_sums.confusion_matrix,
                                              static_cast<std::size_t>(i * r.classes + j), true));
      }
      out += '\n';
    }
  }
  if (!r.calibration_count.empty()) {
    out += "\ncalibration\n";
    out += fmt::format("{:>7} {:>12} {:>12} {:>12}\n", "bin", "count", "confidence", "accuracy");
    for (std::size_t b = 0; b < r.calibration_count.size(); ++b) {
      out += fmt::format(
          "{:>7} {:>12} {:>12} {:>12}\n", b,
          count_text(r, r.calibration_count, r.weight_sums.calibration_count, b, true),
          short_number(r.calibration_confidence[b]), short_number(r.calibration_accuracy[b]));
    }
  }
  if (r.by_axis_index >= 0) {
    out += fmt::format("\nby axis {}\n{:>7} {:>12}", r.by_axis_index, "index",
                       r.weighted ? "weight" : "count");
    for (const std::string& n : r.by_axis_names) {
      out += fmt::format(" {:>12}", n.substr(0, 12));
    }
    out += '\n';
    for (std::size_t j = 0; j < r.by_axis_count.size(); ++j) {
      out +=
          fmt::format("{:>7} {:>12}", j, count_text(r, r.by_axis_count, r.by_axis_weight, j, true));
      for (const std::vector<double>& v : r.by_axis) {
        out += fmt::format(" {:>12}", short_number(v[j]));
      }
      out += '\n';
    }
  }
  return out;
}

// scope,index,count,value: one row per metric (scope metrics, index the metric name), per class
// and metric (scope class), per confusion-matrix cell (scope confusion, index "target:pred"), per
// calibration bin (scope calibration, name confidence or accuracy), the histograms' key bits
// (scope histogram), per point of the binary ROC and PR curves (scope roc or pr, index the
// point, name fpr/tpr/threshold or recall/precision/threshold) and per index of the breakdown
// axis and metric (scope by_axis).
std::string csv(const ClassificationReport& r) {
  std::string out = "scope,index,name,count,value\n";
  // count: samples, or (weighted) their weight sum.
  const std::string total = r.weighted ? number(r.weight_sum) : std::to_string(r.count);
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    out += "metrics,," + r.names[i] + "," + total + "," + number(r.values[i]) + "\n";
  }
  for (std::int64_t c = 0; c < r.classes; ++c) {
    const auto cc = static_cast<std::size_t>(c);
    for (std::size_t k = 0; k < r.per_class_names.size(); ++k) {
      out += "class," + std::to_string(c) + "," + r.per_class_names[k] + "," +
             count_text(r, r.support, r.weight_sums.support, cc, false) + "," +
             number(r.per_class[k][cc]) + "\n";
    }
  }
  for (std::int64_t i = 0; i < r.classes && !r.confusion_matrix.empty(); ++i) {
    for (std::int64_t j = 0; j < r.classes; ++j) {
      out += "confusion," + std::to_string(i) + ":" + std::to_string(j) + ",," +
             count_text(r, r.confusion_matrix, r.weight_sums.confusion_matrix,
                        static_cast<std::size_t>(i * r.classes + j), false) +
             ",\n";
    }
  }
  for (std::size_t b = 0; b < r.calibration_count.size(); ++b) {
    const std::string count =
        count_text(r, r.calibration_count, r.weight_sums.calibration_count, b, false);
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
  for (std::size_t j = 0; j < r.by_axis_count.size(); ++j) {
    const std::string count = count_text(r, r.by_axis_count, r.by_axis_weight, j, false);
    for (std::size_t k = 0; k < r.by_axis_names.size(); ++k) {
      out += "by_axis," + std::to_string(j) + "," + r.by_axis_names[k] + "," + count + "," +
             number(r.by_axis[k][j]) + "\n";
    }
  }
  return out;
}

// Classification shards: targets of the given shape (int64 class indices, or 0/1 labels), and
// scores from a model that is right more often than not: the true class's logit raised by 2
// (binary and multilabel: a latent logit the label is drawn from), plus `noise` of error.
// Multiclass scores (and multilabel labels) have the class axis at 1.
void write_shards(const SynthRequest& q, ClassTask task, std::int64_t classes, bool logits) {
  const std::vector<std::int64_t>& shape = q.shape;
  const DType dtype = q.dtype;
  const double noise = q.noise;
  std::int64_t samples = 1;
  for (std::int64_t d : shape) {
    samples *= d;
  }
  const std::int64_t rows = shape[0];
  const std::int64_t inner = samples / rows; // samples per row after the batch axis
  std::vector<std::int64_t> target_shape = shape, pred_shape = shape;
  if (task != ClassTask::binary) {
    pred_shape.insert(pred_shape.begin() + 1, classes);
  }
  if (task == ClassTask::multilabel) {
    target_shape = pred_shape;
  }
  const std::int64_t per = task == ClassTask::binary ? 1 : classes;
  const std::size_t item = dtype_size(dtype);
  std::vector<unsigned char> pred(static_cast<std::size_t>(samples * per) * item);
  std::vector<unsigned char> target(
      static_cast<std::size_t>((task == ClassTask::multilabel ? samples * classes : samples) * 8));
  std::vector<std::int64_t> mask_shape(target_shape.begin(),
                                       target_shape.begin() + (shape.size() > 1 ? 2 : 1));
  std::int64_t mask_n = 1;
  for (std::int64_t d : mask_shape) {
    mask_n *= d;
  }
  std::vector<unsigned char> mask(static_cast<std::size_t>(mask_n));
  std::vector<double> z(static_cast<std::size_t>(per));
  Rng rng(q.seed);
  const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  for (int k = 0; k < q.shards; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t i = 0; i < inner; ++i) {
        // Element offsets of class c of this sample with the class axis at 1.
        const auto at = [&](std::int64_t c) {
          return static_cast<std::size_t>((r * per + c) * inner + i);
        };
        if (task == ClassTask::multiclass) {
          // Skewed class frequencies: class c drawn with weight 1 / (c + 1).
          double total = 0;
          for (std::int64_t c = 0; c < classes; ++c) {
            total += 1.0 / static_cast<double>(c + 1);
          }
          double u = rng.uniform() * total;
          std::int64_t y = 0;
          while (y + 1 < classes && (u -= 1.0 / static_cast<double>(y + 1)) > 0) {
            ++y;
          }
          double mx = -1e300;
          for (std::int64_t c = 0; c < classes; ++c) {
            z[static_cast<std::size_t>(c)] = (c == y ? 2.0 : 0.0) + (0.9 + noise) * rng.normal();
            mx = std::max(mx, z[static_cast<std::size_t>(c)]);
          }
          double sum = 0;
          for (std::int64_t c = 0; c < classes; ++c) {
            sum += std::exp(z[static_cast<std::size_t>(c)] - mx);
          }
          for (std::int64_t c = 0; c < classes; ++c) {
            const double v = z[static_cast<std::size_t>(c)];
            store(pred, dtype, at(c), logits ? v : std::exp(v - mx) / sum);
          }
          const auto t = static_cast<std::int64_t>(r * inner + i);
          std::memcpy(&target[static_cast<std::size_t>(t) * 8], &y, 8);
        } else {
          for (std::int64_t c = 0; c < per; ++c) {
            const double latent = 2.0 * rng.normal();
            const std::int64_t y = rng.uniform() < sigmoid(latent) ? 1 : 0;
            const double v = latent + noise * 10.0 * rng.normal();
            store(pred, dtype, at(c), logits ? v : sigmoid(v));
            std::memcpy(&target[at(c) * 8], &y, 8);
          }
        }
      }
    }
    for (auto& m : mask) {
      m = rng.uniform() < 0.9 ? 1 : 0;
    }
    write_synth_shard(q, k, {dtype, pred_shape, pred.data()},
                      {DType::i64, target_shape, target.data()},
                      {DType::boolean, mask_shape, q.mask ? mask.data() : nullptr});
  }
  std::fprintf(stderr, "gpu-eval synth: wrote %d %s shard%s: pred %s %s, target %s int64 to %s\n",
               q.shards, std::string(class_task_name(task)).c_str(), q.shards == 1 ? "" : "s",
               shape_text(pred_shape).c_str(), std::string(dtype_name(dtype)).c_str(),
               shape_text(target_shape).c_str(), q.out.c_str());
}

void synth(const SynthRequest& q) {
  ClassTask task;
  std::int64_t classes = 10;
  try {
    task = parse_class_task(q.task);
    if (const auto it = q.options.find("num_classes"); it != q.options.end()) {
      std::size_t used = 0;
      classes = std::stoll(it->second, &used);
      if (used != it->second.size()) {
        throw std::invalid_argument("");
      }
    }
  } catch (const InvalidArgument& e) {
    throw UsageError(std::string("synth: ") + e.what());
  } catch (const std::exception&) {
    throw UsageError("synth: --num-classes '" + q.options.at("num_classes") +
                     "' is not an integer");
  }
  if (task != ClassTask::binary && (classes < 2 || classes > kMaxClasses)) {
    throw UsageError("synth: --num-classes must be between 2 and " + std::to_string(kMaxClasses));
  }
  write_shards(q, task, classes, q.options.count("logits") > 0);
}

} // namespace

void register_classification_cli() {
  CliFamily f;
  f.tag = kClassificationFamily;
  f.format = [](const FamilyReport& report, TextFormat format) {
    const auto& r = dynamic_cast<const ClassificationReport&>(report);
    return format == TextFormat::csv ? csv(r) : table(r);
  };
  f.synth_flags = {
      {"num_classes", "classification: classes (multiclass) or labels (multilabel)", "10"},
      {"logits", "classification: write logits instead of probabilities", "", true}};
  f.synth = synth;
  register_cli_family(std::move(f));
}

} // namespace gpueval::cli
