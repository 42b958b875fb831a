// ShardReader: format detection, key selection and row windows.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

// .pt files go through libgpueval_pt.so (pt_reader.cpp), loaded on first use so that LibTorch is
// only paid for by runs that read .pt shards. Looked for in $GPUEVAL_PT_MODULE, beside the
// running executable's ../lib, and where the build put it.
using PtOpen = bool (*)(const std::string&, const std::string&, std::unique_ptr<ByteSource>&,
                        TensorInfo&, std::string&);

PtOpen load_pt_module(std::string& tried) {
  static std::mutex mutex;
  static PtOpen entry = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (entry != nullptr) {
    return entry;
  }
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("GPUEVAL_PT_MODULE")) {
    candidates.push_back(env);
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    candidates.push_back(dir + "/../lib/libgpueval_pt.so");
    candidates.push_back(dir + "/libgpueval_pt.so");
  }
#ifdef GPUEVAL_PT_MODULE_BUILD_PATH
  candidates.push_back(GPUEVAL_PT_MODULE_BUILD_PATH);
#endif
  for (const std::string& c : candidates) {
    tried += (tried.empty() ? "" : ", ") + c;
    if (void* handle = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      entry = reinterpret_cast<PtOpen>(::dlsym(handle, "gpueval_pt_open_v1"));
      if (entry != nullptr) {
        return entry;
      }
    } else if (::access(c.c_str(), F_OK) == 0) { // there, but it does not load: say why
      const char* why = ::dlerror();
      tried += std::string(" (") + (why != nullptr ? why : "cannot be loaded") + ")";
    }
  }
  return nullptr;
}

} // namespace

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
    std::string tried;
    const PtOpen open_pt = load_pt_module(tried);
    if (open_pt == nullptr) {
      throw ReadError(path +
                      ": a PyTorch .pt file; reading it needs libgpueval_pt.so, which is "
                      "built with LibTorch (GPUEVAL_TORCH) and was not found (tried " +
                      tried + "); save the tensors as .npy or .safetensors instead");
    }
    std::unique_ptr<ByteSource> pt_src;
    TensorInfo info;
    std::string error;
    if (!open_pt(path, key, pt_src, info, error)) {
      throw ReadError(error);
    }
    return from_source(std::move(pt_src), std::move(info));
  }
  throw ReadError(path + ": not a .npy, .safetensors or .pt file (unrecognised first bytes)");
}

std::int64_t ShardReader::rows() const {
  return info_.shape.empty() ? 1 : info_.shape[0];
}

bool row_size(DType dtype, const std::vector<std::int64_t>& shape, std::uint64_t& bytes) {
  bytes = dtype_size(dtype);
  for (std::size_t i = 1; i < shape.size(); ++i) {
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(shape[i]), &bytes)) {
      return false;
    }
  }
  return true;
}

std::uint64_t ShardReader::row_bytes() const {
  std::uint64_t b = 0;
  (void)row_size(info_.dtype, info_.shape, b); // the parsers rejected shapes that overflow
  return b;
}

void ShardReader::check_rows(std::int64_t row0, std::int64_t count) const {
  if (row0 < 0 || count < 0 || row0 > rows() || count > rows() - row0) {
    throw ReadError(name() + ": rows [" + std::to_string(row0) + ", " +
                    std::to_string(row0 + count) + ") are outside the tensor's " +
                    std::to_string(rows()) + " rows");
  }
}

void ShardReader::read_rows(std::int64_t row0, std::int64_t count, void* dst) const {
  check_rows(row0, count);
  const std::uint64_t rb = row_bytes();
  src_->read_at(info_.offset + static_cast<std::uint64_t>(row0) * rb,
                static_cast<std::uint64_t>(count) * rb, dst);
}

Mapped ShardReader::map_rows(std::int64_t row0, std::int64_t count) const {
  check_rows(row0, count);
  const std::uint64_t rb = row_bytes();
  return src_->map(info_.offset + static_cast<std::uint64_t>(row0) * rb,
                   static_cast<std::uint64_t>(count) * rb);
}

} // namespace gpueval::io
