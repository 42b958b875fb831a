// Metric families: what every family's evaluator and report offer, so that code which streams
// data (the gpu-eval reading loop, state files and merges, the Python binding's shared parts, the
// LibTorch adapter) works with any family and names none. A family is a spec, an ops header
// (include/gpueval/ops), a CPU fold and CUDA kernels, a report, and a state tag, in files of its
// own; it registers once per front end (docs/design.md, "Adding a family").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

// A family's state tag (offset 28 of the state header). Each family defines its own constant
// (its public header); the registry refuses two families with one tag. Tags never change: states
// on disk carry them.
enum class Family : std::uint8_t {};

// The text forms of a report beside its JSON: gpu-eval's table (for people) and CSV.
enum class TextFormat : std::uint8_t { table, csv };

// What every family's report has and does. A family's report type derives from it.
struct FamilyReport {
  virtual ~FamilyReport() = default;
  virtual Family family() const = 0;
  // The JSON object of schema gpueval.report/1, with "task" set.
  virtual std::string to_json() const = 0;

  std::string device;   // "cpu (2 threads)", "cuda:0 (NVIDIA H100 ...)"
  double elapsed_s = 0; // filled by callers that read data (the CLI); zero otherwise
  std::uint64_t bytes_read = 0;

protected:
  FamilyReport() = default;
  FamilyReport(const FamilyReport&) = default;
  FamilyReport& operator=(const FamilyReport&) = default;
};

// The report of any family: one of them, shared (copies are cheap and see the same report).
class AnyReport {
public:
  template <class R, class = std::enable_if_t<std::is_base_of_v<FamilyReport, R>>>
  explicit AnyReport(R report) : report_(std::make_shared<R>(std::move(report))) {}

  Family family() const { return report_->family(); }
  // The family's report type, or nullptr for another family's report.
  template <class R> const R* as() const { return dynamic_cast<const R*>(report_.get()); }
  template <class R> R* as() { return dynamic_cast<R*>(report_.get()); }
  const FamilyReport& get() const { return *report_; }

  std::string to_json() const { return report_->to_json(); }
  // What readers of data fill in (the CLI): elapsed time and bytes read.
  void set_io(double elapsed_s, std::uint64_t bytes_read) {
    report_->elapsed_s = elapsed_s;
    report_->bytes_read = bytes_read;
  }
  // The device line ("cpu (2 threads)"), which a merge of several evaluations replaces.
  void set_device(std::string device) { report_->device = std::move(device); }

private:
  std::shared_ptr<FamilyReport> report_;
};

// A family's own inputs to update_with, by name, in the order given.
using NamedViews = std::vector<std::pair<std::string, TensorView>>;

// What every family's evaluator does.
class AnyEvaluator {
public:
  virtual ~AnyEvaluator() = default;
  virtual Family family() const = 0;
  // Folds one batch. CPU: done when it returns. CUDA: enqueued on `stream`, no synchronisation;
  // see keep_until_done for the inputs' lifetime.
  virtual void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
                      StreamHandle stream = nullptr) = 0;
  // The same with a weight per sample: a float tensor of the inputs' shape or a prefix of it,
  // finite and >= 0 (data == nullptr: every weight 1). A mask is a 0/1 weight: both give the
  // same bits. A family that does not weigh its samples throws InvalidArgument.
  virtual void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
                      const TensorView& weight, StreamHandle stream = nullptr) = 0;
  // The same with the family's own inputs beyond these (FamilyDescription::inputs, by name: a
  // per-sample scale, say), each of the targets' shape or a prefix of it, like a weight;
  // `weight` may be empty (data == nullptr). An evaluator that takes none of them (the default)
  // throws InvalidArgument naming the input and the family's inputs.
  virtual void update_with(const TensorView& pred, const TensorView& target, const TensorView& mask,
                           const TensorView& weight, const NamedViews& inputs,
                           StreamHandle stream = nullptr);
  virtual AnyReport compute_any(StreamHandle stream = nullptr) = 0;
  // Forgets every batch; keeps the spec, the device and the sample shape. CUDA: enqueued on
  // `stream`; later updates and reads on any stream wait for it on the device (no host
  // synchronisation).
  virtual void reset(StreamHandle stream = nullptr) = 0;
  // Keeps `owner` (whatever keeps the last update's inputs alive: a DLPack capsule, a tensor)
  // until the device has run that update, then drops it; for callers whose inputs may be freed
  // or reused as soon as update() returns on another stream than the update's (a Python
  // temporary from JAX or on an explicit stream). The CPU's update is done when it returns: the
  // owner is dropped at once. Owners are dropped in order, at later calls, at compute(),
  // state() and merge(), and (after waiting) when the evaluator is destroyed. An update captured
  // into a CUDA graph reads its inputs at every replay: its owner is dropped at once, and the
  // caller keeps the inputs for the graph's life.
  virtual void keep_until_done(std::shared_ptr<void> owner) = 0;
  virtual State state(StreamHandle stream = nullptr) = 0;
  virtual void merge(const State& other, StreamHandle stream = nullptr) = 0;
  virtual Device device() const = 0;
  virtual std::uint64_t batches() const = 0;
  // Whether tensors of these shapes (batch axis included) make a batch of this evaluator:
  // readers that know shapes before the data (gpu-eval checks every shard's header first) ask
  // here. Throws InvalidArgument naming both shapes.
  virtual void check_shapes(const std::vector<std::int64_t>& pred,
                            const std::vector<std::int64_t>& target) const = 0;
};

