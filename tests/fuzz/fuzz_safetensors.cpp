// libFuzzer target: any bytes as a .safetensors file. The parser must accept or throw ReadError;
// reading every row of every accepted tensor must stay inside the bytes.
#include <cstdint>
#include <vector>

#include "io/shard_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gpueval::io;
  try {
    auto src = memory_source(data, size, "fuzz.safetensors");
    for (const TensorInfo& info : parse_safetensors(*src)) {
      const ShardReader r =
          ShardReader::from_source(memory_source(data, size, "fuzz.safetensors"), info);
      // An empty tensor may declare rows of any size; a non-empty one has rows within the input.
      if (r.rows() == 0) {
        continue;
      }
      std::vector<unsigned char> buf(static_cast<std::size_t>(r.row_bytes()) + 1);
      for (std::int64_t row = 0; row < r.rows() && row < 1024; ++row) {
        r.read_rows(row, 1, buf.data() + 1);
      }
    }
  } catch (const ReadError&) {
  }
  return 0;
}
