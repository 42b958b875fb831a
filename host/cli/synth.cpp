// gpu-eval synth: synthetic shards for demos, tests and benchmarks, with no Python needed.
//
// Targets look like motion data: per channel a smooth curve over the second axis, scaled per
// sample, plus noise; predictions are targets plus a per-channel bias and `noise` error.
// Deterministic for a seed.
#include <cxxopts.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "cli/cli.hpp"
#include "io/shard_reader.hpp"
#include "io/shard_writer.hpp"

namespace gpueval::cli {

namespace {

// xoshiro256+ (Blackman and Vigna): fast and good enough for synthetic data.
class Rng {
public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) { // splitmix64 seeding
      seed += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s = z ^ (z >> 31);
    }
  }
  double uniform() { // [0, 1)
    const std::uint64_t r = s_[0] + s_[3];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = (s_[3] << 45) | (s_[3] >> 19);
    return static_cast<double>(r >> 11) * 0x1.0p-53;
  }
  // Approximately standard normal (Irwin-Hall of 4 uniforms, rescaled): cheap and bounded.
  double normal() {
    return (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772;
  }

private:
  std::uint64_t s_[4];
};

void store(std::vector<unsigned char>& buf, DType d, std::size_t i, double v) {
  switch (d) {
  case DType::f16: {
    const std::uint16_t b = float_to_half_bits(static_cast<float>(v));
    std::memcpy(&buf[i * 2], &b, 2);
    break;
  }
  case DType::bf16: {
    const std::uint16_t b = float_to_bf16_bits(static_cast<float>(v));
    std::memcpy(&buf[i * 2], &b, 2);
    break;
  }
  case DType::f32: {
    const float f = static_cast<float>(v);
    std::memcpy(&buf[i * 4], &f, 4);
    break;
  }
  default: {
    std::memcpy(&buf[i * 8], &v, 8);
    break;
  }
  }
}

} // namespace

