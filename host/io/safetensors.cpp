// .safetensors: 8-byte little-endian header length, a JSON header, then the data region
// (https://github.com/huggingface/safetensors, "Format").
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

// The format's own limit on the header.
constexpr std::uint64_t kMaxHeader = 100u << 20;

[[noreturn]] void fail(const ByteSource& src, const std::string& why) {
  throw ReadError(src.name() + ": not a readable .safetensors file: " + why);
}

DType dtype_of(const ByteSource& src, const std::string& key, const std::string& name) {
  static constexpr struct {
    const char* name;
    DType dtype;
  } known[] = {{"F16", DType::f16},     {"BF16", DType::bf16}, {"F32", DType::f32},
               {"F64", DType::f64},     {"I8", DType::i8},     {"I16", DType::i16},
               {"I32", DType::i32},     {"I64", DType::i64},   {"U8", DType::u8},
               {"BOOL", DType::boolean}};
  for (const auto& k : known) {
    if (name == k.name) {
      return k.dtype;
    }
  }
  fail(src, "tensor '" + key + "' has dtype " + name + ", which is not supported (" +
                "F16, BF16, F32, F64, I8, I16, I32, I64, U8, BOOL are)");
}

std::uint64_t as_u64(const ByteSource& src, const std::string& key, const nlohmann::json& v,
                     const char* what) {
  if (!v.is_number_unsigned()) {
    fail(src, "tensor '" + key + "': " + what + " must be non-negative integers");
  }
  return v.get<std::uint64_t>();
}

} // namespace

std::vector<TensorInfo> parse_safetensors(const ByteSource& src) {
  if (src.size() < 8) {
    fail(src, "file is " + std::to_string(src.size()) + " bytes, shorter than the header length");
  }
  unsigned char len_bytes[8];
  src.read_at(0, 8, len_bytes);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) {
    n = (n << 8) | len_bytes[i];
  }
  if (n > kMaxHeader || n > src.size() - 8) {
    fail(src, "header length " + std::to_string(n) + " is larger than the file (" +
                  std::to_string(src.size()) + " bytes) or than 100 MiB");
  }
  std::string text(n, '\0');
  src.read_at(8, n, text.data());

  // Duplicate keys are an error in the format; nlohmann keeps the last silently, so a callback
  // watches the top-level keys.
  std::set<std::string> keys;
  bool duplicate = false;
  std::string duplicate_key;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(
        text, [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (depth == 1 && event == nlohmann::json::parse_event_t::key) {
            const std::string k = parsed.get<std::string>();
            if (!keys.insert(k).second) {
              duplicate = true;
              duplicate_key = k;
            }
          }
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    fail(src, std::string("header is not valid JSON: ") + e.what());
  }
  if (duplicate) {
    fail(src, "header names tensor '" + duplicate_key + "' twice");
  }
  if (!header.is_object()) {
    fail(src, "header is not a JSON object");
  }
  const std::uint64_t data_start = 8 + n;
  const std::uint64_t data_size = src.size() - data_start;
  std::vector<TensorInfo> out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    if (key == "__metadata__") {
      continue;
    }
    const nlohmann::json& t = it.value();
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") ||
        !t.contains("data_offsets")) {
      fail(src, "tensor '" + key + "' lacks dtype, shape or data_offsets");
    }
    if (!t["dtype"].is_string() || !t["shape"].is_array() || !t["data_offsets"].is_array() ||
        t["data_offsets"].size() != 2) {
      fail(src, "tensor '" + key + "' has a malformed dtype, shape or data_offsets");
    }
    TensorInfo info;
    info.key = key;
    info.dtype = dtype_of(src, key, t["dtype"].get<std::string>());
    std::uint64_t bytes = dtype_size(info.dtype);
    if (t["shape"].size() > 32) {
      fail(src, "tensor '" + key + "' has more than 32 dimensions");
    }
    for (const nlohmann::json& d : t["shape"]) {
      const std::uint64_t dim = as_u64(src, key, d, "shape dimensions");
      if (dim > static_cast<std::uint64_t>(INT64_MAX) ||
          __builtin_mul_overflow(bytes, dim, &bytes)) {
        fail(src, "tensor '" + key + "' has a shape whose size overflows 64 bits");
      }
      info.shape.push_back(static_cast<std::int64_t>(dim));
    }
    std::uint64_t row = 0;
    if (!row_size(info.dtype, info.shape, row)) {
      fail(src, "tensor '" + key + "' has a shape whose row size overflows 64 bits");
    }
    const std::uint64_t begin = as_u64(src, key, t["data_offsets"][0], "data_offsets");
    const std::uint64_t end = as_u64(src, key, t["data_offsets"][1], "data_offsets");
    if (begin > end) {
      fail(src, "tensor '" + key + "' has reversed data_offsets [" + std::to_string(begin) + ", " +
                    std::to_string(end) + "]");
    }
    if (end > data_size) {
      fail(src, "tensor '" + key + "' has data_offsets [" + std::to_string(begin) + ", " +
                    std::to_string(end) + "] outside the data region (" +
                    std::to_string(data_size) + " bytes)");
    }
    if (end - begin != bytes) {
      fail(src, "tensor '" + key + "' has data_offsets [" + std::to_string(begin) + ", " +
                    std::to_string(end) + "] for " + std::to_string(bytes) +
                    " bytes of shape x dtype");
    }
    info.offset = data_start + begin;
    info.bytes = bytes;
    out.push_back(std::move(info));
  }
  // No two tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : out) {
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    if (a.bytes > 0 && b.bytes > 0 && b.offset < a.offset + a.bytes) {
      fail(src, "tensors '" + a.key + "' and '" + b.key + "' overlap in the data region");
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.offset < b.offset; });
  return out;
}

} // namespace gpueval::io
