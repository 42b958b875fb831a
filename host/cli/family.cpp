// gpu-eval's registry of the families' CLI parts, and the helpers their writers share.
#include "cli/family.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "cli/cli.hpp"
#include "io/shard_writer.hpp"

namespace gpueval::cli {

namespace {

std::vector<CliFamily>& registry() {
  static std::vector<CliFamily> families;
  return families;
}

void register_once() {
  static std::once_flag once;
  std::call_once(once, [] { register_cli_builtins(); });
}

} // namespace

void register_cli_family(CliFamily family) {
  family_of_tag(family.tag); // the engine must know it (throws StateError naming the tag)
  for (const CliFamily& f : registry()) {
    if (f.tag == family.tag) {
      throw std::logic_error("gpu-eval: a family's CLI parts are registered twice");
    }
  }
  registry().push_back(std::move(family));
}

const std::vector<CliFamily>& cli_families() {
  register_once();
  return registry();
}

const CliFamily& cli_family(Family tag) {
  for (const CliFamily& f : cli_families()) {
    if (f.tag == tag) {
      return f;
    }
  }
  throw std::logic_error("gpu-eval has no table or CSV writer for family '" +
                         family_of_tag(tag).name + "' (host/cli/families.cpp registers them)");
}

std::string number(double v) {
  if (std::isnan(v)) {
    return "nan";
  }
  if (std::isinf(v)) {
    return v > 0 ? "inf" : "-inf";
  }
  return fmt::format("{:.17g}", v);
}

std::string short_number(double v) {
  if (std::isnan(v)) {
    return "nan";
  }
  return fmt::format("{:.6g}", v);
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(s[i]);
  }
  return out + "]";
}

std::string io_line(const FamilyReport& r) {
  const double gbs = r.elapsed_s > 0 ? static_cast<double>(r.bytes_read) / r.elapsed_s / 1e9 : 0;
  return fmt::format("device {}; {:.3f} s; {:.2f} GB read at {:.2f} GB/s\n", r.device, r.elapsed_s,
                     static_cast<double>(r.bytes_read) / 1e9, gbs);
}

Rng::Rng(std::uint64_t seed) {
  for (auto& s : s_) { // splitmix64 seeding
    seed += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    s = z ^ (z >> 31);
  }
}

double Rng::uniform() {
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

void write_synth_shard(const SynthRequest& request, int k, const SynthTensor& pred,
                       const SynthTensor& target, const SynthTensor& mask) {
  const std::string id = fmt::format("{:05d}", k);
  const std::string& out = request.out;
  if (request.format == "npy") {
    io::write_npy(out + "/pred_" + id + ".npy", {"", pred.dtype, pred.shape, pred.data});
    io::write_npy(out + "/target_" + id + ".npy", {"", target.dtype, target.shape, target.data});
    if (mask.data != nullptr) {
      io::write_npy(out + "/mask_" + id + ".npy", {"", mask.dtype, mask.shape, mask.data});
    }
    return;
  }
  std::vector<io::TensorBytes> tensors = {{"pred", pred.dtype, pred.shape, pred.data},
                                          {"target", target.dtype, target.shape, target.data}};
  if (mask.data != nullptr) {
    tensors.push_back({"mask", mask.dtype, mask.shape, mask.data});
  }
  io::write_safetensors(out + "/shard_" + id + ".safetensors", tensors);
}

std::string flag_of(const std::string& option) {
  std::string flag = "--" + option;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

} // namespace gpueval::cli
