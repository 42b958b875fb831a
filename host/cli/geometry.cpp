// The geometry family in gpu-eval: its report as a table and as CSV, and synthetic shards of
// poses (predicted joints: the target pose rotated, scaled, shifted and perturbed).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "gpueval/geometry.hpp"
#include "gpueval/version.hpp"

namespace gpueval::cli {

namespace {

// A breakdown as a table: a row per index (its count and every metric), under `title`.
void grid(std::string& out, const GeometryReport& r, const std::string& title, const char* first,
          const std::vector<std::uint64_t>& counts,
          const std::vector<std::vector<double>>& values) {
  out += fmt::format("\n{}\n{:>7} {:>12}", title, first, "count");
  for (const std::string& name : r.names) {
    out += fmt::format(" {:>12}", name.substr(0, 12));
  }
  out += '\n';
  for (std::size_t j = 0; j < counts.size(); ++j) {
    out += fmt::format("{:>7} {:>12}", j, counts[j]);
    for (std::size_t i = 0; i < r.names.size(); ++i) {
      out += fmt::format(" {:>12}", short_number(values[i][j]));
    }
    out += '\n';
  }
}

// A breakdown as CSV rows: scope,index,count,<metric...>.
void rows(std::string& out, const char* scope, const std::vector<std::uint64_t>& counts,
          const std::vector<std::vector<double>>& values) {
  for (std::size_t j = 0; j < counts.size(); ++j) {
    out += std::string(scope) + "," + std::to_string(j) + "," + std::to_string(counts[j]);
    for (const std::vector<double>& metric : values) {
      out += "," + number(metric[j]);
    }
    out += '\n';
  }
}

std::string table(const GeometryReport& r) {
  std::string out;
  out += fmt::format("gpu-eval {}: {} vectors of {} components, {} non-finite vectors skipped\n",
                     std::string(kVersion), r.count, r.dims, r.skipped_nonfinite);
  out += io_line(r) + "\n";
  out += fmt::format("{:<40} {:>18}\n", "metric", "value");
  for (std::size_t i = 0; i < r.names.size(); ++i) {
    out += fmt::format("{:<40} {:>18}\n", r.names[i], short_number(r.values[i]));
  }
  if (r.spec.mode_axis) {
    out += fmt::format("({} samples, {} with a final vector)\n", r.samples, r.samples_with_final);
  }
  if (r.by_axis_index >= 0) {
    grid(out, r, fmt::format("by axis {}", r.by_axis_index), "index", r.by_axis_count, r.by_axis);
  }
  if (r.key_axis >= 0) {
    grid(out, r, fmt::format("per key (axis {})", r.key_axis), "key", r.per_key_count, r.per_key);
  }
  return out;
}

// One row per scope: scope,index,count,<metric...>. Values with 17 significant digits.
std::string csv(const GeometryReport& r) {
  std::string out = "scope,index,count";
  for (const std::string& name : r.names) {
    out += "," + name;
  }
  out += '\n';
  out += "metrics,," + std::to_string(r.count);
  for (double v : r.values) {
    out += "," + number(v);
  }
  out += '\n';
  rows(out, "by_axis", r.by_axis_count, r.by_axis);
  if (r.key_axis >= 0) {
    rows(out, "key", r.per_key_count, r.per_key);
  }
  return out;
}

// Poses [rows, joints, D] (the shape's last axis is the vector): targets are random skeletons
// of about unit size; predictions are each target rotated about the last axis, scaled, shifted
// and perturbed by `noise`, so that the aligned errors are much smaller than the raw ones.
void synth(const SynthRequest& q) {
  const std::vector<std::int64_t>& shape = q.shape;
  if (shape.size() < 2) {
    throw UsageError("synth: geometry shards are [rows, ..., D]: give --shape with a vector axis");
  }
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    n *= d;
  }
  const std::int64_t rows = shape[0];
  const std::int64_t dims = shape.back();
  const std::int64_t vectors = n / rows / dims;
  const std::size_t item = dtype_size(q.dtype);
  std::vector<unsigned char> pred(static_cast<std::size_t>(n) * item), target(pred.size());
  std::vector<std::int64_t> mask_shape(shape.begin(), shape.end() - 1);
  std::vector<unsigned char> mask;
  Rng rng(q.seed);
  std::vector<double> t(static_cast<std::size_t>(vectors * dims));
  for (int k = 0; k < q.shards; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) {
      for (double& v : t) {
        v = 0.5 * rng.normal();
      }
      const double angle = 0.3 * rng.normal(), c = std::cos(angle), s = std::sin(angle);
      const double scale = 1.0 + 0.1 * rng.normal(), shift = 0.2 * rng.normal();
      for (std::int64_t j = 0; j < vectors; ++j) {
        const double* tv = t.data() + j * dims;
        for (std::int64_t d = 0; d < dims; ++d) {
          double p = tv[d];
          if (dims >= 2 && d < 2) { // rotated in the plane of the first two components
            p = d == 0 ? c * tv[0] - s * tv[1] : s * tv[0] + c * tv[1];
          }
          p = scale * p + shift + q.noise * rng.normal();
          const auto i = static_cast<std::size_t>((r * vectors + j) * dims + d);
          store(target, q.dtype, i, tv[d]);
          store(pred, q.dtype, i, p);
        }
      }
    }
    if (q.mask) {
      mask.resize(static_cast<std::size_t>(rows * vectors));
      for (auto& m : mask) {
        m = rng.uniform() < 0.9 ? 1 : 0;
      }
    }
    write_synth_shard(q, k, {q.dtype, shape, pred.data()}, {q.dtype, shape, target.data()},
                      {DType::boolean, mask_shape, q.mask ? mask.data() : nullptr});
  }
  std::fprintf(stderr, "gpu-eval synth: wrote %d geometry shard%s of %s %s to %s\n", q.shards,
               q.shards == 1 ? "" : "s", shape_text(shape).c_str(),
               std::string(dtype_name(q.dtype)).c_str(), q.out.c_str());
}

} // namespace

void register_geometry_cli() {
  CliFamily f;
  f.tag = kGeometryFamily;
  f.format = [](const FamilyReport& report, TextFormat format) {
    const auto& r = dynamic_cast<const GeometryReport&>(report);
    return format == TextFormat::csv ? csv(r) : table(r);
  };
  f.synth = synth;
  register_cli_family(std::move(f));
}

} // namespace gpueval::cli
