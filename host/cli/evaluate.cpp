// Streams shards through an Evaluator in bounded memory: a reader thread prepares one set of
// fixed-size row windows (mapped from the files with their pages faulted in, or read into
// buffers) while the evaluator folds the other in place.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "cli/partition.hpp"
#include "cli/window_ring.hpp"
#include "core/registry.hpp"
#include "core/staging.hpp"
#include "gpueval/error.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

using io::ShardReader;

// Where each role of shard i comes from.
struct ShardSource {
  std::string pred, target, mask, weight; // paths (the same file for all with --shards)
  std::string pred_key, target_key, mask_key, weight_key;
  std::string header; // every role's dtype and shape, as validate() found them

  // Its files, each once, in role order.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const std::string* f : {&pred, &target, &mask, &weight}) {
      if (!f->empty() && std::find(out.begin(), out.end(), *f) == out.end()) {
        out.push_back(*f);
      }
    }
    return out;
  }
};

struct OpenShard {
  ShardReader pred, target;
  std::optional<ShardReader> mask, weight;
};

OpenShard open_shard(const ShardSource& s) {
  OpenShard o{ShardReader::open(s.pred, s.pred_key), ShardReader::open(s.target, s.target_key),
              std::nullopt, std::nullopt};
  if (!s.mask.empty()) {
    o.mask = ShardReader::open(s.mask, s.mask_key);
  }
  if (!s.weight.empty()) {
    o.weight = ShardReader::open(s.weight, s.weight_key);
  }
  return o;
}

std::string where(const ShardReader& r) {
  return r.info().key.empty() ? r.name() : r.name() + " ['" + r.info().key + "']";
}

// A fault --on-error skip-file leaves a shard out for: the shard cannot be opened, parsed or read
// (io::ReadError), or does not fit the others (InputError).
bool is_read_fault(const std::exception& e) {
  return dynamic_cast<const io::ReadError*>(&e) != nullptr ||
         dynamic_cast<const InputError*>(&e) != nullptr;
}

// What the run relies on in a shard's headers: each role's dtype and shape.
std::string header_of(const OpenShard& o) {
  std::string out;
  const std::pair<const char*, const ShardReader*> roles[] = {
      {"pred", &o.pred},
      {"target", &o.target},
      {"mask", o.mask ? &*o.mask : nullptr},
      {"weight", o.weight ? &*o.weight : nullptr}};
  for (const auto& [role, r] : roles) {
    if (r != nullptr) {
      out += (out.empty() ? "" : ", ") + std::string(role) + " " +
             std::string(dtype_name(r->info().dtype)) + " " + shape_text(r->info().shape);
    }
  }
  return out;
}

// The reader's check that a shard is still what validate() found: a file replaced by another
// job between the check and the read would otherwise be read with the first one's layout.
void check_unchanged(const OpenShard& o, const ShardSource& s) {
  if (header_of(o) != s.header) {
    throw io::ReadError(s.pred + (s.target != s.pred ? " / " + s.target : "") +
                        ": the file changed since gpu-eval checked it at the start (it now holds " +
                        header_of(o) + ", not " + s.header +
                        "); evaluate it again once it is complete");
  }
}

struct Validated {
  std::vector<std::uint64_t> bytes;       // per source: pred + target (+ mask, weight) payload
  std::vector<std::int64_t> sample_shape; // shared by every source
  std::vector<std::string> error;         // per source: why it cannot be read (skip-file)
};

