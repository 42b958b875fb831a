// The envelope every family's state shares (layout in gpueval/state.hpp): magic, version, a
// header with the family tag and the fields every family has, the family's own header bytes, its
// payload, and a checksum. Families encode their payload with StateWriter and read it back with
// StateReader; nothing here knows a family's records.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/common.hpp"
#include "gpueval/error.hpp"
#include "gpueval/family.hpp"
#include "gpueval/policy.hpp"
#include "gpueval/state.hpp"

namespace gpueval::detail {

struct StateHeader {
  Family family{};
  std::uint32_t groups = 0; // the family's statistic groups (bits)
  NanPolicy nan_policy = NanPolicy::skip;
  bool has_channel_axis = false;
  int by_axis = -1; // -1: none
  std::vector<std::int64_t> sample_shape;
  std::uint64_t keys = 0; // the family's records or words in the payload
  std::uint64_t batches = 0;
  NonFiniteLocation first_nonfinite;
  std::vector<std::uint8_t> extra; // the family's own header fields
};

// Little-endian writers and readers, independent of the host's byte order.
class StateWriter {
public:
  explicit StateWriter(std::vector<std::uint8_t>& out) : out_(out) {}
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

class StateReader {
public:
  StateReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
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
  std::size_t left() const { return size_ - pos_; }

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

// Counts of which few are nonzero (an error sketch): how many are, then (index, count) pairs,
// indices ascending.
inline void write_sparse_counts(StateWriter& w, const std::vector<std::uint64_t>& counts) {
  std::uint64_t nonzero = 0;
  for (std::uint64_t c : counts) {
    nonzero += c != 0 ? 1 : 0;
  }
  w.u64(nonzero);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] != 0) {
      w.u64(i);
      w.u64(counts[i]);
    }
  }
}

// What write_sparse_counts wrote, as the pairs, for `size` counts: the rest of `r`. Throws
// StateError naming `what` ("quantile sketch") when the pairs do not fill it exactly, or an
// index is out of range or out of order, or a count is 0.
inline std::vector<std::pair<std::uint64_t, std::uint64_t>>
read_sparse_counts(StateReader& r, std::uint64_t size, const std::string& what) {
  const std::uint64_t n = r.u64();
  if (n != r.left() / 16 || r.left() % 16 != 0) {
    throw StateError("state blob's " + what + " holds " + std::to_string(r.left()) + " bytes for " +
                     std::to_string(n) + " counts");
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t index = r.u64(), count = r.u64();
    if (index >= size || count == 0 || (!out.empty() && index <= out.back().first)) {
      throw StateError("state blob's " + what + " is inconsistent (index " + std::to_string(index) +
                       ")");
    }
    out.emplace_back(index, count);
  }
  return out;
}

// Header + payload + checksum.
State seal_state(const StateHeader& header, const std::vector<std::uint8_t>& payload);

struct OpenedState {
  StateHeader header;
  const std::uint8_t* payload = nullptr; // into the State it was opened from
  std::size_t payload_size = 0;
};

// Checks magic, version and checksum (before trusting any size field), the header's
// consistency and that the family tag is a registered family's; throws StateError naming what
// is wrong.
OpenedState open_state(const State& state);

// Throws StateError ("the state is of the <its> family, not <name>") unless the header is of
// family `want`.
void expect_family(const StateHeader& header, Family want, std::string_view name);

} // namespace gpueval::detail
