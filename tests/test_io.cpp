// Shard readers against files written by numpy and safetensors, and against every malformed
// file scripts/gen-io-fixtures writes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "batch_data.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::io {
namespace {

std::string fixture(const std::string& name) {
  const char* env = std::getenv("GPUEVAL_FIXTURE_DIR");
  return std::string(env != nullptr ? env : GPUEVAL_FIXTURE_DIR) + "/io/" + name;
}

// The generator's values: i * 0.25 - 5 for floats, i * 7 % 23 for integers, i % 3 == 1 for bool.
std::vector<unsigned char> expected_bytes(DType d, std::int64_t n) {
  test::TypedBuffer b(d, static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double v;
    if (dtype_is_float(d)) {
      v = static_cast<double>(i) * 0.25 - 5.0;
    } else if (d == DType::boolean) {
      v = i % 3 == 1 ? 1 : 0;
    } else {
      v = static_cast<double>((i * 7) % 23);
    }
    b.set(static_cast<std::size_t>(i), v);
  }
  return std::vector<unsigned char>(b.data(),
                                    b.data() + n * static_cast<std::int64_t>(dtype_size(d)));
}

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    n *= d;
  }
  return n;
}

void expect_round_trip(const ShardReader& r, const std::string& what) {
  const std::int64_t n = numel(r.info().shape);
  std::vector<unsigned char> got(static_cast<std::size_t>(r.rows()) * r.row_bytes() + 1);
  // One byte past an aligned address: the reader copies, it never dereferences in place.
  r.read_rows(0, r.rows(), got.data() + 1);
  const std::vector<unsigned char> want = expected_bytes(r.info().dtype, n);
  ASSERT_EQ(got.size() - 1, want.size()) << what;
  EXPECT_EQ(std::memcmp(got.data() + 1, want.data(), want.size()), 0) << what << " differs";
}

TEST(Npy, EveryDtypeAndVersionRoundTripsBitForBit) {
  const struct {
    const char* file;
    DType dtype;
    std::vector<std::int64_t> shape;
  } cases[] = {
      {"v1_f2.npy", DType::f16, {5, 3, 2}},     {"v1_f4.npy", DType::f32, {5, 3, 2}},
      {"v1_f8.npy", DType::f64, {5, 3, 2}},     {"v1_i1.npy", DType::i8, {5, 3, 2}},
      {"v1_i2.npy", DType::i16, {5, 3, 2}},     {"v1_i4.npy", DType::i32, {5, 3, 2}},
      {"v1_i8.npy", DType::i64, {5, 3, 2}},     {"v1_u1.npy", DType::u8, {5, 3, 2}},
      {"v1_b1.npy", DType::boolean, {5, 3, 2}}, {"v2_f4.npy", DType::f32, {4, 3}},
      {"v2_f2.npy", DType::f16, {4, 3}},        {"v2_u1.npy", DType::u8, {4, 3}},
      {"v3_f4.npy", DType::f32, {4, 3}},        {"v3_f2.npy", DType::f16, {4, 3}},
      {"v3_u1.npy", DType::u8, {4, 3}},         {"v1_f4_rank1.npy", DType::f32, {7}},
      {"v1_f4_scalar.npy", DType::f32, {}},     {"v1_f4_empty.npy", DType::f32, {0, 3}},
  };
  for (const auto& c : cases) {
    const ShardReader r = ShardReader::open(fixture(c.file));
    EXPECT_EQ(r.info().dtype, c.dtype) << c.file;
    EXPECT_EQ(r.info().shape, c.shape) << c.file;
    expect_round_trip(r, c.file);
  }
}

