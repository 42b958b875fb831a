// gpu-eval: exact epoch metrics over saved tensor shards, in bounded memory.
#include <cxxopts.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/error.hpp"
#include "gpueval/version.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

constexpr const char* kExitHelp = R"(
Exit status: 0 success; 2 usage error (bad flag or value, unknown metric, unpaired files);
3 input error (missing, unreadable or malformed file, or one that does not fit the others);
4 non-finite value under --nan-policy error; 5 device not usable; 1 internal error.

Multi-file flags (--pred, --target, --mask, --shards) take every following argument up to the
next option, so shell globs work as typed: gpu-eval --pred preds/*.npy --target targets/*.npy.
Paths may contain commas. Predictions and targets pair up in the order given.
)";

// The flags that take several files. cxxopts keeps only the first value after a flag (and splits
// on commas), so these are taken out of argv before it parses the rest.
const char* const kMultiFlags[] = {"--pred", "--target", "--mask", "--shards"};

struct Split {
  std::vector<std::vector<std::string>> files{4};
  std::vector<std::string> rest;
};

Split split_multi_flags(int argc, char** argv) {
  Split out;
  out.rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    int which = -1;
    std::string inline_value;
    for (int f = 0; f < 4; ++f) {
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

std::optional<int> parse_axis(const std::string& text, const char* flag, bool allow_none) {
  if (allow_none && text == "none") {
    return std::nullopt;
  }
  try {
    std::size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size()) {
      return v;
    }
  } catch (const std::exception&) {
  }
  throw UsageError(std::string(flag) + " '" + text + "' is not an integer" +
                   (allow_none ? " or 'none'" : ""));
}

int eval_main(int argc, char** argv) {
  Split split = split_multi_flags(argc, argv);
  cxxopts::Options options("gpu-eval", "Exact regression metrics over saved tensor shards, "
                                       "streamed in bounded memory.");
  options.custom_help("--pred P.npy... --target T.npy... [options] | --shards S... [options]");
  options.positional_help("");
  // clang-format off
  options.add_options("Input")
      ("pred", "prediction files (.npy, .safetensors, .pt), in order", cxxopts::value<std::string>())
      ("target", "target files, paired with --pred in order", cxxopts::value<std::string>())
      ("mask", "mask files (bool/uint8, nonzero = include), paired in order", cxxopts::value<std::string>())
      ("shards", "files holding pred, target (and mask) tensors by key", cxxopts::value<std::string>())
      ("pred-key", "key of the predictions in --shards files", cxxopts::value<std::string>()->default_value("pred"))
      ("target-key", "key of the targets in --shards files", cxxopts::value<std::string>()->default_value("target"))
      ("mask-key", "key of the mask in --shards files (none by default)", cxxopts::value<std::string>());
  options.add_options("Metrics")
      ("metrics", "comma-separated metric names, 'default' or 'all'", cxxopts::value<std::string>()->default_value("default"))
      ("channel-axis", "-1 (last axis) or none", cxxopts::value<std::string>()->default_value("-1"))
      ("by-axis", "breakdown axis of the tensors (e.g. 1 for time in [batch, time, channel])", cxxopts::value<std::string>())
      ("nan-policy", "skip, propagate or error", cxxopts::value<std::string>()->default_value("skip"))
      ("quantile-alpha", "relative accuracy of median_absolute_error, abs_error_q90, abs_error_q99", cxxopts::value<double>()->default_value("0.005"));
  options.add_options("Classification (--task)")
      ("task", "regression (the default), binary, multiclass or multilabel", cxxopts::value<std::string>()->default_value("regression"))
      ("num-classes", "classes (multiclass) or labels (multilabel)", cxxopts::value<std::int64_t>())
      ("scores", "probabilities or logits", cxxopts::value<std::string>()->default_value("probabilities"))
      ("threshold", "binary and multilabel: a probability above it is a positive", cxxopts::value<double>()->default_value("0.5"))
      ("class-axis", "the class axis of multiclass scores (label axis of multilabel)", cxxopts::value<int>()->default_value("1"))
      ("top-k", "multiclass scores: also top_k_accuracy", cxxopts::value<int>())
      ("ignore-index", "targets equal to it are dropped", cxxopts::value<std::int64_t>())
      ("bins", "calibration bins (ece, mce)", cxxopts::value<int>()->default_value("15"))
      ("beta", "beta of fbeta", cxxopts::value<double>()->default_value("1"));
  options.add_options("Execution")
      ("device", "auto, cpu, cuda or cuda:N", cxxopts::value<std::string>()->default_value("auto"))
      ("threads", "CPU threads (0: one per core)", cxxopts::value<int>()->default_value("0"))
      ("window-mib", "rows read per window, in MiB per tensor", cxxopts::value<int>()->default_value("16"))
      ("read", "auto, map (fold the files' pages in place) or pread (copy into buffers)", cxxopts::value<std::string>()->default_value("auto"));
  options.add_options("Fan-out")
      ("shard-index", "evaluate part I of --shard-count (0-based)", cxxopts::value<int>()->default_value("0"))
      ("shard-count", "split the input files into N parts balanced by bytes", cxxopts::value<int>()->default_value("1"))
      ("save-state", "write the epoch state to FILE, for gpu-eval merge", cxxopts::value<std::string>());
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
                     "' (files go after --pred, --target, --mask or --shards)");
  }
  if (args.count("help")) {
    std::fputs(options
                   .help({"", "Input", "Metrics", "Classification (--task)", "Execution", "Fan-out",
                          "Output"})
                   .c_str(),
               stdout);
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
  if (!o.shards.empty()) {
    if (!o.pred.empty() || !o.target.empty() || !o.mask.empty()) {
      throw UsageError("give either --shards or --pred/--target(/--mask), not both");
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
  }
  if (args.count("mask-key") && o.shards.empty()) {
    throw UsageError("--mask-key applies to --shards files; give --mask files with --pred");
  }
  o.pred_key = args["pred-key"].as<std::string>();
  o.target_key = args["target-key"].as<std::string>();
  if (args.count("mask-key")) {
    o.mask_key = args["mask-key"].as<std::string>();
  }
  const std::string task = args["task"].as<std::string>();
  const auto given = [&](const char* flag) { return args.count(flag) > 0; };
  if (task != "regression") {
    for (const char* flag : {"by-axis"}) {
      if (given(flag)) {
        throw UsageError(std::string("--") + flag + " applies to --task regression");
      }
    }
  } else {
    for (const char* flag : {"num-classes", "top-k", "ignore-index"}) {
      if (given(flag)) {
        throw UsageError(std::string("--") + flag +
                         " applies to classification: give --task binary, multiclass or "
                         "multilabel");
      }
    }
  }
  try {
    if (task != "regression") {
      ClassificationSpec c;
      c.task = parse_class_task(task);
      c.num_classes = given("num-classes") ? args["num-classes"].as<std::int64_t>()
                                           : (c.task == ClassTask::binary ? 2 : 0);
      c.set_metrics(args["metrics"].as<std::string>());
      const std::string scores = args["scores"].as<std::string>();
      if (scores != "probabilities" && scores != "logits") {
        throw UsageError("--scores '" + scores + "' is not probabilities or logits");
      }
      c.scores = scores == "logits" ? ScoreKind::logits : ScoreKind::probabilities;
      c.threshold = args["threshold"].as<double>();
      c.class_axis = args["class-axis"].as<int>();
      c.top_k = given("top-k") ? args["top-k"].as<int>() : 0;
      if (given("ignore-index")) {
        c.ignore_index = args["ignore-index"].as<std::int64_t>();
      }
      c.bins = args["bins"].as<int>();
      c.beta = args["beta"].as<double>();
      c.nan_policy = parse_nan_policy(args["nan-policy"].as<std::string>());
      c.validate();
      o.classification = c;
    } else {
      o.spec.metrics = parse_metric_list(args["metrics"].as<std::string>());
    }
    o.spec.nan_policy = parse_nan_policy(args["nan-policy"].as<std::string>());
    o.spec.quantile_alpha = args["quantile-alpha"].as<double>();
    const std::string device = args["device"].as<std::string>();
    if (device != "auto") {
      o.device = Device::parse(device);
    }
  } catch (const InvalidArgument& e) {
    throw UsageError(e.what());
  }
  o.spec.channel_axis = parse_axis(args["channel-axis"].as<std::string>(), "--channel-axis", true);
  if (o.spec.channel_axis && *o.spec.channel_axis != -1) {
    throw UsageError("--channel-axis " + std::to_string(*o.spec.channel_axis) +
                     " is not supported: the channel axis is the last axis (-1) or none");
  }
  if (args.count("by-axis")) {
    o.spec.by_axis = parse_axis(args["by-axis"].as<std::string>(), "--by-axis", false);
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
  o.shard_count = args["shard-count"].as<int>();
  o.shard_index = args["shard-index"].as<int>();
  if (o.shard_count < 1) {
    throw UsageError("--shard-count must be 1 or more");
  }
  if (o.shard_index < 0 || o.shard_index >= o.shard_count) {
    throw UsageError(fmt::format("--shard-index {} is outside 0..{} (--shard-count {})",
                                 o.shard_index, o.shard_count - 1, o.shard_count));
  }
  try {
    o.spec.validate();
  } catch (const InvalidArgument& e) {
    throw UsageError(e.what());
  }

  const Evaluation result = evaluate(o);
  if (result.state) {
    write_file_atomically(o.save_state, result.state->bytes);
  }
  emit_report(result.report, o.format, o.output);
  return kOk;
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
