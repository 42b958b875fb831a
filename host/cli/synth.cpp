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
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
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

std::string detail_shape(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(s[i]);
  }
  return out + "]";
}

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

void write_shard(const std::string& out, const std::string& format, int k, DType pred_dtype,
                 const std::vector<std::int64_t>& pred_shape, const unsigned char* pred,
                 DType target_dtype, const std::vector<std::int64_t>& target_shape,
                 const unsigned char* target, const std::vector<std::int64_t>& mask_shape,
                 const unsigned char* mask) {
  const std::string id = fmt::format("{:05d}", k);
  if (format == "npy") {
    io::write_npy(out + "/pred_" + id + ".npy", {"", pred_dtype, pred_shape, pred});
    io::write_npy(out + "/target_" + id + ".npy", {"", target_dtype, target_shape, target});
    if (mask != nullptr) {
      io::write_npy(out + "/mask_" + id + ".npy", {"", DType::boolean, mask_shape, mask});
    }
  } else {
    std::vector<io::TensorBytes> tensors = {{"pred", pred_dtype, pred_shape, pred},
                                            {"target", target_dtype, target_shape, target}};
    if (mask != nullptr) {
      tensors.push_back({"mask", DType::boolean, mask_shape, mask});
    }
    io::write_safetensors(out + "/shard_" + id + ".safetensors", tensors);
  }
}

// Classification shards: targets of the given shape (int64 class indices, or 0/1 labels), and
// scores from a model that is right more often than not: the true class's logit raised by 2
// (binary and multilabel: a latent logit the label is drawn from), plus `noise` of error.
// Multiclass scores (and multilabel labels) have the class axis at 1.
void synth_classification(const std::string& out, const std::string& format, int shards,
                          const std::vector<std::int64_t>& shape, DType dtype, ClassTask task,
                          std::int64_t classes, bool logits, double noise, bool with_mask,
                          std::uint64_t seed) {
  std::int64_t samples = 1;
  for (std::int64_t d : shape) {
    samples *= d;
  }
  const std::int64_t rows = shape[0];
  const std::int64_t inner = samples / rows; // samples per row after the batch axis
  std::vector<std::int64_t> target_shape = shape, pred_shape = shape;
  if (task != ClassTask::binary) {
    pred_shape.insert(pred_shape.begin() + 1, classes);
  }
  if (task == ClassTask::multilabel) {
    target_shape = pred_shape;
  }
  const std::int64_t per = task == ClassTask::binary ? 1 : classes;
  const std::size_t item = dtype_size(dtype);
  std::vector<unsigned char> pred(static_cast<std::size_t>(samples * per) * item);
  std::vector<unsigned char> target(
      static_cast<std::size_t>((task == ClassTask::multilabel ? samples * classes : samples) * 8));
  std::vector<std::int64_t> mask_shape(target_shape.begin(),
                                       target_shape.begin() + (shape.size() > 1 ? 2 : 1));
  std::int64_t mask_n = 1;
  for (std::int64_t d : mask_shape) {
    mask_n *= d;
  }
  std::vector<unsigned char> mask(static_cast<std::size_t>(mask_n));
  std::vector<double> z(static_cast<std::size_t>(per));
  Rng rng(seed);
  const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  for (int k = 0; k < shards; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t i = 0; i < inner; ++i) {
        // Element offsets of class c of this sample with the class axis at 1.
        const auto at = [&](std::int64_t c) {
          return static_cast<std::size_t>((r * per + c) * inner + i);
        };
        if (task == ClassTask::multiclass) {
          // Skewed class frequencies: class c drawn with weight 1 / (c + 1).
          double total = 0;
          for (std::int64_t c = 0; c < classes; ++c) {
            total += 1.0 / static_cast<double>(c + 1);
          }
          double u = rng.uniform() * total;
          std::int64_t y = 0;
          while (y + 1 < classes && (u -= 1.0 / static_cast<double>(y + 1)) > 0) {
            ++y;
          }
          double mx = -1e300;
          for (std::int64_t c = 0; c < classes; ++c) {
            z[static_cast<std::size_t>(c)] = (c == y ? 2.0 : 0.0) + (0.9 + noise) * rng.normal();
            mx = std::max(mx, z[static_cast<std::size_t>(c)]);
          }
          double sum = 0;
          for (std::int64_t c = 0; c < classes; ++c) {
            sum += std::exp(z[static_cast<std::size_t>(c)] - mx);
          }
          for (std::int64_t c = 0; c < classes; ++c) {
            const double v = z[static_cast<std::size_t>(c)];
            store(pred, dtype, at(c), logits ? v : std::exp(v - mx) / sum);
          }
          const auto t = static_cast<std::int64_t>(r * inner + i);
          std::memcpy(&target[static_cast<std::size_t>(t) * 8], &y, 8);
        } else {
          for (std::int64_t c = 0; c < per; ++c) {
            const double latent = 2.0 * rng.normal();
            const std::int64_t y = rng.uniform() < sigmoid(latent) ? 1 : 0;
            const double v = latent + noise * 10.0 * rng.normal();
            store(pred, dtype, at(c), logits ? v : sigmoid(v));
            std::memcpy(&target[at(c) * 8], &y, 8);
          }
        }
      }
    }
    for (auto& m : mask) {
      m = rng.uniform() < 0.9 ? 1 : 0;
    }
    write_shard(out, format, k, dtype, pred_shape, pred.data(), DType::i64, target_shape,
                target.data(), mask_shape, with_mask ? mask.data() : nullptr);
  }
  std::fprintf(stderr, "gpu-eval synth: wrote %d %s shard%s: pred %s %s, target %s int64 to %s\n",
               shards, std::string(class_task_name(task)).c_str(), shards == 1 ? "" : "s",
               detail_shape(pred_shape).c_str(), std::string(dtype_name(dtype)).c_str(),
               detail_shape(target_shape).c_str(), out.c_str());
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
      ("task", "regression (motion-like curves), binary, multiclass or multilabel", cxxopts::value<std::string>()->default_value("regression"))
      ("num-classes", "classes (multiclass) or labels (multilabel)", cxxopts::value<std::int64_t>()->default_value("10"))
      ("logits", "classification: write logits instead of probabilities")
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

  const std::string task = args["task"].as<std::string>();
  if (task != "regression") {
    ClassTask t;
    try {
      t = parse_class_task(task);
    } catch (const InvalidArgument& e) {
      throw UsageError(std::string("synth: ") + e.what());
    }
    const std::int64_t classes = args["num-classes"].as<std::int64_t>();
    if (t != ClassTask::binary && (classes < 2 || classes > kMaxClasses)) {
      throw UsageError("synth: --num-classes must be between 2 and " + std::to_string(kMaxClasses));
    }
    synth_classification(out, format, shards, shape, dtype, t, classes, args.count("logits") > 0,
                         noise, with_mask, args["seed"].as<std::uint64_t>());
    return kOk;
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
    write_shard(out, format, k, dtype, shape, pred.data(), dtype, shape, target.data(), mask_shape,
                with_mask ? mask.data() : nullptr);
  }
  std::fprintf(stderr, "gpu-eval synth: wrote %d shard%s of [%s] %s to %s\n", shards,
               shards == 1 ? "" : "s", args["shape"].as<std::string>().c_str(),
               std::string(dtype_name(dtype)).c_str(), out.c_str());
  return kOk;
}

} // namespace gpueval::cli