int synth_main(int argc, char** argv) {
  cxxopts::Options options("gpu-eval synth", "Writes synthetic prediction/target shards.");
  // clang-format off
  options.add_options()
      ("out", "output directory (created)", cxxopts::value<std::string>())
      ("shards", "number of shards", cxxopts::value<int>()->default_value("8"))
      ("shape", "shape of one shard, comma-separated", cxxopts::value<std::string>()->default_value("16,500,20"))
      ("dtype", "float32, float16, bfloat16 or float64", cxxopts::value<std::string>()->default_value("float32"))
      ("seed", "random seed", cxxopts::value<std::uint64_t>()->default_value("0"))
      ("noise", "prediction error, relative to the target's spread", cxxopts::value<double>()->default_value("0.1"))
      ("offset", "added to every target and prediction (adversarial data: 1e6)", cxxopts::value<double>()->default_value("0"))
      ("mask", "also write masks over the first two axes (about 10% excluded)")
      ("format", "npy (pred_NNNNN.npy, target_NNNNN.npy, mask_NNNNN.npy) or safetensors "
                 "(shard_NNNNN.safetensors with keys pred, target, mask)",
       cxxopts::value<std::string>()->default_value("npy"))
      ("h,help", "this help");
  // clang-format on
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(std::string("synth: ") + e.what());
  }
  if (args.count("help")) {
    std::fputs(options.help().c_str(), stdout);
    return kOk;
  }
  if (!args.unmatched().empty()) {
    throw UsageError("synth: unexpected argument '" + args.unmatched().front() + "'");
  }
  if (!args.count("out")) {
    throw UsageError("synth: --out DIR is required");
  }
  const std::string out = args["out"].as<std::string>();
  const int shards = args["shards"].as<int>();
  if (shards < 1) {
    throw UsageError("synth: --shards must be at least 1");
  }
  std::vector<std::int64_t> shape;
  {
    const std::string text = args["shape"].as<std::string>();
    std::size_t pos = 0;
    while (pos <= text.size()) {
      const std::size_t comma = std::min(text.find(',', pos), text.size());
      try {
        const long long d = std::stoll(text.substr(pos, comma - pos));
        if (d < 1) {
          throw std::out_of_range("");
        }
        shape.push_back(d);
      } catch (const std::exception&) {
        throw UsageError("synth: --shape '" + text + "' is not a list of positive integers");
      }
      pos = comma + 1;
    }
  }
  DType dtype;
  if (!parse_dtype(args["dtype"].as<std::string>(), dtype) || !dtype_is_float(dtype)) {
    throw UsageError("synth: --dtype must be float32, float16, bfloat16 or float64");
  }
  const std::string format = args["format"].as<std::string>();
  if (format != "npy" && format != "safetensors") {
    throw UsageError("synth: --format must be npy or safetensors");
  }
  if (format == "npy" && dtype == DType::bf16) {
    throw UsageError("synth: .npy cannot hold bfloat16; use --format safetensors");
  }
  const double noise = args["noise"].as<double>();
  const double offset = args["offset"].as<double>();
  const bool with_mask = args.count("mask") > 0;
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    throw io::ReadError(out + ": cannot create the directory: " + ec.message());
  }

  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    n *= d;
  }
  const std::int64_t rows = shape[0];
  const std::int64_t channels = shape.size() > 1 ? shape.back() : 1;
  const std::int64_t steps = shape.size() > 2 ? shape[1] : 1;
  const std::int64_t per_row = n / rows;
  const std::size_t item = dtype_size(dtype);
  std::vector<unsigned char> pred(static_cast<std::size_t>(n) * item), target(pred.size());
  std::vector<unsigned char> mask;
  std::vector<std::int64_t> mask_shape(shape.begin(), shape.begin() + (shape.size() > 1 ? 2 : 1));
  std::int64_t mask_n = 1;
  for (std::int64_t d : mask_shape) {
    mask_n *= d;
  }
  // One smooth curve per (step, channel), shared by all shards.
  std::vector<double> curve(static_cast<std::size_t>(steps * channels));
  for (std::int64_t s = 0; s < steps; ++s) {
    for (std::int64_t c = 0; c < channels; ++c) {
      curve[static_cast<std::size_t>(s * channels + c)] = std::sin(
          0.02 * static_cast<double>(s) * static_cast<double>(c + 1) + static_cast<double>(c));
    }
  }
  Rng rng(args["seed"].as<std::uint64_t>());
  for (int k = 0; k < shards; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const double amplitude = 1.0 + 0.5 * rng.uniform();
      for (std::int64_t j = 0; j < per_row; ++j) {
        const std::int64_t c = j % channels;
        const std::int64_t s = (j / channels) % steps;
        const double t = offset + amplitude * curve[static_cast<std::size_t>(s * channels + c)] +
                         0.1 * rng.normal();
        const double p = t + 0.01 * static_cast<double>(c % 5) + noise * rng.normal();
        const auto i = static_cast<std::size_t>(r * per_row + j);
        store(target, dtype, i, t);
        store(pred, dtype, i, p);
      }
    }
    if (with_mask) {
      mask.resize(static_cast<std::size_t>(mask_n));
      for (auto& m : mask) {
        m = rng.uniform() < 0.9 ? 1 : 0;
      }
    }
    const std::string id = fmt::format("{:05d}", k);
    if (format == "npy") {
      io::write_npy(out + "/pred_" + id + ".npy", {"", dtype, shape, pred.data()});
      io::write_npy(out + "/target_" + id + ".npy", {"", dtype, shape, target.data()});
      if (with_mask) {
        io::write_npy(out + "/mask_" + id + ".npy", {"", DType::boolean, mask_shape, mask.data()});
      }
    } else {
      std::vector<io::TensorBytes> tensors = {{"pred", dtype, shape, pred.data()},
                                              {"target", dtype, shape, target.data()}};
      if (with_mask) {
        tensors.push_back({"mask", DType::boolean, mask_shape, mask.data()});
      }
      io::write_safetensors(out + "/shard_" + id + ".safetensors", tensors);
    }
  }
  std::fprintf(stderr, "gpu-eval synth: wrote %d shard%s of [%s] %s to %s\n", shards,
               shards == 1 ? "" : "s", args["shape"].as<std::string>().c_str(),
               std::string(dtype_name(dtype)).c_str(), out.c_str());
  return kOk;
}

} // namespace gpueval::cli
