// gpu-eval: exact epoch metrics over saved tensor shards, in bounded memory.
#include <cxxopts.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "core/registry.hpp"
#include "gpueval/error.hpp"
#include "gpueval/version.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

constexpr const char* kExitHelp = R"(
Exit status: 0 success; 2 usage error (bad flag or value, unknown metric, unpaired files);
3 input error (missing, unreadable or malformed file, or one that does not fit the others, or
that changed while it was read or since the --resume checkpoint; a checkpoint or state that
cannot be written, the previous one left whole);
4 non-finite value under --nan-policy error; 5 device not usable; 6 the report is written but
--on-error skip-file left shards out (the report lists them, with the reason); 1 internal error.

Multi-file flags (--pred, --target, --mask, --weight, --shards) take every following argument up to the
next option, so shell globs work as typed: gpu-eval --pred preds/*.npy --target targets/*.npy.
Paths may contain commas. Predictions and targets pair up in the order given.
)";

// The flags that take several files. cxxopts keeps only the first value after a flag (and splits
// on commas), so these are taken out of argv before it parses the rest.
const char* const kMultiFlags[] = {"--pred", "--target", "--mask", "--shards", "--weight"};
constexpr int kNumMultiFlags = 5;

struct Split {
  std::vector<std::vector<std::string>> files{kNumMultiFlags};
  std::vector<std::string> rest;
};

Split split_multi_flags(int argc, char** argv) {
  Split out;
  out.rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    int which = -1;
    std::string inline_value;
    for (int f = 0; f < kNumMultiFlags; ++f) {
      const std::string flag = kMultiFlags[f];
      if (a == flag) {
        which = f;
      } else if (a.rfind(flag + "=", 0) == 0) {
        which = f;
        inline_value = a.substr(flag.size() + 1);
      }
    }
    if (which < 0) {
      out.rest.push_back(a);
      continue;
    }
    auto& list = out.files[static_cast<std::size_t>(which)];
    if (!inline_value.empty()) {
      list.push_back(inline_value);
    }
    while (i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-')) {
      list.push_back(argv[++i]);
    }
    if (list.empty()) {
      throw UsageError(std::string(kMultiFlags[which]) + " needs at least one file");
    }
  }
  return out;
}

std::string join_or(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  }
  return out;
}

// A family option as a flag: the families that have it (their tasks, for messages) and its
// help group (the families' shared group when every family has it, else the family's own).
struct FamilyFlag {
  std::string option, help, default_value, group;
  std::vector<std::string> tasks; // of the families that take it
};

std::vector<FamilyFlag> family_flags(std::vector<std::string>& groups) {
  const std::vector<FamilyDescription> all = families();
  std::vector<FamilyFlag> flags;
  for (const FamilyDescription& f : all) {
    for (const OptionInfo& o : f.options) {
      if (!o.flag) {
        continue;
      }
      auto it = std::find_if(flags.begin(), flags.end(),
                             [&](const FamilyFlag& x) { return x.option == o.name; });
      if (it == flags.end()) {
        flags.push_back({o.name, o.help, o.default_value, "", {}});
        it = flags.end() - 1;
      }
      it->tasks.insert(it->tasks.end(), f.tasks.begin(), f.tasks.end());
    }
  }
  groups.push_back("Metrics");
  for (const FamilyDescription& f : all) {
    std::string title = f.name + " (--task " + join_or(f.tasks) + ")";
    title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
    groups.push_back(title);
    for (FamilyFlag& flag : flags) {
      const bool shared = std::all_of(all.begin(), all.end(), [&](const FamilyDescription& g) {
        return std::any_of(g.options.begin(), g.options.end(),
                           [&](const OptionInfo& o) { return o.name == flag.option && o.flag; });
      });
      const bool own =
          std::find(flag.tasks.begin(), flag.tasks.end(), f.tasks.front()) != flag.tasks.end();
      if (flag.group.empty() && (shared || own)) {
        flag.group = shared ? "Metrics" : title;
      }
    }
  }
  return flags;
}

// A family's message about a value names the option as the engine spells it ("by_axis 'x' is not
// an integer"); gpu-eval's user typed a flag (--by-axis 'x').
std::string flag_spelling(std::string message, const std::vector<FamilyFlag>& flags) {
  for (const FamilyFlag& f : flags) {
    const std::string flag = flag_of(f.option);
    for (std::size_t at = message.find(f.option); at != std::string::npos;
         at = message.find(f.option, at + flag.size())) {
      const std::size_t end = at + f.option.size();
      const auto word = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      };
      const bool starts = at == 0 || !word(message[at - 1]);
      const bool ends = end == message.size() || !word(message[end]);
      const bool value_follows = message.compare(end, 2, " '") == 0;
      if (starts && ends && value_follows && (at < 2 || message.compare(at - 2, 2, "--") != 0)) {
        message.replace(at, f.option.size(), flag);
      }
    }
  }
  return message;
}

int eval_main(int argc, char** argv) {
  Split split = split_multi_flags(argc, argv);
  cxxopts::Options options("gpu-eval", "Exact epoch metrics over saved tensor shards, streamed in "
                                       "bounded memory.");
  options.custom_help("--pred P.npy... --target T.npy... [options] | --shards S... [options]");
  options.positional_help("");
  // clang-format off
  options.add_options("Input")
      ("pred", "prediction files (.npy, .safetensors, .pt), in order", cxxopts::value<std::string>())
      ("target", "target files, paired with --pred in order", cxxopts::value<std::string>())
      ("mask", "mask files (bool/uint8, nonzero = include), paired in order", cxxopts::value<std::string>())
      ("weight", "sample weight files (float, >= 0; the tensor's shape or a prefix, as a mask), paired in order", cxxopts::value<std::string>())
      ("shards", "files holding pred, target (and mask, weight) tensors by key", cxxopts::value<std::string>())
      ("pred-key", "key of the predictions in --shards files", cxxopts::value<std::string>()->default_value("pred"))
      ("target-key", "key of the targets in --shards files", cxxopts::value<std::string>()->default_value("target"))
      ("mask-key", "key of the mask in --shards files (none by default)", cxxopts::value<std::string>())
      ("weight-key", "key of the sample weights in --shards files (none by default)", cxxopts::value<std::string>());
  std::vector<std::string> tasks;
  for (const FamilyDescription& f : families()) {
    tasks.insert(tasks.end(), f.tasks.begin(), f.tasks.end());
  }
  std::vector<std::string> groups{"", "Input"};
  const std::vector<FamilyFlag> flags = family_flags(groups);
  options.add_options("Metrics")("task", "the task, which picks the metric family: " +
                                             join_or(tasks) + " (default " + tasks.front() + ")",
                                 cxxopts::value<std::string>());
  for (const FamilyFlag& f : flags) {
    options.add_options(f.group)(
        flag_of(f.option).substr(2),
        f.default_value.empty() ? f.help : f.help + " (default " + f.default_value + ")",
        cxxopts::value<std::string>());
  }
  // clang-format off
  options.add_options("Execution")
      ("device", "auto, cpu, cuda or cuda:N", cxxopts::value<std::string>()->default_value("auto"))
      ("threads", "CPU threads (0: one per core)", cxxopts::value<int>()->default_value("0"))
      ("window-mib", "rows read per window, in MiB per tensor", cxxopts::value<int>()->default_value("16"))
      ("read", "auto, map (fold the files' pages in place) or pread (copy into buffers)", cxxopts::value<std::string>()->default_value("auto"))
      ("on-error", "a shard that cannot be read: fail (exit 3) or skip-file (leave it out, list it in the report, exit 6)", cxxopts::value<std::string>()->default_value("fail"));
  options.add_options("Fan-out")
      ("shard-index", "evaluate part I of --shard-count (0-based)", cxxopts::value<int>()->default_value("0"))
      ("shard-count", "split the input files into N parts balanced by bytes", cxxopts::value<int>()->default_value("1"))
      ("save-state", "write the epoch state to FILE, for gpu-eval merge", cxxopts::value<std::string>());
  options.add_options("Checkpoints")
      ("checkpoint", "write the state and the position to FILE at window boundaries (atomically)", cxxopts::value<std::string>())
      ("checkpoint-every", "seconds between checkpoints (0: after every window)", cxxopts::value<double>()->default_value("60"))
      ("resume", "continue the run a --checkpoint FILE was written for (exit 3 if its inputs changed)", cxxopts::value<std::string>());
  options.add_options("Output")
      ("format", "table, json, csv or none (with --save-state)", cxxopts::value<std::string>()->default_value("table"))
      ("output", "write the report to this file instead of stdout", cxxopts::value<std::string>())
      ("no-progress", "no progress line on stderr")
      ("version", "print the version")
      ("h,help", "this help");
  // clang-format on
  std::vector<char*> rest;
  for (std::string& s : split.rest) {
    rest.push_back(s.data());
  }
  cxxopts::ParseResult args;
  try {
    args = options.parse(static_cast<int>(rest.size()), rest.data());
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what());
  }
  if (!args.unmatched().empty()) {
    throw UsageError("unexpected argument '" + args.unmatched().front() +
                     "' (files go after --pred, --target, --mask, --weight or --shards)");
  }
  if (args.count("help")) {
    groups.insert(groups.end(), {"Execution", "Fan-out", "Checkpoints", "Output"});
    std::fputs(options.help(groups).c_str(), stdout);
    std::fputs(kExitHelp, stdout);
    std::fputs("Also: gpu-eval merge --help (joins saved states), gpu-eval synth --help (writes "
               "synthetic shards).\n",
               stdout);
    return kOk;
  }
  if (args.count("version")) {
    std::printf("gpu-eval %s (%s)\n", std::string(kVersion).c_str(), cuda_versions().c_str());
    return kOk;
  }

  EvalOptions o;
  o.pred = split.files[0];
  o.target = split.files[1];
  o.mask = split.files[2];
  o.shards = split.files[3];
  o.weight = split.files[4];
  if (!o.shards.empty()) {
    if (!o.pred.empty() || !o.target.empty() || !o.mask.empty() || !o.weight.empty()) {
      throw UsageError("give either --shards or --pred/--target(/--mask/--weight), not both");
    }
  } else {
    if (o.pred.empty() || o.target.empty()) {
      throw UsageError("nothing to evaluate: give --pred and --target files, or --shards");
    }
    if (o.pred.size() != o.target.size()) {
      throw UsageError(fmt::format("{} --pred files but {} --target files; they pair up in order",
                                   o.pred.size(), o.target.size()));
    }
    if (!o.mask.empty() && o.mask.size() != o.pred.size()) {
      throw UsageError(fmt::format("{} --mask files for {} --pred files; they pair up in order",
                                   o.mask.size(), o.pred.size()));
    }
    if (!o.weight.empty() && o.weight.size() != o.pred.size()) {
      throw UsageError(fmt::format("{} --weight files for {} --pred files; they pair up in order",
                                   o.weight.size(), o.pred.size()));
    }
  }
  if (args.count("mask-key") && o.shards.empty()) {
    throw UsageError("--mask-key applies to --shards files; give --mask files with --pred");
  }
  if (args.count("weight-key") && o.shards.empty()) {
    throw UsageError("--weight-key applies to --shards files; give --weight files with --pred");
  }
  if (args.count("weight-key")) {
    o.weight_key = args["weight-key"].as<std::string>();
  }
  o.pred_key = args["pred-key"].as<std::string>();
  o.target_key = args["target-key"].as<std::string>();
  if (args.count("mask-key")) {
    o.mask_key = args["mask-key"].as<std::string>();
  }
  o.task = args.count("task") ? args["task"].as<std::string>() : tasks.front();
  try {
    family_of_task(o.task); // an unknown task: the message lists every task
    for (const FamilyFlag& f : flags) {
      if (args.count(flag_of(f.option).substr(2)) == 0) {
        continue;
      }
      if (std::find(f.tasks.begin(), f.tasks.end(), o.task) == f.tasks.end()) {
        throw UsageError(flag_of(f.option) + " applies to --task " + join_or(f.tasks));
      }
      o.options[f.option] = args[flag_of(f.option).substr(2)].as<std::string>();
    }
    // The family parses and checks its options now, before any file is opened (the first
    // shard's headers complete the spec later).
    detail::family_entry_of_task(o.task).make(o.task, o.options, Device::cpu(1), nullptr);
    const std::string device = args["device"].as<std::string>();
    if (device != "auto") {
      o.device = Device::parse(device);
    }
  } catch (const InvalidArgument& e) {
    throw UsageError(flag_spelling(e.what(), flags));
  }
  o.threads = args["threads"].as<int>();
  if (o.threads < 0) {
    throw UsageError("--threads must be 0 (one per core) or more");
  }
  if (o.threads > 0 && o.device && o.device->kind != DeviceKind::cpu) {
    throw UsageError("--threads applies to the CPU; it cannot be used with --device cuda");
  }
  const int window = args["window-mib"].as<int>();
  if (window < 1 || window > 4096) {
    throw UsageError("--window-mib must be between 1 and 4096");
  }
  o.window_bytes = std::int64_t{window} << 20;
  const std::string read = args["read"].as<std::string>();
  if (read != "auto" && read != "map" && read != "pread") {
    throw UsageError("--read must be auto, map or pread, not '" + read + "'");
  }
  o.read = read == "map"     ? EvalOptions::ReadMode::map
           : read == "pread" ? EvalOptions::ReadMode::pread
                             : EvalOptions::ReadMode::auto_select;
  const std::string on_error = args["on-error"].as<std::string>();
  if (on_error != "fail" && on_error != "skip-file") {
    throw UsageError("--on-error must be fail or skip-file, not '" + on_error + "'");
  }
  o.on_error =
      on_error == "skip-file" ? EvalOptions::OnError::skip_file : EvalOptions::OnError::fail;
  o.format = parse_format(args["format"].as<std::string>());
  o.progress = args.count("no-progress") == 0;
  if (args.count("output")) {
    o.output = args["output"].as<std::string>();
  }
  if (args.count("save-state")) {
    o.save_state = args["save-state"].as<std::string>();
  }
  if (o.format == Format::none && o.save_state.empty()) {
    throw UsageError("--format none writes no report: give --save-state FILE");
  }
  if (args.count("checkpoint")) {
    o.checkpoint = args["checkpoint"].as<std::string>();
  }
  o.checkpoint_every = args["checkpoint-every"].as<double>();
  if (!(o.checkpoint_every >= 0)) {
    throw UsageError("--checkpoint-every must be 0 or more seconds");
  }
  if (args.count("resume")) {
    o.resume = args["resume"].as<std::string>();
  }
  o.shard_count = args["shard-count"].as<int>();
  o.shard_index = args["shard-index"].as<int>();
  if (o.shard_count < 1) {
    throw UsageError("--shard-count must be 1 or more");
  }
  if (o.shard_index < 0 || o.shard_index >= o.shard_count) {
    throw UsageError(fmt::format("--shard-index {} is outside 0..{} (--shard-count {})",
                                 o.shard_index, o.shard_count - 1, o.shard_count));
  }
  const Evaluation result = evaluate(o);
  if (result.state) {
    write_file_atomically(o.save_state, result.state->bytes);
  }
  const bool skip_file = o.on_error == EvalOptions::OnError::skip_file;
  emit_report(result.report, o.format, o.output, skip_file ? &result.skipped : nullptr);
  return result.skipped.empty() ? kOk : kSkipped;
}

} // namespace
} // namespace gpueval::cli

int main(int argc, char** argv) {
  using namespace gpueval;
  using namespace gpueval::cli;
  // Two levels: usage mistakes first (with a pointer to --help), then everything else.
  try {
    try {
      if (argc >= 2 && std::strcmp(argv[1], "synth") == 0) {
        return synth_main(argc - 1, argv + 1);
      }
      if (argc >= 2 && std::strcmp(argv[1], "merge") == 0) {
        return merge_main(argc - 1, argv + 1);
      }
      return eval_main(argc, argv);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "gpu-eval: %s\n(see gpu-eval --help)\n", e.what());
      return kUsage;
    }
  } catch (const io::ReadError& e) {
    std::fprintf(stderr, "gpu-eval: %s\n", e.what());
    return kInput;
  } catch (const InputError& e) {
    std::fprintf(stderr, "gpu-eval: %s\n", e.what());
    return kInput;
  } catch (const StateError& e) {
    std::fprintf(stderr, "gpu-eval: %s\n", e.what());
    return kInput;
  } catch (const NonFiniteError& e) {
    std::fprintf(stderr, "gpu-eval: %s\n", e.what());
    return kNonFinite;
  } catch (const CudaError& e) {
    std::fprintf(stderr, "gpu-eval: %s\n", e.what());
    return kDevice;
  } catch (const InvalidArgument& e) {
    std::fprintf(stderr, "gpu-eval: %s\n", e.what());
    return kInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu-eval: internal error: %s\n", e.what());
    return kInternal;
  }
}
