// What a family adds to gpu-eval beside the engine's registry (gpueval/family.hpp): its report
// as a table for people and as CSV, and its synthetic shards for `gpu-eval synth`. A family
// registers these in its own file (host/cli/<family>.cpp); host/cli/families.cpp calls the
// registrations, so that the command's shared parts name no family (docs/design.md, "Adding a
// family").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gpueval/dtype.hpp"
#include "gpueval/family.hpp"

namespace gpueval::cli {

// What `gpu-eval synth` was asked for: the flags every family shares, and the family's own
// (`options`, by name with underscores, as text; absent: the flag's default).
struct SynthRequest {
  std::string out;    // the directory (created)
  std::string format; // "npy" or "safetensors"
  std::string task;
  int shards = 8;
  std::vector<std::int64_t> shape; // of one shard
  DType dtype = DType::f32;
  std::uint64_t seed = 0;
  double noise = 0.1;
  bool mask = false;
  Options options;
};

// A flag of a family's synthetic data (gpu-eval synth --offset, --num-classes, --logits).
struct SynthFlag {
  std::string name; // with underscores: "num_classes" is --num-classes
  std::string help;
  std::string default_value; // empty: none
  bool is_switch = false;    // takes no value; given: options[name] == "true"
};

struct CliFamily {
  Family tag{};
  // The report as a table or CSV (JSON is the report's own). Receives this family's reports.
  std::function<std::string(const FamilyReport&, TextFormat)> format;
  // gpu-eval synth: the family's own flags, and the writer (throws UsageError for a value it
  // cannot take).
  std::vector<SynthFlag> synth_flags;
  std::function<void(const SynthRequest&)> synth;
};

// Registers a family's CLI parts; the engine's registry must know the tag.
void register_cli_family(CliFamily family);
// The CLI parts of the family with this tag (registered by host/cli/families.cpp on first use).
const CliFamily& cli_family(Family tag);
const std::vector<CliFamily>& cli_families();

// Defined by host/cli/families.cpp: every family's CLI registration.
void register_cli_builtins();

// ---- shared by the families' writers -------------------------------------------------------

// 17 significant digits (round-trips a double); nan, inf, -inf.
std::string number(double v);
// 6 significant digits, for tables.
std::string short_number(double v);
// "[16, 500, 20]"
std::string shape_text(const std::vector<std::int64_t>& shape);
// The second line of every table: "device ...; 1.234 s; 2.00 GB read at 1.62 GB/s".
std::string io_line(const FamilyReport& report);

// xoshiro256+ (Blackman and Vigna): fast and good enough for synthetic data; deterministic for a
// seed.
class Rng {
public:
  explicit Rng(std::uint64_t seed);
  double uniform(); // [0, 1)
  // Approximately standard normal (Irwin-Hall of 4 uniforms, rescaled): cheap and bounded.
  double normal() {
    return (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772;
  }

private:
  std::uint64_t s_[4];
};

// Element i of a float buffer of dtype `d` set to v.
void store(std::vector<unsigned char>& buffer, DType d, std::size_t i, double v);

// One tensor of a synthetic shard.
struct SynthTensor {
  DType dtype;
  std::vector<std::int64_t> shape;
  const unsigned char* data; // nullptr: none (an absent mask)
};
// Shard k of a request: pred_NNNNN.npy, target_NNNNN.npy (mask_NNNNN.npy), or
// shard_NNNNN.safetensors with keys pred, target (mask).
void write_synth_shard(const SynthRequest& request, int k, const SynthTensor& pred,
                       const SynthTensor& target, const SynthTensor& mask);

} // namespace gpueval::cli