// Every shard's headers, checked against the evaluator's family (which shapes make a batch)
// and against shard `reference` (the one the evaluator was fitted to, checked first) before any
// data is read. Under --on-error skip-file a shard that fails the checks is recorded in `error`
// instead; when the reference itself fails, nothing else is checked (the caller fits the
// evaluator to another shard).
Validated validate(std::vector<ShardSource>& sources, const AnyEvaluator& ev, std::size_t reference,
                   bool skip_file) {
  Validated v;
  v.bytes.assign(sources.size(), 0);
  v.error.assign(sources.size(), std::string());
  std::optional<OpenShard> first;
  const auto check = [&](std::size_t i) {
    ShardSource& s = sources[i];
    try {
      OpenShard o = open_shard(s);
      const auto& ps = o.pred.info().shape;
      const auto& ts = o.target.info().shape;
      if (ps.empty() || ts.empty()) {
        throw InputError(where(ps.empty() ? o.pred : o.target) +
                         " holds a scalar; a shard needs a leading batch axis");
      }
      if (ps[0] != ts[0]) {
        throw InputError("pred " + where(o.pred) + " has shape " + shape_text(ps) + " but target " +
                         where(o.target) + " has " + shape_text(ts) +
                         " (they differ in the batch axis)");
      }
      try {
        ev.check_shapes(ps, ts);
      } catch (const InvalidArgument& e) {
        throw InputError(where(o.pred) + " / " + where(o.target) + ": " + e.what());
      }
      // A mask or a weight: the tensor's shape or a prefix of it, of its kind of dtype.
      const auto check_cover = [&](const ShardReader& r, const char* role, bool is_float,
                                   const char* kind) {
        const auto& ms = r.info().shape;
        const bool prefix = ms.size() <= ts.size() && std::equal(ms.begin(), ms.end(), ts.begin());
        if (!prefix || ms.empty()) {
          throw InputError(std::string(role) + " " + where(r) + " has shape " + shape_text(ms) +
                           ", which does not fit target " + shape_text(ts) + ": a " + role +
                           " has the tensor's shape or a prefix of it");
        }
        if (dtype_is_float(r.info().dtype) != is_float) {
          throw InputError(std::string(role) + " " + where(r) + " has dtype " +
                           std::string(dtype_name(r.info().dtype)) + "; a " + role + " is " + kind);
        }
      };
      if (o.mask) {
        check_cover(*o.mask, "mask", false, "bool or an integer type (nonzero = include)");
      }
      if (o.weight) {
        check_cover(*o.weight, "weight", true, "a float type (finite, >= 0)");
      }
      if (first) {
        const auto check_sample = [](const ShardReader& a, const ShardReader& b) {
          const std::vector<std::int64_t>& x = a.info().shape;
          const std::vector<std::int64_t>& y = b.info().shape;
          if (!std::equal(x.begin() + 1, x.end(), y.begin() + 1, y.end())) {
            throw InputError(where(a) + " has sample shape " +
                             shape_text(std::vector<std::int64_t>(x.begin() + 1, x.end())) +
                             " but " + where(b) + " has " +
                             shape_text(std::vector<std::int64_t>(y.begin() + 1, y.end())) +
                             " (shards differ only in their first axis)");
          }
        };
        check_sample(o.pred, first->pred);
        check_sample(o.target, first->target);
        const auto check_dtype = [](const ShardReader& a, const ShardReader& b, const char* role) {
          if (a.info().dtype != b.info().dtype) {
            throw InputError(std::string(role) + " " + where(a) + " is " +
                             std::string(dtype_name(a.info().dtype)) + " but " + where(b) + " is " +
                             std::string(dtype_name(b.info().dtype)) +
                             " (every shard of a role has one dtype)");
          }
        };
        check_dtype(o.pred, first->pred, "pred");
        check_dtype(o.target, first->target, "target");
        if (o.mask.has_value() != first->mask.has_value()) {
          throw InputError("some shards have a mask and others do not");
        }
        if (o.weight.has_value() != first->weight.has_value()) {
          throw InputError("some shards have weights and others do not");
        }
        // The staging buffers are sized from the first shard's rows: every shard's mask and
        // weight must have its sample shape and dtype too.
        if (o.mask) {
          check_sample(*o.mask, *first->mask);
          check_dtype(*o.mask, *first->mask, "mask");
        }
        if (o.weight) {
          check_sample(*o.weight, *first->weight);
          check_dtype(*o.weight, *first->weight, "weight");
        }
      }
      v.bytes[i] = o.pred.info().bytes + o.target.info().bytes +
                   (o.mask ? o.mask->info().bytes : 0) + (o.weight ? o.weight->info().bytes : 0);
      s.header = header_of(o);
      if (!first) {
        v.sample_shape.assign(ts.begin() + 1, ts.end());
        first = std::move(o);
      }
    } catch (const std::exception& e) {
      if (!skip_file || !is_read_fault(e)) {
        throw;
      }
      v.error[i] = e.what();
    }
  };
  check(reference);
  if (!v.error[reference].empty()) {
    return v;
  }
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (i != reference) {
      check(i);
    }
  }
  return v;
}

