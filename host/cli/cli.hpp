// gpu-eval: shared declarations of the command's parts.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/report.hpp"
#include "gpueval/spec.hpp"

namespace gpueval::cli {

// Exit statuses (documented in gpu-eval --help and the README).
enum Exit : int {
  kOk = 0,
  kInternal = 1,  // a bug: please report
  kUsage = 2,     // bad flags or flag values, unknown metrics, unpaired files
  kInput = 3,     // a file is missing, unreadable, malformed, or does not fit the others
  kNonFinite = 4, // --nan-policy error found a non-finite pair
  kDevice = 5,    // the requested device is not usable
};

// A usage mistake: reported with a hint to --help, exit kUsage.
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A file that does not fit the others (shape or dtype mismatch, a mask that does not fit); the
// readers' own ReadError covers files that are bad in themselves. Exit kInput.
class InputError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class Format { table, json, csv };

struct EvalOptions {
  // Either paired files (pred[i], target[i], mask[i]) or shards holding all three by key.
  std::vector<std::string> pred, target, mask, shards;
  std::string pred_key = "pred", target_key = "target", mask_key;
  RegressionSpec spec;
  std::optional<Device> device; // nullopt: auto
  int threads = 0;
  Format format = Format::table;
  std::string output; // empty: stdout
  bool progress = true;
  std::int64_t window_bytes = std::int64_t{16} << 20; // per tensor and buffer
};

// Streams every shard through an Evaluator in bounded memory; the report carries elapsed time and
// bytes read.
Report evaluate(const EvalOptions& options);

std::string format_report(const Report& report, Format format);

// `gpu-eval synth ...`; returns the exit status.
int synth_main(int argc, char** argv);

} // namespace gpueval::cli
