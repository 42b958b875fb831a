// Writers for the shard formats the readers accept: .npy (version 1.0, C order, little-endian)
// and .safetensors. Used by `gpu-eval synth` and by tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpueval/dtype.hpp"

namespace gpueval::io {

struct TensorBytes {
  std::string key; // safetensors key
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr; // numel * itemsize bytes, C order
};

// Throws ReadError (naming the file) when the file cannot be written, or for bfloat16, which
// .npy cannot hold.
void write_npy(const std::string& path, const TensorBytes& tensor);
void write_safetensors(const std::string& path, const std::vector<TensorBytes>& tensors);

// numpy's descr for a dtype ("<f4"); empty for bfloat16.
std::string npy_descr(DType d);

} // namespace gpueval::io
