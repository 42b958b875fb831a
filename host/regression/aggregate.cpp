#include "regression/aggregate.hpp"

#include <string>

#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/regression.hpp"

namespace gpueval::detail {

FullRecord tree_combine(const FullRecord* first, std::int64_t count, std::int64_t stride) {
  if (count <= 0) {
    return FullRecord{};
  }
  if (count == 1) {
    return *first;
  }
  const std::int64_t left = count / 2;
  return FullOps::combine(tree_combine(first, left, stride),
                          tree_combine(first + left * stride, count - left, stride));
}

namespace {

// Uniform average of per-channel values; max_error's headline is the overall max instead.
double headline_of(Metric m, const std::vector<ops::MetricValues>& per_channel,
                   const ops::MetricValues& overall) {
  if (m == Metric::max_error) {
    return overall[m];
  }
  double sum = 0;
  for (const ops::MetricValues& v : per_channel) {
    sum += v[m];
  }
  return sum / static_cast<double>(per_channel.size());
}

// scikit-learn's multioutput="variance_weighted": weights m2_t, uniform when all are zero.
double variance_weighted(Metric m, const std::vector<FullRecord>& channels,
                         const std::vector<ops::MetricValues>& values) {
  double weight_sum = 0;
  double weighted = 0;
  for (std::size_t c = 0; c < channels.size(); ++c) {
    weight_sum += channels[c].m2_t;
    weighted += channels[c].m2_t * values[c][m];
  }
  if (weight_sum == 0.0) {
    double sum = 0;
    for (const ops::MetricValues& v : values) {
      sum += v[m];
    }
    return sum / static_cast<double>(values.size());
  }
  return weighted / weight_sum;
}

} // namespace

namespace {

bool is_quantile(Metric m) {
  return metric_info(m).groups == kGroupQuantile;
}

double quantile_of(Metric m) {
  return m == Metric::median_absolute_error ? 0.5 : m == Metric::abs_error_q90 ? 0.9 : 0.99;
}

// Quantile metrics from the sketch: per channel, flat (every channel's counts added) and the
// headline (the uniform average of the channels', as scikit-learn's median_absolute_error).
void fill_quantiles(const RegressionSpec& spec, const KeyLayout& layout,
                    const std::vector<std::uint64_t>& sketch, Report& report) {
  const int bits = spec.quantile_bits();
  const auto buckets = static_cast<std::size_t>(ops::sketch::buckets(bits));
  GPUEVAL_EXPECTS(sketch.size() == buckets * static_cast<std::size_t>(layout.channels),
                  "internal: a quantile sketch of " + std::to_string(sketch.size()) + " counts");
  report.quantile_bits = bits;
  report.quantile_accuracy = ops::sketch::alpha(bits);
  std::vector<std::uint64_t> all(buckets, 0);
  for (std::size_t i = 0; i < sketch.size(); ++i) {
    all[i % buckets] += sketch[i];
  }
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    const Metric m = spec.metrics[i];
    if (!is_quantile(m)) {
      continue;
    }
    const double q = quantile_of(m);
    double sum = 0;
    for (std::int64_t c = 0; c < layout.channels; ++c) {
      const double v =
          ops::sketch::quantile(sketch.data() + c * static_cast<std::int64_t>(buckets), bits, q);
      report.per_channel[i][static_cast<std::size_t>(c)] = v;
      sum += v;
    }
    report.headline[i] = sum / static_cast<double>(layout.channels);
    report.flat[i] = ops::sketch::quantile(all.data(), bits, q);
  }
}

} // namespace

