// Metric families: what every family's evaluator offers, so that code which streams data (the
// gpu-eval reading loop, state files and merges, the Python binding's shared parts) works with
// any family. A family is a spec, an ops header (include/gpueval/ops), a CPU fold and CUDA
// kernels, a report, and a state tag; adding one means registering it here and in family.cpp
// (the factories below), nothing else of the shared code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/device.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

// A state's family tag (offset 28 of the state header). Regression states have always carried
// 0 there.
enum class Family : std::uint8_t { regression = 0, classification = 1 };

struct Report;
struct ClassificationReport;

// The report of any family. The family's own report type carries the values; this carries one
// of them and what every report has.
class AnyReport {
public:
  explicit AnyReport(Report report);
  explicit AnyReport(ClassificationReport report);

  Family family() const { return family_; }
  // The family's report, or nullptr for another family.
  const Report* regression() const { return regression_.get(); }
  const ClassificationReport* classification() const { return classification_.get(); }
  Report* regression() { return regression_.get(); }
  ClassificationReport* classification() { return classification_.get(); }

  // The JSON object of schema gpueval.report/1, with "task" set.
  std::string to_json() const;
  // What readers of data fill in (the CLI): elapsed time and bytes read.
  void set_io(double elapsed_s, std::uint64_t bytes_read);
  // The device line ("cpu (2 threads)"), which a merge of several evaluations replaces.
  void set_device(std::string device);

private:
  Family family_;
  std::shared_ptr<Report> regression_;
  std::shared_ptr<ClassificationReport> classification_;
};

// What every family's evaluator does. Evaluator (regression) and ClassificationEvaluator
// implement it; they add their own compute() returning their own report.
class AnyEvaluator {
public:
  virtual ~AnyEvaluator() = default;
  virtual Family family() const = 0;
  virtual void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
                      StreamHandle stream = nullptr) = 0;
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

// An evaluator that merges `state`, with the spec the state was made with and `metrics`
// ("default", "all" or comma-separated names of its family; empty: the default set, plus for
// regression the opt-in metrics the state's statistics serve), on `device`. Throws StateError
// for a state that is truncated, corrupt or of another version, and InvalidArgument for metrics
// the state cannot give. The state is not merged yet.
std::unique_ptr<AnyEvaluator> evaluator_for_state(const State& state, std::string_view metrics,
                                                  Device device);

// The family tag of a state blob (checks its magic, version and checksum like merge()).
Family state_family(const State& state);

} // namespace gpueval
