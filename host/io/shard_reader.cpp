// ShardReader: format detection, key selection and row windows.
#include <cstring>
#include <string>

#include "io/shard_reader.hpp"

namespace gpueval::io {

#ifdef GPUEVAL_WITH_TORCH
// pt_reader.cpp: a .pt file through LibTorch, as an in-memory source and its tensor.
std::pair<std::unique_ptr<ByteSource>, TensorInfo> open_pt(const std::string& path,
                                                           const std::string& key);
#endif

std::string sniff_format(const ByteSource& src) {
  unsigned char head[9] = {};
  const std::uint64_t n = std::min<std::uint64_t>(9, src.size());
  src.read_at(0, n, head);
  if (n >= 6 && std::memcmp(head, "\x93NUMPY", 6) == 0) {
    return "npy";
  }
  if (n >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) {
    return "pt"; // torch.save's zip container
  }
  if (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
    return "pt"; // a legacy pickle
  }
  if (n == 9 && head[8] == '{') {
    return "safetensors";
  }
  return "";
}

ShardReader ShardReader::from_source(std::unique_ptr<ByteSource> src, TensorInfo info) {
  return ShardReader(std::shared_ptr<ByteSource>(std::move(src)), std::move(info));
}

ShardReader ShardReader::open(const std::string& path, const std::string& key) {
  std::unique_ptr<ByteSource> src = open_file(path);
  const std::string format = sniff_format(*src);
  if (format == "npy") {
    if (!key.empty()) {
      throw ReadError(path + ": a .npy file holds one array; a key ('" + key +
                      "') applies to .safetensors and .pt files");
    }
    TensorInfo info = parse_npy(*src);
    return from_source(std::move(src), std::move(info));
  }
  if (format == "safetensors") {
    std::vector<TensorInfo> tensors = parse_safetensors(*src);
    std::string names;
    for (TensorInfo& t : tensors) {
      if (t.key == key || (key.empty() && tensors.size() == 1)) {
        TensorInfo chosen = std::move(t);
        return from_source(std::move(src), std::move(chosen));
      }
      names += (names.empty() ? "" : ", ") + t.key;
    }
    throw ReadError(path + ": " +
                    (key.empty() ? std::string("holds several tensors; name one with a key")
                                 : "has no tensor '" + key + "'") +
                    " (tensors: " + (names.empty() ? "none" : names) + ")");
  }
  if (format == "pt") {
#ifdef GPUEVAL_WITH_TORCH
    auto [pt_src, info] = open_pt(path, key);
    return from_source(std::move(pt_src), std::move(info));
#else
    throw ReadError(path + ": a PyTorch .pt file; this gpueval was built without LibTorch "
                           "(save the tensors as .npy or .safetensors, or build with "
                           "GPUEVAL_TORCH=ON)");
#endif
  }
  throw ReadError(path + ": not a .npy, .safetensors or .pt file (unrecognised first bytes)");
}

std::int64_t ShardReader::rows() const {
  return info_.shape.empty() ? 1 : info_.shape[0];
}

std::uint64_t ShardReader::row_bytes() const {
  std::uint64_t b = dtype_size(info_.dtype);
  for (std::size_t i = 1; i < info_.shape.size(); ++i) {
    b *= static_cast<std::uint64_t>(info_.shape[i]); // bounded: parse checked the product
  }
  return b;
}

void ShardReader::read_rows(std::int64_t row0, std::int64_t count, void* dst) const {
  if (row0 < 0 || count < 0 || row0 > rows() || count > rows() - row0) {
    throw ReadError(name() + ": rows [" + std::to_string(row0) + ", " +
                    std::to_string(row0 + count) + ") are outside the tensor's " +
                    std::to_string(rows()) + " rows");
  }
  const std::uint64_t rb = row_bytes();
  src_->read_at(info_.offset + static_cast<std::uint64_t>(row0) * rb,
                static_cast<std::uint64_t>(count) * rb, dst);
}

} // namespace gpueval::io
