// RegressionSpec validation and the key layout it implies.
#include "gpueval/regression.hpp"

#include <algorithm>
#include <string>

#include "core/options.hpp"
#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "regression/backend.hpp"
#include "regression/channel_axis.hpp"

namespace gpueval {

namespace {
std::string shape_string(const std::vector<std::int64_t>& shape) {
  return detail::shape_string(shape.data(), static_cast<int>(shape.size()));
}
} // namespace

void RegressionSpec::validate() const {
  GPUEVAL_EXPECTS(!metrics.empty(), "the metric list is empty");
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    GPUEVAL_EXPECTS(static_cast<int>(metrics[i]) < kNumMetrics, "metric id out of range");
    GPUEVAL_EXPECTS(std::find(metrics.begin() + static_cast<std::ptrdiff_t>(i) + 1, metrics.end(),
                              metrics[i]) == metrics.end(),
                    "metric '" + std::string(metric_name(metrics[i])) + "' is listed twice");
  }
  GPUEVAL_EXPECTS(!channel_axis || *channel_axis != 0,
                  "channel_axis 0 is the batch axis; the channels are on a sample axis (1 for "
                  "[N, C, H, W], -1 for the last) or none");
  GPUEVAL_EXPECTS(!by_axis || *by_axis != 0,
                  "by_axis 0 is the batch axis; a breakdown axis must be 1 or later");
  const double finest = ops::sketch::alpha(ops::sketch::kMaxBits);
  GPUEVAL_EXPECTS(quantile_alpha >= finest && quantile_alpha <= 0.5,
                  "quantile_alpha " + std::to_string(quantile_alpha) + " is outside [" +
                      std::to_string(finest) + ", 0.5] (the quantile sketch's relative accuracy)");
  if (!sample_shape.empty()) {
    (void)KeyLayout::from(*this, sample_shape);
  }
}

namespace {
// FNV-1a, 64-bit: a fingerprint, not a security measure.
struct Fnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xffu;
      h *= 0x100000001b3ull;
    }
  }
};
} // namespace

int RegressionSpec::quantile_bits() const {
  return (groups() & kGroupQuantile) ? ops::sketch::mantissa_bits_for(quantile_alpha) : 0;
}

std::uint64_t RegressionSpec::fingerprint() const {
  Fnv f;
  f.add(groups());
  if (groups() & kGroupQuantile) {
    f.add(static_cast<std::uint64_t>(quantile_bits()));
  }
  f.add(channel_axis ? static_cast<std::uint64_t>(*channel_axis) : 0x7fffu);
  f.add(by_axis ? static_cast<std::uint64_t>(*by_axis) : 0x7fffu);
  f.add(static_cast<std::uint64_t>(nan_policy));
  f.add(sample_shape.size());
  for (std::int64_t d : sample_shape) {
    f.add(static_cast<std::uint64_t>(d));
  }
  return f.h;
}