Report build_report(const RegressionSpec& spec, const KeyLayout& layout,
                    const std::vector<FullRecord>& records,
                    const std::vector<std::uint64_t>& sketch) {
  GPUEVAL_EXPECTS(static_cast<std::int64_t>(records.size()) == layout.keys,
                  "internal: " + std::to_string(records.size()) + " records for " +
                      std::to_string(layout.keys) + " keys");
  const std::int64_t channels = layout.channels;
  const std::size_t n_metrics = spec.metrics.size();

  Report report;
  report.spec = spec;
  report.channels = channels;
  report.by_axis_index = layout.report_by_axis;

  // Per channel: combine every key of channel c (keys c, c + C, c + 2C, ...).
  std::vector<FullRecord> channel_records(static_cast<std::size_t>(channels));
  std::vector<ops::MetricValues> channel_values(static_cast<std::size_t>(channels));
  const std::int64_t keys_per_channel = layout.keys / channels;
  for (std::int64_t c = 0; c < channels; ++c) {
    channel_records[c] = tree_combine(records.data() + c, keys_per_channel, channels);
    channel_values[c] = FullOps::finalize(channel_records[c]);
  }
  const FullRecord all = tree_combine(channel_records.data(), channels);
  const ops::MetricValues flat = FullOps::finalize(all);
  report.count = all.n;
  report.weight_sum = all.w;
  report.skipped_nonfinite = all.skipped_nonfinite;

  report.headline.resize(n_metrics);
  report.flat.resize(n_metrics);
  report.per_channel.assign(n_metrics, std::vector<double>(static_cast<std::size_t>(channels)));
  for (std::size_t i = 0; i < n_metrics; ++i) {
    const Metric m = spec.metrics[i];
    report.headline[i] = headline_of(m, channel_values, flat);
    report.flat[i] = flat[m];
    for (std::int64_t c = 0; c < channels; ++c) {
      report.per_channel[i][c] = channel_values[c][m];
    }
  }
  report.per_channel_count.resize(static_cast<std::size_t>(channels));
  for (std::int64_t c = 0; c < channels; ++c) {
    report.per_channel_count[c] = channel_records[c].n;
  }
  report.variance_weighted_r2 = variance_weighted(Metric::r2, channel_records, channel_values);
  report.variance_weighted_explained_variance =
      variance_weighted(Metric::explained_variance, channel_records, channel_values);

  if (layout.by_axis >= 0) {
    // Keys of breakdown index j form the block [j * B, (j + 1) * B); inside it, channel c sits at
    // c, c + C, ...
    const std::int64_t block = layout.keys / layout.by_length;
    const std::int64_t per_block_channel = block / channels;
    report.by_axis.assign(n_metrics,
                          std::vector<double>(static_cast<std::size_t>(layout.by_length)));
    report.by_axis_count.resize(static_cast<std::size_t>(layout.by_length));
    report.by_axis_per_channel.assign(
        n_metrics, std::vector<double>(static_cast<std::size_t>(layout.by_length * channels)));
    std::vector<FullRecord> block_channels(static_cast<std::size_t>(channels));
    std::vector<ops::MetricValues> block_values(static_cast<std::size_t>(channels));
    for (std::int64_t j = 0; j < layout.by_length; ++j) {
      const FullRecord* base = records.data() + j * block;
      for (std::int64_t c = 0; c < channels; ++c) {
        block_channels[c] = tree_combine(base + c, per_block_channel, channels);
        block_values[c] = FullOps::finalize(block_channels[c]);
      }
      const FullRecord block_all = tree_combine(block_channels.data(), channels);
      const ops::MetricValues block_flat = FullOps::finalize(block_all);
      report.by_axis_count[j] = block_all.n;
      for (std::size_t i = 0; i < n_metrics; ++i) {
        report.by_axis[i][j] = headline_of(spec.metrics[i], block_values, block_flat);
        for (std::int64_t c = 0; c < channels; ++c) {
          report.by_axis_per_channel[i][static_cast<std::size_t>(j * channels + c)] =
              block_values[c][spec.metrics[i]];
        }
      }
    }
  }
  if (spec.groups() & kGroupQuantile) {
    fill_quantiles(spec, layout, sketch, report);
  }
  return report;
}

} // namespace gpueval::detail
