#include "io/shard_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File create(const std::string& path) {
  File f(std::fopen(path.c_str(), "wb"));
  if (!f) {
    throw ReadError(path + ": cannot create: " + std::strerror(errno));
  }
  return f;
}

void put(std::FILE* f, const std::string& path, const void* data, std::size_t n) {
  if (n > 0 && std::fwrite(data, 1, n, f) != n) {
    throw ReadError(path + ": write failed: " + std::strerror(errno));
  }
}

void finish(File f, const std::string& path) {
  std::FILE* raw = f.release();
  if (std::fclose(raw) != 0) {
    throw ReadError(path + ": write failed: " + std::strerror(errno));
  }
}

std::uint64_t byte_count(const TensorBytes& t) {
  std::uint64_t n = dtype_size(t.dtype);
  for (std::int64_t d : t.shape) {
    n *= static_cast<std::uint64_t>(d);
  }
  return n;
}

const char* safetensors_dtype(DType d) {
  switch (d) {
  case DType::f16:
    return "F16";
  case DType::bf16:
    return "BF16";
  case DType::f32:
    return "F32";
  case DType::f64:
    return "F64";
  case DType::i8:
    return "I8";
  case DType::i16:
    return "I16";
  case DType::i32:
    return "I32";
  case DType::i64:
    return "I64";
  case DType::u8:
    return "U8";
  case DType::boolean:
    return "BOOL";
  }
  return "?";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

} // namespace

std::string npy_descr(DType d) {
  switch (d) {
  case DType::f16:
    return "<f2";
  case DType::f32:
    return "<f4";
  case DType::f64:
    return "<f8";
  case DType::i8:
    return "|i1";
  case DType::i16:
    return "<i2";
  case DType::i32:
    return "<i4";
  case DType::i64:
    return "<i8";
  case DType::u8:
    return "|u1";
  case DType::boolean:
    return "|b1";
  case DType::bf16:
    return "";
  }
  return "";
}

void write_npy(const std::string& path, const TensorBytes& t) {
  const std::string descr = npy_descr(t.dtype);
  if (descr.empty()) {
    throw ReadError(path + ": .npy cannot hold bfloat16; use .safetensors");
  }
  std::string shape = "(";
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    shape +=
        std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
    if (i + 1 < t.shape.size()) {
      shape += " ";
    }
  }
  shape += ")";
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // numpy pads the header with spaces so that the data starts on a 64-byte boundary.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) {
    throw ReadError(path + ": shape too long for a version 1.0 header");
  }
  File f = create(path);
  unsigned char pre[10] = {0x93,
                           'N',
                           'U',
                           'M',
                           'P',
                           'Y',
                           1,
                           0,
                           static_cast<unsigned char>(header.size() & 0xff),
                           static_cast<unsigned char>(header.size() >> 8)};
  put(f.get(), path, pre, sizeof pre);
  put(f.get(), path, header.data(), header.size());
  put(f.get(), path, t.data, byte_count(t));
  finish(std::move(f), path);
}

void write_safetensors(const std::string& path, const std::vector<TensorBytes>& tensors) {
  std::string header = "{";
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorBytes& t = tensors[i];
    std::string shape = "[";
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      shape += (d ? "," : "") + std::to_string(t.shape[d]);
    }
    shape += "]";
    const std::uint64_t n = byte_count(t);
    header += (i ? "," : "") + std::string("\"") + json_escape(t.key) + "\":{\"dtype\":\"" +
              safetensors_dtype(t.dtype) + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' '); // the format's recommended alignment
  File f = create(path);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) {
    len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  }
  put(f.get(), path, len, sizeof len);
  put(f.get(), path, header.data(), header.size());
  for (const TensorBytes& t : tensors) {
    put(f.get(), path, t.data, byte_count(t));
  }
  finish(std::move(f), path);
}

} // namespace gpueval::io
