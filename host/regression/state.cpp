#include "regression/state.hpp"

#include "core/state_blob.hpp"

#include <string>

#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"
#include "gpueval/regression.hpp"

namespace gpueval::detail {

namespace {

// A header bit beside the statistic groups: the records carry their weights' sums (a weighted
// evaluation). Unweighted states leave it out and keep the layout they always had (w = n).
constexpr std::uint32_t kWeightedRecords = 1u << 16;

std::size_t record_bytes(unsigned groups, bool weighted) {
  std::size_t n = 2 * 8 + 12 * 8 + (weighted ? 8 : 0);
  for (unsigned bit : {unsigned{kGroupRange}, unsigned{kGroupPct}, unsigned{kGroupLog}}) {
    n += (groups & bit) ? 16 : 0;
  }
  return n;
}

} // namespace

State encode_state(const RegressionSpec& spec, const std::vector<std::int64_t>& sample_shape,
                   const KeyLayout& layout, std::uint64_t batches, NonFiniteLocation where,
                   const std::vector<FullRecord>& records,
                   const std::vector<std::uint64_t>& sketch) {
  const unsigned groups = spec.groups();
  bool weighted = false;
  for (const FullRecord& r : records) {
    weighted = weighted || r.w != static_cast<double>(r.n);
  }
  StateHeader h;
  h.family = kRegressionFamily;
  h.groups = groups | (weighted ? kWeightedRecords : 0);
  h.nan_policy = spec.nan_policy;
  h.has_channel_axis = spec.channel_axis.has_value();
  h.by_axis = layout.by_axis;
  h.sample_shape = sample_shape;
  h.keys = static_cast<std::uint64_t>(layout.keys);
  h.batches = batches;
  h.first_nonfinite = where;
  std::vector<std::uint8_t> payload;
  payload.reserve(records.size() * record_bytes(groups, weighted));
  StateWriter w(payload);
  for (const FullRecord& r : records) {
    w.u64(r.n);
    if (weighted) {
      w.f64(r.w);
    }
    w.u64(r.skipped_nonfinite);
    for (double v : {r.ref_p, r.ref_t, r.ref_e, r.dmean_p, r.dmean_t, r.dmean_e, r.m2_p, r.m2_t,
                     r.m2_e, r.c_pt, r.sum_abs_e, r.max_abs_e}) {
      w.f64(v);
    }
    if (groups & kGroupRange) {
      w.f64(r.min_t);
      w.f64(r.max_t);
    }
    if (groups & kGroupPct) {
      w.f64(r.sum_ape);
      w.f64(r.sum_sape);
    }
    if (groups & kGroupLog) {
      w.f64(r.sum_sle);
      w.u64(r.n_sle_out_of_domain);
    }
  }
  if (groups & kGroupQuantile) {
    w.u64(static_cast<std::uint64_t>(spec.quantile_bits()));
    w.f64(spec.quantile_alpha); // as asked: a spec made from the state asks the same
    write_sparse_counts(w, sketch);
  }
  return seal_state(h, payload);
}

DecodedState decode_state(const State& state) {
  const OpenedState o = open_state(state);
  const StateHeader& h = o.header;
  expect_family(h, kRegressionFamily, "regression");
  DecodedState d;
  const bool weighted = (h.groups & kWeightedRecords) != 0;
  d.groups = h.groups & ~kWeightedRecords;
  if ((d.groups & ~static_cast<unsigned>(kKnownGroups)) != 0) {
    throw StateError("state blob has unknown statistic groups " + std::to_string(d.groups));
  }
  if (!h.extra.empty()) {
    throw StateError("state blob header is inconsistent (" + std::to_string(h.extra.size()) +
                     " bytes of unknown header fields)");
  }
  d.nan_policy = h.nan_policy;
  d.has_channel_axis = h.has_channel_axis;
  d.by_axis = h.by_axis;
  d.sample_shape = h.sample_shape;
  d.batches = h.batches;
  d.first_nonfinite = h.first_nonfinite;
  const std::uint64_t keys = h.keys;
  const std::size_t rb = record_bytes(d.groups, weighted);
  const bool quantile = (d.groups & kGroupQuantile) != 0;
  if (keys == 0 || keys > static_cast<std::uint64_t>(kMaxKeys) ||
      (quantile ? o.payload_size < keys * rb + 24 : o.payload_size != keys * rb)) {
    throw StateError("state blob holds " + std::to_string(o.payload_size) + " record bytes for " +
                     std::to_string(keys) + " keys of " + std::to_string(rb) + " bytes");
  }
  StateReader r(o.payload, quantile ? keys * rb : o.payload_size);
  d.records.resize(keys);
  for (FullRecord& rec : d.records) {
    rec.n = r.u64();
    rec.w = weighted ? r.f64() : static_cast<double>(rec.n);
    if (!(rec.w >= 0) || (rec.w == 0) != (rec.n == 0)) {
      throw StateError("state blob's record is inconsistent (weight sum " + std::to_string(rec.w) +
                       " for " + std::to_string(rec.n) + " pairs)");
    }
    rec.skipped_nonfinite = r.u64();
    for (double* v : {&rec.ref_p, &rec.ref_t, &rec.ref_e, &rec.dmean_p, &rec.dmean_t, &rec.dmean_e,
                      &rec.m2_p, &rec.m2_t, &rec.m2_e, &rec.c_pt, &rec.sum_abs_e, &rec.max_abs_e}) {
      *v = r.f64();
    }
    if (d.groups & kGroupRange) {
      rec.min_t = r.f64();
      rec.max_t = r.f64();
    }
    if (d.groups & kGroupPct) {
      rec.sum_ape = r.f64();
      rec.sum_sape = r.f64();
    }
    if (d.groups & kGroupLog) {
      rec.sum_sle = r.f64();
      rec.n_sle_out_of_domain = r.u64();
    }
  }
  if (quantile) {
    StateReader q(o.payload + keys * rb, o.payload_size - keys * rb);
    const std::uint64_t bits = q.u64();
    if (bits < ops::sketch::kMinBits || bits > ops::sketch::kMaxBits) {
      throw StateError("state blob's quantile sketch has " + std::to_string(bits) +
                       " mantissa bits, outside 1..10");
    }
    d.sketch_bits = static_cast<int>(bits);
    d.quantile_alpha = q.f64();
    if (!(d.quantile_alpha > 0) ||
        ops::sketch::mantissa_bits_for(d.quantile_alpha) != d.sketch_bits) {
      throw StateError("state blob's quantile sketch is inconsistent (quantile_alpha " +
                       std::to_string(d.quantile_alpha) + " with " + std::to_string(bits) +
                       " mantissa bits)");
    }
    const std::uint64_t channels = d.has_channel_axis && !d.sample_shape.empty()
                                       ? static_cast<std::uint64_t>(d.sample_shape.back())
                                       : 1;
    const auto size = channels * static_cast<std::uint64_t>(ops::sketch::buckets(d.sketch_bits));
    d.sketch = read_sparse_counts(q, size, "quantile sketch");
  }
  return d;
}

} // namespace gpueval::detail