TEST(Npy, RowWindows) {
  const ShardReader r = ShardReader::open(fixture("v1_f8.npy")); // [5, 3, 2] float64
  ASSERT_EQ(r.rows(), 5);
  ASSERT_EQ(r.row_bytes(), 48u);
  std::vector<double> window(6);
  r.read_rows(2, 1, window.data());
  EXPECT_EQ(window[0], 12 * 0.25 - 5.0);
  EXPECT_EQ(window[5], 17 * 0.25 - 5.0);
  r.read_rows(5, 0, window.data()); // an empty window at the end is fine
  try {
    r.read_rows(4, 2, window.data());
    FAIL();
  } catch (const ReadError& e) {
    EXPECT_NE(std::string(e.what()).find("outside the tensor's 5 rows"), std::string::npos);
  }
}

TEST(Npy, MappedRowsEqualReadRows) {
  const ShardReader r = ShardReader::open(fixture("v1_f8.npy")); // data at offset 128: unaligned
  std::vector<double> read(12);
  r.read_rows(1, 2, read.data());
  const Mapped m = r.map_rows(1, 2); // starts inside the file's first page
  ASSERT_NE(m.data, nullptr);
  EXPECT_EQ(std::memcmp(m.data, read.data(), 96), 0);
  EXPECT_EQ(r.map_rows(5, 0).data, nullptr); // nothing to map: callers read (zero bytes)
  EXPECT_THROW((void)r.map_rows(4, 2), ReadError);
  // A memory source lends nothing: its callers copy.
  const std::vector<std::uint8_t> bytes(64, 7);
  EXPECT_EQ(memory_source(bytes.data(), bytes.size(), "mem")->map(0, 8).data, nullptr);
  // The mapping outlives the reader that made it.
  Mapped kept;
  {
    const ShardReader other = ShardReader::open(fixture("v1_f8.npy"));
    kept = other.map_rows(4, 1);
  }
  double last;
  std::memcpy(&last, kept.data + 40, 8);
  EXPECT_EQ(last, 29 * 0.25 - 5.0);
}

TEST(MappedFile, AFileThatShrinksUnderItsMappingReadsZerosAndSaysSo) {
  // 16 pages of 0x5a; mapped whole; then truncated to one page by "another job". Reading the
  // lost pages would end the process with SIGBUS: the guard maps zeros there and marks it.
  char name[] = "/tmp/gpueval-shrinkXXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), size = 16 * page;
  const std::vector<unsigned char> bytes(size, 0x5a);
  ASSERT_EQ(::write(fd, bytes.data(), size), static_cast<ssize_t>(size));
  const auto src = open_file(name);
  const Mapped whole = src->map(0, size), kept = src->map(0, page);
  ASSERT_NE(whole.data, nullptr);
  EXPECT_FALSE(whole.lost());
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(page)), 0);
  std::size_t sum = 0;
  for (std::size_t i = 0; i < size; ++i) {
    sum += whole.data[i];
  }
  EXPECT_EQ(sum, 0x5a * page); // the first page is the file's, the rest read as zeros
  EXPECT_TRUE(whole.lost());
  EXPECT_FALSE(kept.lost()); // a mapping of the page that remains is whole
  EXPECT_EQ(kept.data[page - 1], 0x5a);
  ::close(fd);
  ::unlink(name);
}

void expect_rejected(const std::string& file, const std::string& reason) {
  try {
    (void)ShardReader::open(fixture(file));
    ADD_FAILURE() << file << " was accepted";
  } catch (const ReadError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(fixture(file), 0), 0u) << "message does not start with the file: " << msg;
    EXPECT_NE(msg.find(reason), std::string::npos) << file << ": " << msg;
  }
}