// The evaluator of the options' task, fitted to the first shard's headers (the family reads what
// it needs: the sample shape, the dtypes), so that a part with no files still has a state that
// merges, and a report.
std::unique_ptr<AnyEvaluator> make_evaluator(const EvalOptions& o, const ShardSource& first,
                                             Device device) {
  const OpenShard sh = open_shard(first);
  const detail::InputShapes shapes{sh.pred.info().shape, sh.target.info().shape,
                                   sh.pred.info().dtype, sh.target.info().dtype};
  try {
    const std::string task = o.task.empty() ? families().front().tasks.front() : o.task;
    return detail::family_entry_of_task(task).make(task, o.options, device, &shapes);
  } catch (const InvalidArgument& e) {
    throw InputError(where(sh.pred) + " / " + where(sh.target) + ": " + e.what());
  }
}

// One window of rows of one tensor: mapped from the file, or read into a reusable buffer.
struct WindowData {
  std::vector<unsigned char> buffer;
  io::Mapped mapped; // holds the mapping while the window is in use
  const unsigned char* data = nullptr;
  std::uint64_t bytes = 0;

  // Into `staged` (a pinned buffer, for the GPU) when given, else as `mode` says.
  void fill(const io::ShardReader& r, std::int64_t row0, std::int64_t rows,
            EvalOptions::ReadMode mode, unsigned char* staged = nullptr) {
    bytes = static_cast<std::uint64_t>(rows) * r.row_bytes();
    if (staged != nullptr) {
      mapped = {};
      r.read_rows(row0, rows, staged);
      data = staged;
      return;
    }
    const bool map =
        mode == EvalOptions::ReadMode::map ||
        (mode == EvalOptions::ReadMode::auto_select && bytes >= EvalOptions::kMapMinBytes);
    mapped = {}; // the previous window's mapping goes before the next one is made
    if (map) {
      mapped = r.map_rows(row0, rows);
    }
    if (mapped.data != nullptr) {
      data = mapped.data;
      return;
    }
    buffer.resize(static_cast<std::size_t>(bytes));
    r.read_rows(row0, rows, buffer.data());
    data = buffer.data();
  }
};

// One window of rows of one shard.
struct Window {
  WindowData pred, target, mask, weight;
  std::size_t shard = 0;
  std::int64_t row0 = 0, rows = 0;
  std::int64_t shard_rows = 0;            // the shard's rows: where the next window starts
  std::vector<std::int64_t> pred_shape;   // [rows, sample...]
  std::vector<std::int64_t> target_shape; // [rows, sample...]
  std::vector<std::int64_t> mask_shape;   // [rows, mask sample...]
  std::vector<std::int64_t> weight_shape; // [rows, weight sample...]
  DType pred_dtype{}, target_dtype{}, mask_dtype{}, weight_dtype{};
  bool has_mask = false, has_weight = false;
  bool last = false; // no more windows follow
  std::string error; // --on-error skip-file: the shard cannot be read; no data in the window
};

class Progress {
public:
  Progress(std::uint64_t total, bool enabled) : total_(total), enabled_(enabled) {
    start_ = std::chrono::steady_clock::now();
  }
  void update(std::uint64_t done) {
    if (!enabled_) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (done < total_ && now - last_ < std::chrono::milliseconds(200)) {
      return;
    }
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? static_cast<double>(done) / s : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    char line[160];
    std::snprintf(line, sizeof line, "\r%8.2f / %.2f GB  %6.2f GB/s  ETA %5.0f s ",
                  static_cast<double>(done) / 1e9, static_cast<double>(total_) / 1e9, rate / 1e9,
                  eta);
    if (line != shown_) { // redraw only when the text changes
      shown_ = line;
      std::fputs(line, stderr);
      std::fflush(stderr);
    }
  }
  void finish() {
    if (enabled_ && !shown_.empty()) {
      std::fputs("\n", stderr);
    }
  }
  // A line of its own on stderr, below the progress line.
  void say(const std::string& line) {
    finish();
    shown_.clear();
    std::fputs((line + "\n").c_str(), stderr);
  }

private:
  std::uint64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_{};
  std::string shown_;
};