namespace gpueval {

StateInfo inspect_state(const State& state) {
  const detail::DecodedState d = detail::decode_state(state);
  StateInfo info;
  info.groups = d.groups;
  info.nan_policy = d.nan_policy;
  if (d.has_channel_axis) {
    info.channel_axis = -1;
  }
  if (d.by_axis >= 0) {
    info.by_axis = d.by_axis;
  }
  info.sample_shape = d.sample_shape;
  info.keys = static_cast<std::int64_t>(d.records.size());
  info.batches = d.batches;
  for (const detail::FullRecord& r : d.records) {
    info.count += r.n;
  }
  if (d.sketch_bits > 0) {
    info.quantile_alpha = d.quantile_alpha;
  }
  return info;
}

RegressionSpec StateInfo::spec(std::vector<Metric> metrics) const {
  RegressionSpec s;
  s.metrics = metrics.empty() ? metrics_for_groups(groups) : std::move(metrics);
  GPUEVAL_EXPECTS((s.groups() & groups) == s.groups(),
                  "these metrics need the statistics " + group_names(s.groups()) +
                      " but the state holds " + group_names(groups) +
                      "; name metrics that the state was computed for");
  s.nan_policy = nan_policy;
  s.channel_axis = channel_axis;
  s.by_axis = by_axis;
  s.sample_shape = sample_shape;
  s.quantile_alpha = quantile_alpha;
  s.validate();
  return s;
}

} // namespace gpueval