TEST(Npy, EveryBadFileIsRejectedWithItsReason) {
  expect_rejected("bad_fortran.npy", "Fortran order");
  expect_rejected("bad_big_endian.npy", "big-endian");
  expect_rejected("bad_object.npy", "object dtype");
  expect_rejected("bad_complex.npy", "complex dtype");
  expect_rejected("bad_uint16.npy", "unsigned 16/32/64-bit");
  expect_rejected("bad_structured.npy", "structured dtypes");
  expect_rejected("bad_unparsable.npy", "header does not parse");
  expect_rejected("bad_not_a_dict.npy", "header does not parse");
  expect_rejected("bad_negative_dim.npy", "negative dimension");
  expect_rejected("bad_overflow_dim.npy", "overflows 64 bits");
  expect_rejected("bad_overflow_size.npy", "overflows 64 bits");
  expect_rejected("bad_truncated.npy", "shorter than the 24 the header promises");
  expect_rejected("bad_version.npy", "format version 4.0");
  expect_rejected("bad_missing_key.npy", "lacks one of");
  expect_rejected("bad_extra_key.npy", "unexpected header key 'x'");
  expect_rejected("bad_duplicate_key.npy", "header names 'shape' twice");
  expect_rejected("bad_row_overflow.npy", "row size overflows 64 bits"); // found by fuzzing
  expect_rejected("bad_magic.npy", "not a .npy, .safetensors or .pt file");
  expect_rejected("bad_header_len.npy", "runs past the end of the file");
  expect_rejected("bad_short.npy", "shorter than any .npy header");
}

TEST(Safetensors, EveryTensorRoundTripsBitForBit) {
  const struct {
    const char* key;
    DType dtype;
    std::vector<std::int64_t> shape;
  } cases[] = {{"pred", DType::f32, {6, 4}},     {"target", DType::f64, {6, 4}},
               {"mask", DType::boolean, {6, 4}}, {"labels", DType::i64, {6}},
               {"half", DType::f16, {3, 2}},     {"bytes", DType::u8, {5}},
               {"small", DType::i8, {2, 2}},     {"shorts", DType::i16, {2, 2}},
               {"ints", DType::i32, {2, 2}}};
  for (const auto& c : cases) {
    const ShardReader r = ShardReader::open(fixture("multi.safetensors"), c.key);
    EXPECT_EQ(r.info().dtype, c.dtype) << c.key;
    EXPECT_EQ(r.info().shape, c.shape) << c.key;
    expect_round_trip(r, c.key);
  }
  const ShardReader single = ShardReader::open(fixture("single.safetensors"));
  EXPECT_EQ(single.info().key, "only");
  expect_round_trip(single, "single");
  const ShardReader bf = ShardReader::open(fixture("bf16.safetensors"), "x");
  EXPECT_EQ(bf.info().dtype, DType::bf16);
  expect_round_trip(bf, "bf16");
}

TEST(Safetensors, KeysAreChecked) {
  try {
    (void)ShardReader::open(fixture("multi.safetensors"), "prediction");
    FAIL();
  } catch (const ReadError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("has no tensor 'prediction'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pred"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("__metadata__"), std::string::npos) << msg;
  }
  try {
    (void)ShardReader::open(fixture("multi.safetensors"));
    FAIL();
  } catch (const ReadError& e) {
    EXPECT_NE(std::string(e.what()).find("name one with a key"), std::string::npos);
  }
  EXPECT_THROW((void)ShardReader::open(fixture("v1_f4.npy"), "pred"), ReadError);
}

TEST(Safetensors, EveryBadFileIsRejectedWithItsReason) {
  expect_rejected("bad_header_too_long.safetensors", "larger than the file");
  expect_rejected("bad_header_absurd.safetensors", "larger than the file");
  expect_rejected("bad_not_json.safetensors", "not valid JSON");
  expect_rejected("bad_not_object.safetensors", "not a .npy, .safetensors or .pt file");
  expect_rejected("bad_missing_offsets.safetensors", "lacks dtype, shape or data_offsets");
  expect_rejected("bad_reversed.safetensors", "reversed data_offsets");
  expect_rejected("bad_outside.safetensors", "outside the data region");
  expect_rejected("bad_inconsistent.safetensors", "for 16 bytes of shape x dtype");
  expect_rejected("bad_overlap.safetensors", "overlap");
  expect_rejected("bad_dtype_u16.safetensors", "dtype U16, which is not supported");
  expect_rejected("bad_dtype_fp8.safetensors", "dtype F8_E4M3");
  expect_rejected("bad_negative_shape.safetensors", "non-negative integers");
  expect_rejected("bad_row_overflow.safetensors", "row size overflows 64 bits");
  expect_rejected("bad_short.safetensors", "not a .npy, .safetensors or .pt file");
  expect_rejected("bad_duplicate.safetensors", "names tensor 'x' twice");
}

