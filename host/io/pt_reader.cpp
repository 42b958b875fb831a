// .pt files written by Python's torch.save: one tensor, or a dict of tensors selected by key.
// torch::pickle_load needs the whole file in memory, so a .pt shard is read whole and its tensor
// kept in memory while it is evaluated (unlike .npy and .safetensors, which stream by rows).
//
// Built as a module (libgpueval_pt.so) that shard_reader.cpp loads with dlopen the first time
// it meets a .pt file: LibTorch costs ~160 MB of resident memory and ~0.3 s to load, which a
// run over .npy or .safetensors shards should not pay.
#include <torch/serialize.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

// A tensor's bytes, owned.
class OwnedSource final : public ByteSource {
public:
  OwnedSource(std::vector<std::uint8_t> bytes, std::string name)
      : bytes_(std::move(bytes)), name_(std::move(name)) {}
  std::uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }
  void read_at(std::uint64_t offset, std::uint64_t n, void* dst) const override {
    if (offset > bytes_.size() || n > bytes_.size() - offset) {
      throw ReadError(name_ + ": read past the end of the tensor");
    }
    if (n > 0) {
      std::memcpy(dst, bytes_.data() + offset, n);
    }
  }

private:
  std::vector<std::uint8_t> bytes_;
  std::string name_;
};

DType dtype_of(const std::string& path, const std::string& key, c10::ScalarType t) {
  switch (t) {
  case c10::kHalf:
    return DType::f16;
  case c10::kBFloat16:
    return DType::bf16;
  case c10::kFloat:
    return DType::f32;
  case c10::kDouble:
    return DType::f64;
  case c10::kChar:
    return DType::i8;
  case c10::kShort:
    return DType::i16;
  case c10::kInt:
    return DType::i32;
  case c10::kLong:
    return DType::i64;
  case c10::kByte:
    return DType::u8;
  case c10::kBool:
    return DType::boolean;
  default:
    throw ReadError(path + ": tensor" + (key.empty() ? "" : " '" + key + "'") + " has dtype " +
                    std::string(c10::toString(t)) + ", which is not supported");
  }
}

} // namespace

namespace {
std::pair<std::unique_ptr<ByteSource>, TensorInfo> open_pt(const std::string& path,
                                                           const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ReadError(path + ": cannot open");
  }
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  torch::IValue value;
  try {
    value = torch::pickle_load(data);
  } catch (const c10::Error& e) {
    throw ReadError(path + ": not a readable torch.save file: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw ReadError(path + ": not a readable torch.save file: " + e.what());
  }
  torch::Tensor tensor;
  if (value.isTensor()) {
    if (!key.empty()) {
      throw ReadError(path + ": holds one tensor, not a dict; a key ('" + key +
                      "') does not apply");
    }
    tensor = value.toTensor();
  } else if (value.isGenericDict()) {
    std::string names;
    for (const auto& item : value.toGenericDict()) {
      if (!item.key().isString()) {
        continue;
      }
      const std::string name = item.key().toStringRef();
      if (name == key && item.value().isTensor()) {
        tensor = item.value().toTensor();
      }
      names += (names.empty() ? "" : ", ") + name;
    }
    if (!tensor.defined()) {
      throw ReadError(path + ": " +
                      (key.empty() ? std::string("holds a dict; name a tensor with a key")
                                   : "has no tensor '" + key + "'") +
                      " (keys: " + (names.empty() ? "none" : names) + ")");
    }
  } else {
    throw ReadError(path + ": holds a " + value.tagKind() + ", not a tensor or a dict of tensors");
  }
  TensorInfo info;
  info.key = key;
  info.dtype = dtype_of(path, key, tensor.scalar_type());
  tensor = tensor.contiguous().to(torch::kCPU);
  for (std::int64_t d : tensor.sizes()) {
    info.shape.push_back(d);
  }
  info.bytes = static_cast<std::uint64_t>(tensor.numel()) * dtype_size(info.dtype);
  std::vector<std::uint8_t> bytes(info.bytes);
  if (info.bytes > 0) {
    std::memcpy(bytes.data(), tensor.data_ptr(), info.bytes);
  }
  return {std::make_unique<OwnedSource>(std::move(bytes), path), std::move(info)};
}
} // namespace

} // namespace gpueval::io

// The module's entry point (see shard_reader.cpp). Errors come back as text, not exceptions, so
// that nothing unwinds across the dlopen boundary.
extern "C" __attribute__((visibility("default"))) bool
gpueval_pt_open_v1(const std::string& path, const std::string& key,
                   std::unique_ptr<gpueval::io::ByteSource>& source, gpueval::io::TensorInfo& info,
                   std::string& error) {
  try {
    auto opened = gpueval::io::open_pt(path, key);
    source = std::move(opened.first);
    info = std::move(opened.second);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}