// ---- every family from one place -------------------------------------------------------------

// A family's options by name, as text: how gpu-eval's flags, Python's keyword arguments and the
// TorchScript classes' arguments reach a family, which parses and validates them once (names
// with underscores: "num_classes"; lists comma-separated: "500,20"; absent: the default).
using Options = std::map<std::string, std::string, std::less<>>;

// One option of a family, for help texts and the CLI's flag groups.
struct OptionInfo {
  std::string name;          // "num_classes" (gpu-eval: --num-classes)
  std::string help;          // one line
  std::string default_value; // as text; empty: none (or decided by other options)
  // Whether gpu-eval takes it as a flag; false for what a reader of files knows from their
  // headers (the sample shape, the dtypes).
  bool flag = true;
  // Whether it shapes only the report, not the state: states that differ in it merge, and
  // `gpu-eval merge` and evaluator_for_state take it.
  bool report_only = false;
};

// What a family tells every front end about itself.
struct FamilyDescription {
  std::string name;               // as messages and gpu-eval's help print it
  Family tag;                     // its state tag
  std::vector<std::string> tasks; // the names that select it (gpu-eval --task, TorchScript)
  std::vector<OptionInfo> options;
  // The inputs its update_with takes beside pred, target, mask and weight (name and help; `flag`
  // and `report_only` unused).
  std::vector<OptionInfo> inputs = {};
};

// The registered families, in registration order.
std::vector<FamilyDescription> families();
// The family a task name selects. Throws InvalidArgument listing every task.
FamilyDescription family_of_task(std::string_view task);
// The registered family with this tag. Throws StateError naming the tag when there is none.
FamilyDescription family_of_tag(Family tag);

// An evaluator for `task` from its options, on `device`. Throws InvalidArgument naming the task,
// an option that is not the family's, or a value it cannot take.
std::unique_ptr<AnyEvaluator> make_evaluator(std::string_view task, const Options& options,
                                             Device device);

// An evaluator that merges `state`, with the spec the state was made with and `metrics`
// ("default", "all" or comma-separated names of its family; empty: the default set, plus the
// metrics the state's statistics serve), on `device`, with `report_options`: options of the
// family marked report_only (they shape the report, not the state). Throws StateError for a
// state that is truncated, corrupt, of another version or of an unknown family, and
// InvalidArgument for metrics the state cannot give or an option it fixes. The state is not
// merged yet.
std::unique_ptr<AnyEvaluator> evaluator_for_state(const State& state, std::string_view metrics,
                                                  Device device,
                                                  const Options& report_options = {});

// The family tag of a state blob (checks its magic, version and checksum like merge()).
Family state_family(const State& state);

} // namespace gpueval