// Offsets reversed by a single byte are reversed too (end - begin would wrap to 2^64 - 1).
TEST(Safetensors, OffsetsReversedByOneByteAreRejectedAsReversed) {
  const std::string header = R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[5,4]}})";
  std::string file(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  file += header + std::string(8, '\0');
  const std::string path = ::testing::TempDir() + "gpueval_reversed_by_one.safetensors";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(file.data(), 1, file.size(), f);
    std::fclose(f);
  }
  try {
    (void)ShardReader::open(path);
    ADD_FAILURE() << "accepted";
  } catch (const ReadError& e) {
    EXPECT_NE(std::string(e.what()).find("reversed data_offsets [5, 4]"), std::string::npos)
        << e.what();
  }
  std::remove(path.c_str());
}

TEST(Files, MissingAndNonRegularFiles) {
  try {
    (void)ShardReader::open(fixture("no_such_file.npy"));
    FAIL();
  } catch (const ReadError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open: No such file or directory"),
              std::string::npos)
        << e.what();
  }
  try {
    (void)ShardReader::open(fixture(""));
    FAIL();
  } catch (const ReadError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace gpueval::io

namespace gpueval::io {
namespace {

#ifdef GPUEVAL_WITH_TORCH
TEST(Pt, TensorsAndDictsRoundTripBitForBit) {
  const ShardReader single = ShardReader::open(fixture("pt_tensor.pt"));
  EXPECT_EQ(single.info().dtype, DType::f32);
  EXPECT_EQ(single.info().shape, (std::vector<std::int64_t>{5, 3, 2}));
  expect_round_trip(single, "pt_tensor");
  const struct {
    const char* key;
    DType dtype;
    std::vector<std::int64_t> shape;
  } cases[] = {{"pred", DType::bf16, {4, 3}},
               {"target", DType::f64, {4, 3}},
               {"mask", DType::boolean, {4}},
               {"labels", DType::i64, {4}}};
  for (const auto& c : cases) {
    const ShardReader r = ShardReader::open(fixture("pt_dict.pt"), c.key);
    EXPECT_EQ(r.info().dtype, c.dtype) << c.key;
    EXPECT_EQ(r.info().shape, c.shape) << c.key;
    expect_round_trip(r, c.key);
  }
}

TEST(Pt, NonContiguousTensorsAreStoredInCOrder) {
  const ShardReader r = ShardReader::open(fixture("pt_transposed.pt")); // a [3, 4] tensor's .t()
  ASSERT_EQ(r.info().shape, (std::vector<std::int64_t>{4, 3}));
  std::vector<float> v(12);
  r.read_rows(0, 4, v.data());
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(v[static_cast<std::size_t>(i * 3 + j)],
                static_cast<float>((j * 4 + i) * 0.25 - 5.0));
    }
  }
}

TEST(Pt, BadFilesAreRejected) {
  expect_rejected("pt_bad_list.pt", "not a tensor or a dict of tensors");
  expect_rejected("pt_bad_complex.pt", "which is not supported");
  expect_rejected("pt_bad_truncated.pt", "not a readable torch.save file");
  expect_rejected("pt_dict.pt", "holds a dict; name a tensor with a key");
  try {
    (void)ShardReader::open(fixture("pt_dict.pt"), "preds");
    FAIL();
  } catch (const ReadError& e) {
    EXPECT_NE(
        std::string(e.what()).find("has no tensor 'preds' (keys: pred, target, mask, labels)"),
        std::string::npos)
        << e.what();
  }
}
#else
TEST(Pt, WithoutLibTorchTheErrorSaysSo) {
  expect_rejected("pt_tensor.pt", "needs libgpueval_pt.so");
}
#endif

} // namespace
} // namespace gpueval::io
