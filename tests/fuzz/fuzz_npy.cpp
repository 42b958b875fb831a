// libFuzzer target: any bytes as a .npy file. The parser must accept or throw ReadError; reading
// every row of an accepted file must stay inside the bytes. ASan and UBSan watch both.
#include <cstdint>
#include <vector>

#include "io/shard_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gpueval::io;
  try {
    auto src = memory_source(data, size, "fuzz.npy");
    const TensorInfo info = parse_npy(*src);
    const ShardReader r = ShardReader::from_source(std::move(src), info);
    // An empty tensor may declare rows of any size; a non-empty one has rows within the input.
    if (r.rows() == 0) {
      return 0;
    }
    std::vector<unsigned char> buf(static_cast<std::size_t>(r.row_bytes()) + 1);
    for (std::int64_t row = 0; row < r.rows() && row < 1024; ++row) {
      r.read_rows(row, 1, buf.data() + 1);
    }
  } catch (const ReadError&) {
  }
  return 0;
}
