// The state envelope shared by every family.
#include "core/state_blob.hpp"

#include "core/registry.hpp"

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

} // namespace

State seal_state(const StateHeader& h, const std::vector<std::uint8_t>& payload) {
  State state;
  std::vector<std::uint8_t>& out = state.bytes;
  const std::size_t header = kFixedHeader + 8 * h.sample_shape.size() + h.extra.size();
  out.reserve(header + payload.size() + 8);
  StateWriter w(out);
  for (char c : kMagic) {
    w.u8(static_cast<std::uint8_t>(c));
  }
  w.u32(kStateVersion);
  w.u32(static_cast<std::uint32_t>(header));
  w.u32(h.groups);
  w.u8(static_cast<std::uint8_t>(h.nan_policy));
  w.u8(h.has_channel_axis ? 1 : 0);
  w.u8(h.by_axis >= 0 ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(h.sample_shape.size()));
  w.u32(h.by_axis >= 0 ? static_cast<std::uint32_t>(h.by_axis) : 0u);
  w.u32(static_cast<std::uint32_t>(h.family));
  w.u64(h.keys);
  w.u64(h.batches);
  w.u64(h.first_nonfinite.batch);
  w.u64(h.first_nonfinite.element);
  for (std::int64_t d : h.sample_shape) {
    w.u64(static_cast<std::uint64_t>(d));
  }
  out.insert(out.end(), h.extra.begin(), h.extra.end());
  out.insert(out.end(), payload.begin(), payload.end());
  w.u64(fnv1a(out.data(), out.size()));
  return state;
}

OpenedState open_state(const State& state) {
  const std::vector<std::uint8_t>& in = state.bytes;
  if (in.size() < kFixedHeader + 8) {
    throw StateError("state blob is truncated: " + std::to_string(in.size()) +
                     " bytes is shorter than any state (" + std::to_string(kFixedHeader + 8) + ")");
  }
  if (std::memcmp(in.data(), kMagic, 8) != 0) {
    throw StateError("not a gpueval state blob (bad magic)");
  }
  StateReader r(in.data() + 8, in.size() - 16);
  const std::uint32_t version = r.u32();
  if (version != kStateVersion) {
    throw StateError("state blob has version " + std::to_string(version) +
                     "; this gpueval reads version " + std::to_string(kStateVersion));
  }
  std::uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) {
    stored |= static_cast<std::uint64_t>(in[in.size() - 8 + static_cast<std::size_t>(i)])
              << (8 * i);
  }
  if (fnv1a(in.data(), in.size() - 8) != stored) {
    throw StateError("state blob is corrupted or truncated: checksum mismatch");
  }
  OpenedState o;
  StateHeader& h = o.header;
  const std::uint32_t header = r.u32();
  h.groups = r.u32();
  const std::uint8_t policy = r.u8();
  if (policy > 2) {
    throw StateError("state blob has unknown nan policy " + std::to_string(policy));
  }
  h.nan_policy = static_cast<NanPolicy>(policy);
  h.has_channel_axis = r.u8() != 0;
  const bool has_by = r.u8() != 0;
  const std::uint8_t rank = r.u8();
  const std::uint32_t by_axis = r.u32();
  h.by_axis = has_by ? static_cast<int>(by_axis) : -1;
  const std::uint32_t family = r.u32();
  h.family = static_cast<Family>(family);
  if (family > 255) {
    throw StateError("state blob is of metric family " + std::to_string(family) +
                     ", which this gpueval does not know");
  }
  (void)family_entry_of_tag(h.family); // a registered family, or a StateError naming the tag
  h.keys = r.u64();
  h.batches = r.u64();
  h.first_nonfinite.batch = r.u64();
  h.first_nonfinite.element = r.u64();
  if (rank >= kMaxRank || header < kFixedHeader + 8u * rank || header > in.size() - 8) {
    throw StateError("state blob header is inconsistent (rank " + std::to_string(rank) +
                     ", header size " + std::to_string(header) + ")");
  }
  for (int i = 0; i < rank; ++i) {
    h.sample_shape.push_back(static_cast<std::int64_t>(r.u64()));
  }
  const std::size_t fixed = kFixedHeader + 8u * rank;
  h.extra.assign(in.begin() + static_cast<std::ptrdiff_t>(fixed),
                 in.begin() + static_cast<std::ptrdiff_t>(header));
  o.payload = in.data() + header;
  o.payload_size = in.size() - 8 - header;
  return o;
}

void expect_family(const StateHeader& header, Family want, std::string_view name) {
  if (header.family != want) {
    throw StateError("the state is of the " + family_entry_of_tag(header.family).description.name +
                     " family, not " + std::string(name));
  }
}

} // namespace gpueval::detail
