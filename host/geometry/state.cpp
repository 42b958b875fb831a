// The geometry family's state: the spec's options (the envelope's family header, as text), then
// the records' words. A merge checks every option, so only states of one evaluation's spec join.
#include <string>

#include "core/state_blob.hpp"
#include "geometry/backend.hpp"
#include "gpueval/error.hpp"
#include "gpueval/ops/quantile_sketch.hpp"

namespace gpueval::detail {

namespace {

// Options as "name=value\n" lines, sorted by name (Options is ordered).
std::vector<std::uint8_t> options_bytes(const Options& o) {
  std::string text;
  for (const auto& [name, value] : o) {
    if (name != "sample_shape") {
      text += name + "=" + value + "\n";
    }
  }
  return {text.begin(), text.end()};
}

Options options_of(const std::vector<std::uint8_t>& bytes) {
  Options o;
  const std::string text(bytes.begin(), bytes.end());
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::size_t eq = text.find('=', at);
    if (end == std::string::npos || eq == std::string::npos || eq > end) {
      throw StateError("geometry state's header is corrupt (its options)");
    }
    o[text.substr(at, eq - at)] = text.substr(eq + 1, end - eq - 1);
    at = end + 1;
  }
  return o;
}

} // namespace

State encode_geo_state(const GeoBackend& b, const std::vector<std::uint64_t>& words,
                       const std::vector<std::uint64_t>& sketch, NonFiniteLocation where) {
  GeometrySpec spec = b.spec;
  spec.metrics = b.metrics;
  spec.vector_axis = b.info.vector_axis; // states name the axis they took
  StateHeader h;
  h.family = kGeometryFamily;
  h.nan_policy = b.spec.nan_policy;
  h.sample_shape = b.sample_shape;
  h.keys = static_cast<std::uint64_t>(b.info.records());
  h.batches = b.batches;
  h.first_nonfinite = where;
  h.extra = options_bytes(spec.to_options());
  std::vector<std::uint8_t> payload;
  payload.reserve(words.size() * 8);
  StateWriter w(payload);
  for (std::uint64_t v : words) {
    w.u64(v);
  }
  if (!sketch.empty()) { // the error sketch (quantile metrics), as regression's
    write_sparse_counts(w, sketch);
  }
  return seal_state(h, payload);
}

DecodedGeoState decode_geo_state(const State& state) {
  const OpenedState o = open_state(state);
  const StateHeader& h = o.header;
  expect_family(h, kGeometryFamily, "geometry");
  DecodedGeoState d;
  Options options = options_of(h.extra);
  try {
    d.spec = GeometrySpec::from_options(options);
    d.spec.sample_shape = h.sample_shape;
    d.spec.validate();
  } catch (const InvalidArgument& e) {
    throw StateError(std::string("geometry state's spec is inconsistent: ") + e.what());
  }
  const GeoLayoutInfo info = GeoLayoutInfo::from(d.spec, d.spec.sample_shape);
  const ops::GeoLayout layout = geo_layout(d.spec, d.spec.metrics);
  const std::uint64_t words = static_cast<std::uint64_t>(info.records() * layout.words);
  const int bits = d.spec.quantile_bits();
  if (h.keys != static_cast<std::uint64_t>(info.records()) ||
      (bits == 0 ? o.payload_size != words * 8 : o.payload_size < words * 8 + 8)) {
    throw StateError("geometry state holds " + std::to_string(o.payload_size) +
                     " record bytes, its spec needs " + std::to_string(words * 8));
  }
  StateReader r(o.payload, o.payload_size);
  d.words.resize(static_cast<std::size_t>(words));
  for (std::uint64_t& v : d.words) {
    v = r.u64();
  }
  if (bits > 0) {
    const auto size = static_cast<std::uint64_t>(ops::sketch::buckets(bits));
    d.sketch.assign(static_cast<std::size_t>(size), 0);
    for (const auto& [index, count] : read_sparse_counts(r, size, "quantile sketch")) {
      d.sketch[static_cast<std::size_t>(index)] = count;
    }
  }
  d.batches = h.batches;
  d.first_nonfinite = h.first_nonfinite;
  return d;
}

} // namespace gpueval::detail

namespace gpueval {

GeometrySpec geometry_state_spec(const State& state) {
  return detail::decode_geo_state(state).spec;
}

} // namespace gpueval
