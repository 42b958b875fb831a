// gpu-eval: shared declarations of the command's parts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/family.hpp"
#include "gpueval/state.hpp"

namespace gpueval::cli {

// Exit statuses (documented in gpu-eval --help and the README).
enum Exit : int {
  kOk = 0,
  kInternal = 1,  // a bug: please report
  kUsage = 2,     // bad flags or flag values, unknown metrics, unpaired files
  kInput = 3,     // a file is missing, unreadable, malformed, or does not fit the others
  kNonFinite = 4, // --nan-policy error found a non-finite pair
  kDevice = 5,    // the requested device is not usable
  kSkipped = 6,   // the report is written, but --on-error skip-file skipped files it lists
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

enum class Format { table, json, csv, none };

struct EvalOptions {
  // Either paired files (pred[i], target[i], mask[i]) or shards holding all three by key.
  std::vector<std::string> pred, target, mask, weight, shards;
  std::string pred_key = "pred", target_key = "target", mask_key, weight_key;
  // The task (which selects the family) and the family's options (gpueval/family.hpp), which the
  // family parses and validates; the first shard's headers give it the sample shape and dtypes.
  std::string task; // empty: the first registered family's first task
  Options options;
  std::optional<Device> device; // nullopt: auto
  int threads = 0;
  Format format = Format::table;
  std::string output; // empty: stdout
  bool progress = true;
  std::int64_t window_bytes = std::int64_t{16} << 20; // per tensor and buffer
  // How windows are read: in place from read-only file mappings (no copy; a window's pages are
  // resident only while it is mapped), copied into buffers with pread, or auto: mapped when a
  // window is at least kMapMinBytes. Measured (bench/cli_vs_cat.py, bench/NOTES.md): since the
  // fold reads contiguous values in place, a copy costs more than it saves from 256 KiB on
  // (640 KiB windows: 0.93 of cat's rate mapped, 0.77 copied); below, a mapping's setup and
  // faults cost more than the copy (40 KiB: 0.98 mapped, 1.21 copied).
  enum class ReadMode { auto_select, map, pread } read = ReadMode::auto_select;
  static constexpr std::uint64_t kMapMinBytes = std::uint64_t{256} << 10;
  // Part shard_index of shard_count (see partition.hpp): the files this process evaluates.
  int shard_index = 0;
  int shard_count = 1;
  std::string save_state; // write the epoch state here (empty: do not)
  // --checkpoint FILE: the epoch state and the position, written atomically at window
  // boundaries every checkpoint_every seconds (0: after every window); --resume FILE: continue
  // from one, refusing (InputError) when the inputs or the reading differ (checkpoint.cpp).
  std::string checkpoint;
  double checkpoint_every = 60;
  std::string resume;
  // --on-error: what a shard that cannot be read does (it cannot be opened or parsed, does not
  // fit the others, ends early, fails to read, or changes while it is read): end the run (fail,
  // exit kInput), or leave the shard out, list it in the report (name, reason) and evaluate the
  // rest (skip_file, exit kSkipped when something was left out). Values (a non-finite pair, a
  // negative weight) are not read faults: --nan-policy and the weight checks decide those.
  enum class OnError { fail, skip_file } on_error = OnError::fail;
};

// A shard --on-error skip-file left out: its files and why.
struct Skipped {
  std::vector<std::string> files;
  std::string reason;

  // "a.npy, b.npy: reason", as the table and stderr name it.
  std::string text() const {
    std::string out;
    for (const std::string& f : files) {
      out += (out.empty() ? "" : ", ") + f;
    }
    return out + ": " + reason;
  }
};

// A run's checkpoint: where the run was and the state it had folded (host/cli/checkpoint.cpp).
struct Checkpoint {
  std::vector<std::string> inputs; // one line per input: what must not change (input_identity)
  std::size_t shard = 0;           // the next window: its shard among this part's
  std::int64_t row0 = 0;           // and its first row
  std::uint64_t done = 0;          // bytes folded before it
  std::vector<std::pair<std::size_t, std::int64_t>> origins; // every window folded: shard, row
  std::vector<std::uint8_t> state;                           // the evaluator's state blob
  // --on-error skip-file: the shards left out so far (by index among this part's), and the
  // state, windows and bytes at the start of the next window's shard, which a fault later in
  // that shard returns to.
  std::vector<std::pair<std::size_t, Skipped>> skipped;
  std::optional<std::vector<std::uint8_t>> shard_start_state;
  std::size_t shard_start_origins = 0;
  std::uint64_t shard_start_done = 0;
};
// A line that names a file and its identity: path, size, modification time and a hash of its
// first and last 64 KiB (io::ReadError when it cannot be read).
std::string file_identity(const std::string& path);
void write_checkpoint(const std::string& path, const Checkpoint& c);
// io::ReadError naming the file for one that is missing, truncated or not a checkpoint.
Checkpoint read_checkpoint(const std::string& path);

struct Evaluation {
  AnyReport report;
  std::optional<State> state;   // when EvalOptions::save_state is set
  std::vector<Skipped> skipped; // --on-error skip-file: the shards left out, in order
};

} // namespace gpueval::cli

namespace gpueval::detail {
class DeviceStaging;
}

namespace gpueval::cli {

// What evaluate() takes from the machine it runs on: whether a CUDA device is usable (for
// --device auto), the evaluator on the chosen device (made by the family's factory, which the
// hook calls), and the pinned staging ring of the GPU path. Tests replace them with a fake
// device that checks what gpu-eval hands it (tests/test_cli_staging.cpp).
struct Machine {
  using Factory = std::function<std::unique_ptr<AnyEvaluator>(Device)>;
  std::function<bool()> cuda_usable;
  std::function<std::unique_ptr<AnyEvaluator>(Device, const Factory&)> evaluator;
  std::function<std::unique_ptr<detail::DeviceStaging>(int device, int slots, int buffers,
                                                       const std::uint64_t* capacity)>
      staging;

  static Machine real();
};

// Streams this part's shards through an Evaluator in bounded memory; the report carries elapsed
// time and the bytes read.
Evaluation evaluate(const EvalOptions& options, const Machine& machine = Machine::real());

// `gpu-eval merge STATE...`; returns the exit status.
int merge_main(int argc, char** argv);

// The flag of a family option: "--num-classes" for "num_classes".
std::string flag_of(const std::string& option);

// Writes bytes to `path` through a temporary file renamed into place, so that a reader (or a
// scheduler's retry) never sees half a state. Throws io::ReadError naming the file.
void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes,
                           const std::string& what = "the state");

// With `skipped` (a run under --on-error skip-file), the table ends with the shards left out and
// the JSON has "skipped": [{"files": [...], "reason": "..."}] (empty when none was).
std::string format_report(const AnyReport& report, Format format,
                          const std::vector<Skipped>* skipped = nullptr);
// "table", "json", "csv", "none"; UsageError otherwise.
Format parse_format(const std::string& text);
// The report in `format` to stdout, or to `output` when it is not empty (io::ReadError when it
// cannot be written). Format::none writes nothing.
void emit_report(const AnyReport& report, Format format, const std::string& output,
                 const std::vector<Skipped>* skipped = nullptr);

// `gpu-eval synth ...`; returns the exit status.
int synth_main(int argc, char** argv);

} // namespace gpueval::cli
