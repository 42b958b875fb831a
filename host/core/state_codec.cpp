#include "core/state_codec.hpp"

#include <cstring>
#include <string>

#include "gpueval/error.hpp"
#include "gpueval/metrics.hpp"

namespace gpueval::detail {

namespace {

constexpr char kMagic[8] = {'G', 'P', 'U', 'E', 'V', 'S', 'T', '\0'};
constexpr std::size_t kFixedHeader = 64;

std::uint64_t fnv1a(const std::uint8_t* data, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

// Little-endian writers/readers, independent of the host's byte order.
class Writer {
public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
      out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
  }
  void f64(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
  }

private:
  std::vector<std::uint8_t>& out_;
};

class Reader {
public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t u8() { return *take(1); }
  std::uint32_t u32() {
    const std::uint8_t* p = take(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    }
    return v;
  }
  std::uint64_t u64() {
    const std::uint8_t* p = take(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    }
    return v;
  }
  double f64() {
    const std::uint64_t bits = u64();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  std::size_t position() const { return pos_; }

private:
  const std::uint8_t* take(std::size_t n) {
    if (size_ - pos_ < n) {
      throw StateError("state blob is truncated: needs more than " + std::to_string(size_) +
                       " bytes");
    }
    const std::uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

std::size_t record_bytes(unsigned groups) {
  std::size_t n = 2 * 8 + 12 * 8;
  for (unsigned bit : {unsigned{kGroupRange}, unsigned{kGroupPct}, unsigned{kGroupLog}}) {
    n += (groups & bit) ? 16 : 0;
  }
  return n;
}

} // namespace

State encode_state(const RegressionSpec& spec, const std::vector<std::int64_t>& sample_shape,
                   const KeyLayout& layout, std::uint64_t batches, NonFiniteLocation where,
                   const std::vector<FullRecord>& records) {
  const unsigned groups = spec.groups();
  State state;
  std::vector<std::uint8_t>& out = state.bytes;
  const std::size_t header = kFixedHeader + 8 * sample_shape.size();
  out.reserve(header + records.size() * record_bytes(groups) + 8);
  Writer w(out);
  for (char c : kMagic) {
    w.u8(static_cast<std::uint8_t>(c));
  }
  w.u32(kStateVersion);
  w.u32(static_cast<std::uint32_t>(header));
  w.u32(groups);
  w.u8(static_cast<std::uint8_t>(spec.nan_policy));
  w.u8(spec.channel_axis ? 1 : 0);
  w.u8(layout.by_axis >= 0 ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(sample_shape.size()));
  w.u32(layout.by_axis >= 0 ? static_cast<std::uint32_t>(layout.by_axis) : 0u);
  w.u32(0);
  w.u64(static_cast<std::uint64_t>(layout.keys));
  w.u64(batches);
  w.u64(where.batch);
  w.u64(where.element);
  for (std::int64_t d : sample_shape) {
    w.u64(static_cast<std::uint64_t>(d));
  }
  for (const FullRecord& r : records) {
    w.u64(r.n);
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
  w.u64(fnv1a(out.data(), out.size()));
  return state;
}

DecodedState decode_state(const State& state) {
  const std::vector<std::uint8_t>& in = state.bytes;
  if (in.size() < kFixedHeader + 8) {
    throw StateError("state blob is truncated: " + std::to_string(in.size()) +
                     " bytes is shorter than any state (" + std::to_string(kFixedHeader + 8) + ")");
  }
  if (std::memcmp(in.data(), kMagic, 8) != 0) {
    throw StateError("not a gpueval state blob (bad magic)");
  }
  Reader r(in.data() + 8, in.size() - 8);
  const std::uint32_t version = r.u32();
  if (version != kStateVersion) {
    throw StateError("state blob has version " + std::to_string(version) +
                     "; this gpueval reads version " + std::to_string(kStateVersion));
  }
  // Checksum before trusting any size field.
  std::uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) {
    stored |= static_cast<std::uint64_t>(in[in.size() - 8 + static_cast<std::size_t>(i)])
              << (8 * i);
  }
  if (fnv1a(in.data(), in.size() - 8) != stored) {
    throw StateError("state blob is corrupted or truncated: checksum mismatch");
  }
  DecodedState d;
  const std::uint32_t header = r.u32();
  d.groups = r.u32();
  if ((d.groups & ~static_cast<unsigned>(kAllGroups)) != 0) {
    throw StateError("state blob has unknown statistic groups " + std::to_string(d.groups));
  }
  const std::uint8_t policy = r.u8();
  if (policy > 2) {
    throw StateError("state blob has unknown nan policy " + std::to_string(policy));
  }
  d.nan_policy = static_cast<NanPolicy>(policy);
  d.has_channel_axis = r.u8() != 0;
  const bool has_by = r.u8() != 0;
  const std::uint8_t rank = r.u8();
  const std::uint32_t by_axis = r.u32();
  d.by_axis = has_by ? static_cast<int>(by_axis) : -1;
  (void)r.u32();
  const std::uint64_t keys = r.u64();
  d.batches = r.u64();
  d.first_nonfinite.batch = r.u64();
  d.first_nonfinite.element = r.u64();
  if (rank >= kMaxRank || header != kFixedHeader + 8u * rank) {
    throw StateError("state blob header is inconsistent (rank " + std::to_string(rank) +
                     ", header size " + std::to_string(header) + ")");
  }
  for (int i = 0; i < rank; ++i) {
    d.sample_shape.push_back(static_cast<std::int64_t>(r.u64()));
  }
  const std::size_t payload = in.size() - 8 - header;
  const std::size_t rb = record_bytes(d.groups);
  if (keys == 0 || keys > static_cast<std::uint64_t>(kMaxKeys) || payload != keys * rb) {
    throw StateError("state blob holds " + std::to_string(payload) + " record bytes for " +
                     std::to_string(keys) + " keys of " + std::to_string(rb) + " bytes");
  }
  d.records.resize(keys);
  for (FullRecord& rec : d.records) {
    rec.n = r.u64();
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
  s.validate();
  return s;
}

} // namespace gpueval