KeyLayout KeyLayout::from(const RegressionSpec& spec,
                          const std::vector<std::int64_t>& sample_shape) {
  const int sample_rank = static_cast<int>(sample_shape.size());
  const int rank = sample_rank + 1; // with the batch axis
  for (std::int64_t d : sample_shape) {
    GPUEVAL_EXPECTS(d >= 0,
                    "sample shape " + shape_string(sample_shape) + " has a negative dimension");
  }
  // A channel axis other than the last: the layout of the batch with that axis moved last
  // (regression/channel_axis.hpp), the breakdown axis renumbered and reported as given.
  const detail::ChannelMove move = detail::ChannelMove::of(spec, rank);
  if (move.moves()) {
    RegressionSpec last = spec;
    last.channel_axis = -1;
    int by = -1;
    if (spec.by_axis) {
      by = *spec.by_axis < 0 ? *spec.by_axis + rank : *spec.by_axis;
      GPUEVAL_EXPECTS(by != move.axis,
                      "by_axis " + std::to_string(*spec.by_axis) +
                          " is the channel axis, whose values are already reported per channel; "
                          "choose another axis or no channel axis");
      GPUEVAL_EXPECTS(by >= 1 && by < rank,
                      "by_axis " + std::to_string(*spec.by_axis) +
                          " is outside the sample axes 1.." + std::to_string(rank - 1) +
                          " of a batch [batch] + " + shape_string(sample_shape));
      last.by_axis = move.to_layout_axis(by);
    }
    KeyLayout layout = from(last, move.to_layout(sample_shape));
    layout.report_by_axis = by;
    return layout;
  }
  KeyLayout layout;
  // A rank-1 batch has no axis after the batch axis: one channel.
  const bool has_channel = spec.channel_axis.has_value() && sample_rank >= 1;
  layout.channels = has_channel ? sample_shape.back() : 1;
  if (spec.by_axis) {
    int axis = *spec.by_axis;
    if (axis < 0) {
      axis += rank;
    }
    GPUEVAL_EXPECTS(axis >= 1 && axis < rank,
                    "by_axis " + std::to_string(*spec.by_axis) + " is outside the sample axes 1.." +
                        std::to_string(rank - 1) + " of a batch [batch] + " +
                        shape_string(sample_shape));
    GPUEVAL_EXPECTS(!has_channel || axis != rank - 1,
                    "by_axis " + std::to_string(*spec.by_axis) +
                        " is the channel axis, whose values are already reported per channel; "
                        "choose an earlier axis or no channel axis");
    layout.by_axis = axis;
    layout.report_by_axis = axis;
    layout.by_length = sample_shape[static_cast<std::size_t>(axis - 1)];
    std::int64_t keys = 1;
    for (int i = axis - 1; i < sample_rank; ++i) {
      const std::int64_t d = sample_shape[static_cast<std::size_t>(i)];
      GPUEVAL_EXPECTS(d == 0 || keys <= kMaxKeys / d,
                      "by_axis " + std::to_string(*spec.by_axis) + " on sample shape " +
                          shape_string(sample_shape) + " makes more than " +
                          std::to_string(kMaxKeys) + " keys; choose a later axis");
      keys *= d;
    }
    layout.keys = keys;
  } else {
    layout.keys = layout.channels;
  }
  GPUEVAL_EXPECTS(layout.keys <= kMaxKeys, "sample shape " + shape_string(sample_shape) +
                                               " makes " + std::to_string(layout.keys) +
                                               " keys, more than the cap of " +
                                               std::to_string(kMaxKeys));
  GPUEVAL_EXPECTS(layout.keys >= 1, "sample shape " + shape_string(sample_shape) +
                                        " has a zero-length key axis; nothing can be evaluated");
  if (spec.groups() & kGroupQuantile) {
    const std::int64_t buckets = ops::sketch::buckets(spec.quantile_bits());
    GPUEVAL_EXPECTS(layout.channels <= kMaxSketchWords / buckets,
                    "the quantile metrics keep " + std::to_string(buckets) +
                        " counts per channel; " + std::to_string(layout.channels) +
                        " channels exceed the sketch cap of " + std::to_string(kMaxSketchWords) +
                        " counts (raise quantile_alpha, or evaluate without a channel axis)");
  }
  return layout;
}

} // namespace gpueval

namespace gpueval {

const std::vector<OptionInfo>& RegressionSpec::option_infos() {
  static const std::vector<OptionInfo> infos = {
      {"metrics", "comma-separated metric names, 'default' or 'all'", "default"},
      {"channel_axis", "the axis that holds channels (-1: the last; 1 for [N, C, H, W]), or none",
       "-1"},
      {"by_axis", "breakdown axis of the tensors (e.g. 1 for time in [batch, time, channel])", ""},
      {"nan_policy", "skip, propagate or error", "skip"},
      {"quantile_alpha", "relative accuracy of median_absolute_error, abs_error_q90, abs_error_q99",
       "0.005"},
      {"sample_shape", "the shape of one sample (a batch without its first axis)", "", false},
  };
  return infos;
}

RegressionSpec RegressionSpec::from_options(const Options& options) {
  const detail::OptionReader o(options, "regression", option_infos());
  o.check_known();
  RegressionSpec spec;
  spec.metrics = parse_metric_list(o.text("metrics", "default"));
  const std::optional<std::int64_t> channel = o.integer("channel_axis", "none");
  if (!o.has("channel_axis")) {
    spec.channel_axis = -1;
  } else if (channel) {
    spec.channel_axis = static_cast<int>(*channel);
  } else {
    spec.channel_axis.reset();
  }
  if (const std::optional<std::int64_t> by = o.integer("by_axis", "none")) {
    spec.by_axis = static_cast<int>(*by);
  }
  spec.nan_policy = parse_nan_policy(o.text("nan_policy", "skip"));
  spec.quantile_alpha = o.real("quantile_alpha", 0.005);
  spec.sample_shape = o.shape("sample_shape");
  spec.validate();
  return spec;
}

Options RegressionSpec::to_options() const {
  Options o;
  std::string names;
  for (Metric m : metrics) {
    names += (names.empty() ? "" : ",") + std::string(metric_name(m));
  }
  o["metrics"] = names;
  o["channel_axis"] = channel_axis ? detail::option_text(std::int64_t{*channel_axis}) : "none";
  if (by_axis) {
    o["by_axis"] = detail::option_text(std::int64_t{*by_axis});
  }
  o["nan_policy"] = std::string(nan_policy_name(nan_policy));
  o["quantile_alpha"] = detail::option_text(quantile_alpha);
  if (!sample_shape.empty()) {
    o["sample_shape"] = detail::option_text(sample_shape);
  }
  return o;
}

} // namespace gpueval
