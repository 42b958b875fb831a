// gpueval._core.read_shard: rows of one tensor of a .npy or .safetensors shard through gpu-eval's
// readers (host/io), for Python pipelines (gpueval.read_shard, gpueval.ray.read_shards). Built
// with the readers (GPUEVAL_BUILD_CLI); the Python side turns the bytes into a numpy array.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <string>
#include <vector>

#include "binding.hpp"
#include "gpueval/error.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::python {

void bind_shards(nb::module_& m) {
  m.def(
      "shard_info",
      [](const std::string& path, const std::string& key) {
        const io::ShardReader r = io::ShardReader::open(path, key);
        return nb::make_tuple(std::string(dtype_name(r.info().dtype)), r.info().shape);
      },
      nb::arg("path"), nb::arg("key") = "",
      "(dtype name, shape) of the tensor (the .npy's array, or the .safetensors tensor `key`).");
  m.def(
      "read_shard",
      [](const std::string& path, const std::string& key, std::int64_t row0, std::int64_t rows) {
        const io::ShardReader r = io::ShardReader::open(path, key);
        const std::int64_t n = rows < 0 ? r.rows() - row0 : rows;
        GPUEVAL_EXPECTS(row0 >= 0 && n >= 0 && row0 <= r.rows() && n <= r.rows() - row0,
                        path + ": rows " + std::to_string(row0) + " to " +
                            std::to_string(row0 + n) + " of a tensor of " +
                            std::to_string(r.rows()) + " rows");
        std::vector<std::int64_t> shape = r.info().shape;
        if (!shape.empty()) {
          shape[0] = n;
        }
        std::string bytes(static_cast<std::size_t>(n) * r.row_bytes(), '\0');
        {
          nb::gil_scoped_release released;
          r.read_rows(row0, n, bytes.data());
        }
        return nb::make_tuple(nb::bytes(bytes.data(), bytes.size()),
                              std::string(dtype_name(r.info().dtype)), shape);
      },
      nb::arg("path"), nb::arg("key") = "", nb::arg("row0") = 0, nb::arg("rows") = -1,
      "Rows [row0, row0 + rows) (rows < 0: to the end) as (bytes, dtype name, shape); a file "
      "that is truncated, corrupt or lacks `key` raises naming it.");
}

} // namespace gpueval::python
