// Tensor shard readers: .npy and .safetensors (and .pt with LibTorch), read by row windows into
// caller buffers or mapped a window at a time, so that memory does not grow with the file.
//
// Every failure is a ReadError whose message starts with the file's name and says what is wrong;
// a reader never returns numbers it is not sure of.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpueval/dtype.hpp"
#include "gpueval/error.hpp"

namespace gpueval::io {

class ReadError : public Error {
public:
  using Error::Error;
};

// Bytes a source lends in place; `hold` releases them (a file mapping: munmap) when the last
// copy goes.
struct Mapped {
  const unsigned char* data = nullptr;
  std::shared_ptr<const void> hold;
  int guard = -1; // a file mapping's slot in the SIGBUS guard (mapping_guard.hpp)
  // Whether the file shrank under a read of these bytes (truncated or rewritten in place while
  // mapped): the bytes read were zeros, not the file's. Ask after using them.
  bool lost() const;
};

// Where a tensor's bytes are: anything that can be read at an offset.
class ByteSource {
public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  // Reads exactly n bytes at offset into dst; throws ReadError (naming the source) otherwise.
  virtual void read_at(std::uint64_t offset, std::uint64_t n, void* dst) const = 0;
  // The n bytes at offset in place, without a copy (a file: mapped read-only, its pages already
  // faulted in), or data == nullptr where this source cannot (then read_at). Throws ReadError for
  // a range past the end.
  // (Defined here, not in a .cpp, so that ByteSource keeps no key function: the .pt plugin
  // subclasses it without linking the io library.)
  virtual Mapped map(std::uint64_t /*offset*/, std::uint64_t /*n*/) const { return {}; }
  virtual const std::string& name() const = 0;
};

// A file read with pread into the caller's buffers, or mapped a window at a time (map(): the
// mapping's pages are resident while it lives, so callers keep few windows mapped).
std::unique_ptr<ByteSource> open_file(const std::string& path);
// Bytes in memory (tests, fuzzing). The bytes must outlive the source.
std::unique_ptr<ByteSource> memory_source(const std::uint8_t* data, std::size_t size,
                                          std::string name);

struct TensorInfo {
  std::string key; // the safetensors key; empty for .npy
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0; // of the first byte, in the source
  std::uint64_t bytes = 0;  // numel * itemsize
};

// Bytes in one row (the product of shape[1:] and the item size); false when it overflows 64 bits.
// The parsers reject such shapes, so row_bytes() of an opened reader never overflows.
bool row_size(DType dtype, const std::vector<std::int64_t>& shape, std::uint64_t& bytes);

// Header parsers. They read only what they need from the source and validate everything against
// its size. Throw ReadError.
TensorInfo parse_npy(const ByteSource& src);
// Every tensor of a .safetensors file, in file order; __metadata__ is skipped.
std::vector<TensorInfo> parse_safetensors(const ByteSource& src);

// One tensor of one shard, read by rows (the leading axis).
class ShardReader {
public:
  // .npy: the file's array. .safetensors: the tensor named `key` (ReadError listing the keys
  // present when it is absent). .pt: through LibTorch when built with it (reads the whole file;
  // see pt_reader.cpp). The format is chosen by the file's contents, not its name.
  static ShardReader open(const std::string& path, const std::string& key = "");
  static ShardReader from_source(std::unique_ptr<ByteSource> src, TensorInfo info);

  const TensorInfo& info() const { return info_; }
  const std::string& name() const { return src_->name(); }
  // shape[0]; a rank-0 tensor is one row.
  std::int64_t rows() const;
  std::uint64_t row_bytes() const;
  // Copies rows [row0, row0 + count) into dst (count * row_bytes() bytes, any alignment).
  void read_rows(std::int64_t row0, std::int64_t count, void* dst) const;
  // Rows [row0, row0 + count) in place (ByteSource::map); data == nullptr: use read_rows.
  Mapped map_rows(std::int64_t row0, std::int64_t count) const;

private:
  ShardReader(std::shared_ptr<ByteSource> src, TensorInfo info)
      : src_(std::move(src)), info_(std::move(info)) {}
  void check_rows(std::int64_t row0, std::int64_t count) const;
  std::shared_ptr<ByteSource> src_;
  TensorInfo info_;
};

// "npy", "safetensors", "pt" or "" (unknown), from the first bytes of the source.
std::string sniff_format(const ByteSource& src);

} // namespace gpueval::io
