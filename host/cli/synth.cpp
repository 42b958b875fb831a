// gpu-eval synth: synthetic shards for demos, tests and benchmarks, with no Python needed. The
// families write them (cli/family.hpp, each family's synth): data that looks like a model's
// outputs and its targets. Deterministic for a seed.
#include <cxxopts.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "gpueval/error.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

// Every family's tasks, for help texts: "a, b or c".
std::string task_list() {
  std::vector<std::string> tasks;
  for (const FamilyDescription& f : families()) {
    tasks.insert(tasks.end(), f.tasks.begin(), f.tasks.end());
  }
  std::string out;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == tasks.size() ? " or " : ", ") + tasks[i];
  }
  return out;
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
      ("mask", "also write masks over the first two axes (about 10% excluded)")
      ("format", "npy (pred_NNNNN.npy, target_NNNNN.npy, mask_NNNNN.npy) or safetensors "
                 "(shard_NNNNN.safetensors with keys pred, target, mask)",
       cxxopts::value<std::string>()->default_value("npy"))
      ("task", task_list(), cxxopts::value<std::string>()->default_value(families().front().tasks.front()));
  // clang-format on
  // Each family's own flags, once per name (the family whose task is chosen reads them).
  std::vector<std::string> seen;
  for (const CliFamily& f : cli_families()) {
    for (const SynthFlag& flag : f.synth_flags) {
      if (std::find(seen.begin(), seen.end(), flag.name) != seen.end()) {
        continue;
      }
      seen.push_back(flag.name);
      const std::string name = flag_of(flag.name).substr(2);
      if (flag.is_switch) {
        options.add_options()(name, flag.help);
      } else if (flag.default_value.empty()) {
        options.add_options()(name, flag.help, cxxopts::value<std::string>());
      } else {
        options.add_options()(name, flag.help + " (default " + flag.default_value + ")",
                              cxxopts::value<std::string>());
      }
    }
  }
  options.add_options()("h,help", "this help");
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
  const std::string task = args["task"].as<std::string>();
  Family tag;
  try {
    tag = family_of_task(task).tag;
  } catch (const InvalidArgument& e) {
    throw UsageError(std::string("synth: ") + e.what());
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    throw io::ReadError(out + ": cannot create the directory: " + ec.message());
  }

  SynthRequest q;
  q.out = out;
  q.format = format;
  q.task = task;
  q.shards = shards;
  q.shape = shape;
  q.dtype = dtype;
  q.seed = args["seed"].as<std::uint64_t>();
  q.noise = args["noise"].as<double>();
  q.mask = args.count("mask") > 0;
  const CliFamily& family = cli_family(tag);
  for (const std::string& name : seen) {
    const std::string flag = flag_of(name);
    if (args.count(flag.substr(2)) == 0) {
      continue;
    }
    const auto& own = family.synth_flags;
    const auto it =
        std::find_if(own.begin(), own.end(), [&](const SynthFlag& f) { return f.name == name; });
    if (it == own.end()) {
      throw UsageError("synth: " + flag + " does not apply to --task " + q.task);
    }
    q.options[name] = it->is_switch ? "true" : args[flag.substr(2)].as<std::string>();
  }
  family.synth(q);
  return kOk;
}

} // namespace gpueval::cli
