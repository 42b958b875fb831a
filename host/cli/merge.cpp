// gpu-eval merge: joins the states of evaluations that a scheduler fanned out (each
// `gpu-eval --shard-index I --shard-count N --save-state part-I.state`) into one report.
#include <cxxopts.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "gpueval/error.hpp"
#include "gpueval/family.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

constexpr const char* kMergeHelp = R"(
The states must come from evaluations of one spec (metrics' statistics, --channel-axis,
--by-axis, --nan-policy, sample shape): a state of another spec, another version, or a file
that is truncated or corrupt is refused with exit status 3, naming the file. States merge in
the order given, so the same files in the same order give the same report, bit for bit (the
merged report's elapsed_s and bytes_read are 0: the evaluations' own reports have them).
--metrics defaults to the default set plus the opt-in metrics whose statistics the states hold.
The options that shape a report but not its state (the flags above after --save-state) can be
given here; every other option is the states'.
)";

// Flags of `merge` that take a value; everything else that is not a flag is a state file (taken
// out before cxxopts parses, which would split paths on commas).
const char* const kValueFlags[] = {"--metrics", "--format", "--output", "--save-state"};

// The families' report-only options (OptionInfo::report_only) as merge's flags: option name,
// the families that have it, their help. Every one takes a value.
struct ReportOption {
  std::string name, help;
};
std::vector<ReportOption> report_options() {
  std::vector<ReportOption> out;
  for (const FamilyDescription& f : families()) {
    for (const OptionInfo& o : f.options) {
      if (!o.report_only) {
        continue;
      }
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const ReportOption& r) { return r.name == o.name; });
      if (it == out.end()) {
        out.push_back({o.name, f.name + ": " + o.help});
      } else {
        it->help = f.name + ", " + it->help;
      }
    }
  }
  return out;
}

State read_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw io::ReadError(path + ": cannot open the state file");
  }
  State s;
  s.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    throw io::ReadError(path + ": cannot read the state file");
  }
  return s;
}

} // namespace

int merge_main(int argc, char** argv) {
  const std::vector<ReportOption> reports = report_options();
  std::vector<std::string> files;
  std::vector<std::string> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] != '-') {
      files.push_back(a);
      continue;
    }
    rest.push_back(a);
    bool takes_value =
        std::find(std::begin(kValueFlags), std::end(kValueFlags), a) != std::end(kValueFlags);
    for (const ReportOption& r : reports) {
      takes_value = takes_value || a == flag_of(r.name);
    }
    if (takes_value && i + 1 < argc) {
      rest.push_back(argv[++i]);
    }
  }
  cxxopts::Options options("gpu-eval merge", "The report of several saved evaluation states "
                                             "(gpu-eval --save-state) as one evaluation.");
  options.custom_help("STATE... [options]");
  options.positional_help("");
  // clang-format off
  options.add_options()
      ("metrics", "comma-separated metric names, 'default' or 'all'", cxxopts::value<std::string>())
      ("format", "table, json, csv or none (with --save-state)", cxxopts::value<std::string>()->default_value("table"))
      ("output", "write the report to this file instead of stdout", cxxopts::value<std::string>())
      ("save-state", "write the merged state to FILE", cxxopts::value<std::string>())
      ("h,help", "this help");
  // clang-format on
  for (const ReportOption& r : reports) {
    options.add_options()(flag_of(r.name).substr(2), r.help, cxxopts::value<std::string>());
  }
  std::vector<char*> args_v;
  for (std::string& s : rest) {
    args_v.push_back(s.data());
  }
  cxxopts::ParseResult args;
  try {
    args = options.parse(static_cast<int>(args_v.size()), args_v.data());
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what());
  }
  if (args.count("help")) {
    std::fputs(options.help().c_str(), stdout);
    std::fputs(kMergeHelp, stdout);
    return kOk;
  }
  if (files.empty()) {
    throw UsageError("gpu-eval merge needs at least one state file");
  }
  const Format format = parse_format(args["format"].as<std::string>());
  const std::string save = args.count("save-state") ? args["save-state"].as<std::string>() : "";
  if (format == Format::none && save.empty()) {
    throw UsageError("--format none writes no report: give --save-state FILE");
  }
  const std::string metrics = args.count("metrics") ? args["metrics"].as<std::string>() : "";
  Options given;
  for (const ReportOption& r : reports) {
    if (args.count(flag_of(r.name).substr(2))) {
      given[r.name] = args[flag_of(r.name).substr(2)].as<std::string>();
    }
  }

  std::vector<State> states;
  for (const std::string& f : files) {
    states.push_back(read_state(f));
  }
  // The first state says the family and the spec; every other must merge into it.
  std::unique_ptr<AnyEvaluator> ev;
  try {
    ev = evaluator_for_state(states.front(), metrics, Device::cpu(1), given);
  } catch (const StateError& e) {
    throw InputError(files.front() + ": " + e.what());
  } catch (const InvalidArgument& e) {
    throw UsageError(files.front() + ": " + e.what());
  }
  for (std::size_t i = 0; i < states.size(); ++i) {
    try {
      ev->merge(states[i]);
    } catch (const StateError& e) {
      throw InputError(files[i] + ": " + e.what());
    } catch (const InvalidArgument& e) {
      throw UsageError(files[i] + ": " + e.what());
    }
  }
  if (!save.empty()) {
    write_file_atomically(save, ev->state().bytes);
  }
  AnyReport report = ev->compute_any();
  report.set_device(fmt::format("merge of {} state{}", files.size(), files.size() == 1 ? "" : "s"));
  emit_report(report, format, args.count("output") ? args["output"].as<std::string>() : "");
  return kOk;
}

} // namespace gpueval::cli
