// NumPy .npy, format versions 1.0, 2.0 and 3.0
// (numpy/lib/format.py: magic "\x93NUMPY", version, header length, a Python dict literal).
#include <cstring>
#include <string>
#include <vector>

#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

constexpr std::uint32_t kMaxNpyHeader = 1u << 20; // numpy itself refuses headers past 10 KB

[[noreturn]] void fail(const ByteSource& src, const std::string& why) {
  throw ReadError(src.name() + ": not a readable .npy file: " + why);
}

// A parser for the one Python literal numpy writes: {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }. Anything else is an error; nothing is evaluated.
class Literal {
public:
  Literal(const ByteSource& src, const std::string& text) : src_(src), s_(text) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::int64_t> shape;
  };

  Header parse() {
    Header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::string key = string();
      expect(':');
      if ((key == "descr" && seen_descr) || (key == "fortran_order" && seen_order) ||
          (key == "shape" && seen_shape)) {
        fail(src_, "header names '" + key + "' twice");
      }
      if (key == "descr") {
        skip_space();
        if (peek() == '[') {
          fail(src_, "structured dtypes (a list descr) are not supported");
        }
        h.descr = string();
        seen_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        seen_shape = true;
      } else {
        fail(src_, "unexpected header key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
      } else if (peek() != '}') {
        fail(src_, "header dict is malformed at byte " + std::to_string(i_));
      }
    }
    skip_space();
    if (i_ != s_.size()) {
      fail(src_, "header has trailing characters after the dict");
    }
    if (!seen_descr || !seen_order || !seen_shape) {
      fail(src_, "header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return h;
  }

private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) {
      fail(src_, std::string("header does not parse: expected '") + c + "' at byte " +
                     std::to_string(i_));
    }
    ++i_;
  }
  std::string string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') {
      fail(src_, "header does not parse: expected a string at byte " + std::to_string(i_));
    }
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\') {
        fail(src_, "header strings with escapes are not supported");
      }
      out += s_[i_++];
    }
    if (i_ >= s_.size()) {
      fail(src_, "header does not parse: unterminated string");
    }
    ++i_;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail(src_, "header does not parse: fortran_order is not True or False");
  }
  std::vector<std::int64_t> tuple() {
    expect('(');
    std::vector<std::int64_t> out;
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++i_;
        return out;
      }
      if (peek() == '-') {
        fail(src_, "shape has a negative dimension");
      }
      if (peek() < '0' || peek() > '9') {
        fail(src_, "header does not parse: shape is not a tuple of integers");
      }
      std::int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v)) {
          fail(src_, "shape has a dimension that overflows 64 bits");
        }
        ++i_;
      }
      if (peek() == 'L') { // Python 2 longs, in files written long ago
        ++i_;
      }
      out.push_back(v);
      if (out.size() > 32) {
        fail(src_, "shape has more than 32 dimensions");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
      } else if (peek() != ')') {
        fail(src_, "header does not parse: malformed shape tuple");
      }
    }
  }

  const ByteSource& src_;
  const std::string& s_;
  std::size_t i_ = 0;
};

DType dtype_of(const ByteSource& src, const std::string& descr) {
  if (descr.size() < 2) {
    fail(src, "dtype '" + descr + "' is not understood");
  }
  const char order = descr[0];
  const std::string code = descr.substr(1);
  if (order == '>' && code != "u1" && code != "i1" && code != "b1") {
    fail(src,
         "dtype '" + descr + "' is big-endian; save it little-endian (astype('<" + code + "'))");
  }
  if (order != '<' && order != '|' && order != '=' && order != '>') {
    fail(src, "dtype '" + descr + "' is not understood");
  }
  static constexpr struct {
    const char* code;
    DType dtype;
  } known[] = {{"f2", DType::f16}, {"f4", DType::f32}, {"f8", DType::f64},
               {"i1", DType::i8},  {"i2", DType::i16}, {"i4", DType::i32},
               {"i8", DType::i64}, {"u1", DType::u8},  {"b1", DType::boolean}};
  for (const auto& k : known) {
    if (code == k.code) {
      return k.dtype;
    }
  }
  if (code[0] == 'c') {
    fail(src, "complex dtype '" + descr + "' is not supported");
  }
  if (code == "O") {
    fail(src, "object dtype '" + descr + "' is not supported (save plain numbers)");
  }
  if (code == "u2" || code == "u4" || code == "u8") {
    fail(src, "dtype '" + descr + "' (unsigned 16/32/64-bit) is not supported");
  }
  fail(src, "dtype '" + descr + "' is not supported");
}

} // namespace

TensorInfo parse_npy(const ByteSource& src) {
  if (src.size() < 10) {
    fail(src, "file is " + std::to_string(src.size()) + " bytes, shorter than any .npy header");
  }
  unsigned char pre[12] = {};
  src.read_at(0, std::min<std::uint64_t>(12, src.size()), pre);
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) {
    fail(src, "bad magic (not a .npy file)");
  }
  const int major = pre[6];
  std::uint32_t header_len = 0;
  std::uint64_t prefix = 0;
  if (major == 1) {
    header_len = static_cast<std::uint32_t>(pre[8] | (pre[9] << 8));
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (src.size() < 12) {
      fail(src, "file ends inside the header length");
    }
    header_len = static_cast<std::uint32_t>(pre[8]) | (static_cast<std::uint32_t>(pre[9]) << 8) |
                 (static_cast<std::uint32_t>(pre[10]) << 16) |
                 (static_cast<std::uint32_t>(pre[11]) << 24);
    prefix = 12;
  } else {
    fail(src, "format version " + std::to_string(major) + "." + std::to_string(pre[7]) +
                  " is not 1.0, 2.0 or 3.0");
  }
  if (header_len > kMaxNpyHeader || prefix + header_len > src.size()) {
    fail(src, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                  std::to_string(src.size()) + " bytes)");
  }
  std::string text(header_len, '\0');
  src.read_at(prefix, header_len, text.data());
  if (major < 3) {
    for (char c : text) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        fail(src, "header of a version 1/2 file is not ASCII");
      }
    }
  }
  const Literal::Header h = Literal(src, text).parse();
  if (h.fortran_order) {
    fail(src, "array is in Fortran order; save a C-ordered array (np.ascontiguousarray)");
  }
  TensorInfo info;
  info.dtype = dtype_of(src, h.descr);
  info.shape = h.shape;
  info.offset = prefix + header_len;
  std::uint64_t bytes = dtype_size(info.dtype);
  for (std::int64_t d : info.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes)) {
      fail(src, "shape's size overflows 64 bits");
    }
  }
  info.bytes = bytes;
  // A zero-length first axis makes the total 0 whatever the other axes say; a row must still
  // have a size that fits 64 bits.
  std::uint64_t row = 0;
  if (!row_size(info.dtype, info.shape, row)) {
    fail(src, "shape's row size overflows 64 bits");
  }
  if (bytes > src.size() - info.offset) {
    fail(src, "payload is " + std::to_string(src.size() - info.offset) +
                  " bytes, shorter than the " + std::to_string(bytes) +
                  " the header promises (truncated file?)");
  }
  return info;
}

} // namespace gpueval::io