// Rows per window: as many as fit window_bytes in the widest tensor, at least one.
std::int64_t window_rows_of(const OpenShard& sh, std::int64_t window_bytes) {
  std::uint64_t row_bytes =
      std::max({sh.pred.row_bytes(), sh.target.row_bytes(), std::uint64_t{1}});
  if (sh.mask) {
    row_bytes = std::max(row_bytes, sh.mask->row_bytes());
  }
  if (sh.weight) {
    row_bytes = std::max(row_bytes, sh.weight->row_bytes());
  }
  return std::max<std::int64_t>(1, window_bytes / static_cast<std::int64_t>(row_bytes));
}

// The bytes of a shard's files on disk (0 for one that cannot be read).
std::uint64_t disk_bytes(const ShardSource& s) {
  std::uint64_t bytes = 0;
  for (const std::string& f : s.files()) {
    struct stat st {};
    bytes += ::stat(f.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
  return bytes;
}

} // namespace

Machine Machine::real() {
  Machine m;
  m.cuda_usable = [] {
    return detail::cuda_backend_available() && detail::cuda_device_count(nullptr) > 0;
  };
  m.evaluator = [](Device device, const Factory& make) { return make(device); };
  m.staging = detail::make_device_staging;
  return m;
}

Evaluation evaluate(const EvalOptions& o, const Machine& machine) {
  const bool skip_file = o.on_error == EvalOptions::OnError::skip_file;
  std::vector<ShardSource> all;
  if (!o.shards.empty()) {
    for (const std::string& f : o.shards) {
      all.push_back({f, f, o.mask_key.empty() ? "" : f, o.weight_key.empty() ? "" : f, o.pred_key,
                     o.target_key, o.mask_key, o.weight_key, ""});
    }
  } else {
    for (std::size_t i = 0; i < o.pred.size(); ++i) {
      all.push_back({o.pred[i], o.target[i], o.mask.empty() ? "" : o.mask[i],
                     o.weight.empty() ? "" : o.weight[i], "", "", "", "", ""});
    }
  }
  const auto t0 = std::chrono::steady_clock::now();

  // --device auto: the first CUDA device where one is usable (quietly: the report names the
  // device), the CPU otherwise.
  Device chosen = o.device ? *o.device : Device::cpu();
  if (!o.device && machine.cuda_usable()) {
    chosen = Device::cuda(0);
  }
  if (chosen.kind == DeviceKind::cpu && o.threads > 0) {
    chosen.threads = o.threads;
  }
  // The evaluator is fitted to the first shard's headers; under --on-error skip-file to the
  // first that the family takes and that passes its own checks, and validate() checks the
  // others against it. Shards are tried in order, each once.
  std::size_t model = 0;
  const Machine::Factory factory = [&](Device d) { return make_evaluator(o, all[model], d); };
  std::unique_ptr<AnyEvaluator> evaluator;
  Validated valid;
  std::vector<std::string> unusable; // skip-file: why no evaluator fits shards 0 .. model - 1
  for (;; ++model) {
    if (model == all.size()) { // no shard can be read: the first one's reason
      throw io::ReadError(unusable.front());
    }
    try {
      evaluator = machine.evaluator(chosen, factory);
    } catch (const std::exception& e) {
      if (!skip_file || !is_read_fault(e)) {
        throw;
      }
      unusable.push_back(e.what());
      continue;
    }
    // Every part validates every file, so that all parts of a fanned-out run accept, reject or
    // skip the same input.
    valid = validate(all, *evaluator, model, skip_file);
    if (valid.error[model].empty()) {
      break;
    }
    unusable.push_back(valid.error[model]);
  }
  for (std::size_t i = 0; i < model; ++i) {
    valid.error[i] = unusable[i];
  }

  // This part's files, in the order given: split by the payload's bytes, or under skip-file by
  // the files' sizes on disk, which every part reads alike whichever files it could parse (a
  // shard that one part could not read and another could must still fall in one part only).
  std::vector<std::uint64_t> weights = valid.bytes;
  if (skip_file) {
    std::transform(all.begin(), all.end(), weights.begin(), disk_bytes);
  }
  std::vector<ShardSource> sources;
  std::vector<std::string> source_error; // skip-file: why a source cannot be read, or empty
  std::uint64_t total = 0;
  for (std::size_t i : shard_part(weights, o.shard_index, o.shard_count)) {
    sources.push_back(all[i]);
    source_error.push_back(valid.error[i]);
    total += valid.bytes[i];
  }

  // Checkpoints: what must not change between a run and its resumption (every input file, and
  // how the run cuts windows and parts), the windows folded, and where the next one starts.
  std::vector<std::pair<std::size_t, std::int64_t>> origins; // window origins (errors name them)
  std::vector<std::string> identity;
  std::vector<std::size_t> identity_of; // the source of each identity line (npos: the run's)
  std::size_t start_shard = 0;
  std::int64_t start_row = 0;
  std::uint64_t resumed_bytes = 0;
  // --on-error skip-file: the shards left out (by source), and the state, windows and bytes at
  // the start of the shard being folded, which a fault later in that shard returns to.
  std::vector<std::pair<std::size_t, Skipped>> dropped;
  std::optional<std::vector<std::uint8_t>> shard_start;
  std::size_t shard_start_origins = 0;
  std::uint64_t shard_start_done = 0;
  std::size_t current = static_cast<std::size_t>(-1); // the shard shard_start is for
  if (!o.checkpoint.empty() || !o.resume.empty()) {
    identity.push_back("part " + std::to_string(o.shard_index) + " of " +
                       std::to_string(o.shard_count) + ", windows of " +
                       std::to_string(o.window_bytes) + " bytes" +
                       (skip_file ? ", --on-error skip-file" : ""));
    identity_of.push_back(static_cast<std::size_t>(-1));
    for (std::size_t i = 0; i < sources.size(); ++i) {
      for (const std::string& f : sources[i].files()) {
        try {
          identity.push_back(file_identity(f));
        } catch (const io::ReadError& e) {
          if (source_error[i].empty()) {
            throw;
          }
          identity.push_back(f + " unreadable");
        }
        identity_of.push_back(i);
      }
    }
  }
  if (!o.resume.empty()) {
    Checkpoint c = read_checkpoint(o.resume);
    // A shard the run left out may have changed since (it was being rewritten, say): it stays
    // out, whatever it holds now.
    const auto left_out = [&](std::size_t line) {
      return std::any_of(c.skipped.begin(), c.skipped.end(), [&](const auto& k) {
        return line < identity_of.size() && k.first == identity_of[line];
      });
    };
    for (std::size_t i = 0; i < std::max(c.inputs.size(), identity.size()); ++i) {
      const std::string was = i < c.inputs.size() ? c.inputs[i] : "(nothing)";
      const std::string now = i < identity.size() ? identity[i] : "(nothing)";
      if (was != now && !(c.inputs.size() == identity.size() && left_out(i))) {
        throw InputError("--resume " + o.resume + ": the inputs changed since the checkpoint: " +
                         "it has '" + was + "', this run '" + now + "' (resume with the same " +
                         "files, flags and --window-mib, or start again without --resume)");
      }
    }
    if (c.shard > sources.size() || c.origins.empty()) {
      throw InputError("--resume " + o.resume + ": its position is not within these inputs");
    }
    evaluator->merge(State{std::move(c.state)});
    origins = std::move(c.origins);
    start_shard = c.shard;
    start_row = c.row0;
    resumed_bytes = c.done;
    dropped = std::move(c.skipped);
    if (c.shard_start_state) {
      shard_start = std::move(c.shard_start_state);
      shard_start_origins = c.shard_start_origins;
      shard_start_done = c.shard_start_done;
      current = c.shard;
    }
  }
  const bool remaining = start_shard < sources.size();
  auto last_checkpoint = std::chrono::steady_clock::now();

  // On a GPU, windows go through pinned buffers in a ring of three slots (one filling, one
  // uploading, one folding); on the CPU two windows alternate.
  const bool on_gpu = chosen.kind == DeviceKind::cuda;
  const int slots = on_gpu ? 3 : 2;
  std::unique_ptr<detail::DeviceStaging> staging;
  if (on_gpu && !sources.empty()) {
    // Every shard has the same sample shapes and dtypes, so every window fits the buffers of
    // the first one's full window.
    const OpenShard first = open_shard(all[model]);
    std::vector<std::uint64_t> capacity = {first.pred.row_bytes(), first.target.row_bytes()};
    if (first.mask) {
      capacity.push_back(first.mask->row_bytes());
    }
    if (first.weight) {
      capacity.push_back(first.weight->row_bytes());
    }
    const std::int64_t rows = window_rows_of(first, o.window_bytes);
    for (std::uint64_t& c : capacity) {
      c *= static_cast<std::uint64_t>(rows);
    }
    staging =
        machine.staging(chosen.index, slots, static_cast<int>(capacity.size()), capacity.data());
  }
  const auto staged = [&](int slot, int buffer) {
    return staging ? staging->host(slot, buffer) : nullptr;
  };

  WindowRing ring(slots);
  std::vector<Window> windows(static_cast<std::size_t>(slots));
  std::thread reader([&] {
    try {
      int slot = 0;
      // Under skip-file, a window that carries only why shard s cannot be read.
      const auto push_error = [&](Window& w, std::size_t s, const std::string& why) {
        w.shard = s;
        w.row0 = w.rows = 0;
        w.error = why;
        w.last = s + 1 == sources.size();
        ring.push(slot);
        slot = (slot + 1) % slots;
      };
      for (std::size_t s = start_shard; s < sources.size(); ++s) {
        std::optional<OpenShard> opened;
        std::string error = source_error[s];
        if (error.empty()) {
          try {
            opened.emplace(open_shard(sources[s]));
            check_unchanged(*opened, sources[s]);
          } catch (const std::exception& e) {
            if (!skip_file || !is_read_fault(e)) {
              throw;
            }
            error = e.what();
          }
        }
        if (!error.empty()) {
          if (!ring.wait_free(slot)) {
            return;
          }
          push_error(windows[static_cast<std::size_t>(slot)], s, error);
          continue;
        }
        const OpenShard& sh = *opened;
        const std::int64_t window_rows = window_rows_of(sh, o.window_bytes);
        const std::int64_t rows = sh.pred.rows();
        const std::int64_t first = s == start_shard ? start_row : 0;
        for (std::int64_t row0 = first; row0 < rows || (rows == 0 && row0 == 0);
             row0 += window_rows) {
          if (!ring.wait_free(slot)) {
            return;
          }
          Window& w = windows[static_cast<std::size_t>(slot)];
          w.error.clear();
          w.shard = s;
          w.row0 = row0;
          w.rows = std::min(window_rows, rows - row0);
          w.shard_rows = rows;
          w.pred_shape = sh.pred.info().shape;
          w.pred_shape[0] = w.rows;
          w.target_shape = sh.target.info().shape;
          w.target_shape[0] = w.rows;
          w.pred_dtype = sh.pred.info().dtype;
          w.target_dtype = sh.target.info().dtype;
          w.has_mask = sh.mask.has_value();
          w.has_weight = sh.weight.has_value();
          try {
            w.pred.fill(sh.pred, row0, w.rows, o.read, staged(slot, 0));
            w.target.fill(sh.target, row0, w.rows, o.read, staged(slot, 1));
            if (w.has_mask) {
              w.mask_shape = sh.mask->info().shape;
              w.mask_shape[0] = w.rows;
              w.mask_dtype = sh.mask->info().dtype;
              w.mask.fill(*sh.mask, row0, w.rows, o.read, staged(slot, 2));
            }
            if (w.has_weight) { // the buffer after the mask's, or the mask's place without one
              w.weight_shape = sh.weight->info().shape;
              w.weight_shape[0] = w.rows;
              w.weight_dtype = sh.weight->info().dtype;
              w.weight.fill(*sh.weight, row0, w.rows, o.read, staged(slot, w.has_mask ? 3 : 2));
            }
          } catch (const std::exception& e) {
            if (!skip_file || !is_read_fault(e)) {
              throw;
            }
            push_error(w, s, e.what());
            break; // the shard's other windows are not read
          }
          w.last = s + 1 == sources.size() && row0 + window_rows >= rows;
          ring.push(slot);
          slot = (slot + 1) % slots;
          if (rows == 0) {
            break;
          }
        }
      }
    } catch (...) {
      ring.fail(std::current_exception());
    }
  });

  Progress progress(total, o.progress && isatty(STDERR_FILENO) != 0);
  std::uint64_t done = resumed_bytes;
  // Under skip-file: leaves shard s out, returning the evaluator to the state before its first
  // window when some were folded (a reset and a merge: exact, as a resumption is).
  const auto drop = [&](std::size_t s, const std::string& reason) {
    if (current == s && shard_start) {
      evaluator->reset();
      evaluator->merge(State{*shard_start});
      origins.resize(shard_start_origins);
      done = shard_start_done;
    }
    Skipped k{sources[s].files(), reason};
    progress.say("gpu-eval: skipping (--on-error skip-file) " + k.text());
    dropped.emplace_back(s, std::move(k));
  };
  try {
    if (remaining) {
      for (int slot = 0;; slot = (slot + 1) % slots) {
        ring.take(slot);
        const Window& w = windows[static_cast<std::size_t>(slot)];
        const bool last = w.last;
        const bool left_out = std::any_of(dropped.begin(), dropped.end(),
                                          [&](const auto& k) { return k.first == w.shard; });
        if (!w.error.empty() || left_out) { // skip-file: nothing of the shard is folded
          if (!left_out) {
            drop(w.shard, w.error);
          }
          ring.release(slot);
          if (last) {
            break;
          }
          continue;
        }
        if (skip_file && w.shard != current) { // the state a fault in this shard returns to
          shard_start = evaluator->state().bytes;
          shard_start_origins = origins.size();
          shard_start_done = done;
          current = w.shard;
        }
        origins.emplace_back(w.shard, w.row0);
        // On the GPU: upload the window on the copy stream; the fold waits for it there, and
        // reads the slot's device buffers (views on the evaluator's device).
        const auto view = [&](const WindowData& d, int buffer, DType dtype,
                              const std::vector<std::int64_t>& shape) {
          const int rank = static_cast<int>(shape.size());
          if (staging) {
            return TensorView::contiguous(staging->device(slot, buffer), dtype, shape.data(), rank,
                                          DeviceKind::cuda, chosen.index);
          }
          return TensorView::contiguous(d.data, dtype, shape.data(), rank);
        };
        const int weight_buffer = w.has_mask ? 3 : 2;
        if (staging) { // the buffers in order: pred, target, then the mask and the weight given
          std::uint64_t bytes[4] = {w.pred.bytes, w.target.bytes, w.mask.bytes, w.weight.bytes};
          if (!w.has_mask) {
            bytes[2] = w.weight.bytes;
          }
          staging->upload(slot, bytes);
        }
        try {
          const TensorView mask =
              w.has_mask ? view(w.mask, 2, w.mask_dtype, w.mask_shape) : TensorView{};
          const StreamHandle stream = staging ? staging->stream() : nullptr;
          if (w.has_weight) {
            evaluator->update(view(w.pred, 0, w.pred_dtype, w.pred_shape),
                              view(w.target, 1, w.target_dtype, w.target_shape), mask,
                              view(w.weight, weight_buffer, w.weight_dtype, w.weight_shape),
                              stream);
          } else {
            evaluator->update(view(w.pred, 0, w.pred_dtype, w.pred_shape),
                              view(w.target, 1, w.target_dtype, w.target_shape), mask, stream);
          }
        } catch (const InvalidArgument& e) {
          throw InputError(sources[w.shard].pred + ": " + e.what());
        }
        // A mapped file that shrank under the fold (truncated or rewritten in place) read as
        // zeros there (io/mapping_guard.cpp): name it instead of reporting those numbers.
        const ShardSource& src = sources[w.shard];
        const std::pair<const WindowData*, const std::string*> parts[] = {{&w.pred, &src.pred},
                                                                          {&w.target, &src.target},
                                                                          {&w.mask, &src.mask},
                                                                          {&w.weight, &src.weight}};
        std::string lost;
        for (const auto& [data, path] : parts) {
          if (data->mapped.lost() && lost.empty()) {
            lost = *path + ": the file shrank while rows " + std::to_string(w.row0) + " to " +
                   std::to_string(w.row0 + w.rows) +
                   " were read (truncated or rewritten in place by another job?); evaluate it "
                   "again once it is complete";
          }
        }
        if (!lost.empty() && !skip_file) {
          throw io::ReadError(lost);
        }
        done += w.pred.bytes + w.target.bytes + (w.has_mask ? w.mask.bytes : 0) +
                (w.has_weight ? w.weight.bytes : 0);
        progress.update(done);
        if (!lost.empty()) {
          drop(w.shard, lost); // the state and `done` as before the shard
        } else if (!o.checkpoint.empty() && !last &&
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint)
                           .count() >= o.checkpoint_every) {
          // A window boundary: the state has every window so far (state() waits for the
          // device), and the next window starts here.
          Checkpoint c;
          c.inputs = identity;
          const bool shard_done = w.row0 + w.rows >= w.shard_rows;
          c.shard = shard_done ? w.shard + 1 : w.shard;
          c.row0 = shard_done ? 0 : w.row0 + w.rows;
          c.done = done;
          c.origins = origins;
          c.state = evaluator->state().bytes;
          c.skipped = dropped;
          if (skip_file && !shard_done) {
            c.shard_start_state = shard_start;
            c.shard_start_origins = shard_start_origins;
            c.shard_start_done = shard_start_done;
          }
          write_checkpoint(o.checkpoint, c);
          last_checkpoint = std::chrono::steady_clock::now();
        }
        if (staging) {
          staging->enqueued(slot); // the reader refills the slot once the fold has run
          ring.release(slot, [&staging, slot] { staging->wait_free(slot); });
        } else {
          ring.release(slot);
        }
        if (last) {
          break;
        }
      }
    }
  } catch (...) {
    ring.stop();
    reader.join();
    progress.finish();
    throw;
  }
  reader.join();
  progress.finish();
  if (origins.empty()) {
    // A part of a fan-out with no files (or, under skip-file, none that could be read): one
    // empty batch, so that its report says "no pairs" (count 0, NaN metrics) rather than
    // compute()'s no-data error, and its state merges.
    const OpenShard sh = open_shard(all[model]);
    std::vector<std::int64_t> ps = sh.pred.info().shape, ts = sh.target.info().shape;
    ps[0] = ts[0] = 0;
    static const unsigned char kNothing[16] = {};
    const auto empty = [&](DType dtype, const std::vector<std::int64_t>& shape) {
      return TensorView::contiguous(kNothing, dtype, shape.data(), static_cast<int>(shape.size()),
                                    chosen.kind, chosen.index);
    };
    evaluator->update(empty(sh.pred.info().dtype, ps), empty(sh.target.info().dtype, ts));
  }
  for (int slot = 0; staging && slot < slots; ++slot) {
    staging->wait_free(slot); // every fold has run: the state is complete on any stream
  }

  std::optional<State> state;
  std::optional<AnyReport> report;
  try {
    if (!o.save_state.empty()) {
      state = evaluator->state();
    }
    report.emplace(evaluator->compute_any());
  } catch (const InvalidArgument& e) { // a bad weight the device found
    throw InputError(std::string("--weight: ") + e.what());
  } catch (const NonFiniteError& e) {
    // Name the file and row: the batch is a window, the element a C-order index in its
    // targets.
    const auto [shard, row0] = origins.at(static_cast<std::size_t>(e.batch));
    OpenShard sh = open_shard(sources[shard]);
    const std::uint64_t per_row =
        std::max<std::uint64_t>(1, sh.target.row_bytes() / dtype_size(sh.target.info().dtype));
    throw NonFiniteError(
        "--nan-policy error: non-finite prediction or target in " + where(sh.pred) + " / " +
            where(sh.target) + " at row " +
            std::to_string(static_cast<std::uint64_t>(row0) + e.element / per_row) + ", element " +
            std::to_string(e.element % per_row) + " of that row",
        e.batch, e.element);
  }
  report->set_io(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                 total);
  Evaluation result{std::move(*report), std::move(state), {}};
  for (auto& [shard, k] : dropped) {
    result.skipped.push_back(std::move(k));
  }
  return result;
}

} // namespace gpueval::cli
