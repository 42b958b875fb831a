// The streaming evaluator: update() per batch, compute() at the end of an epoch.
#pragma once

#include <memory>

#include "gpueval/device.hpp"
#include "gpueval/family.hpp"
#include "gpueval/report.hpp"
#include "gpueval/spec.hpp"
#include "gpueval/state.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

namespace detail {
class Backend;
}

// The regression family (the metric table of the README). Other families: family.hpp.
class Evaluator final : public AnyEvaluator {
public:
  // Throws InvalidArgument for a bad spec, CudaError for a CUDA device that is not usable.
  explicit Evaluator(RegressionSpec spec, Device device = auto_select_device());
  ~Evaluator() override;
  Evaluator(Evaluator&&) noexcept;
  Evaluator& operator=(Evaluator&&) noexcept;
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // Folds one batch: `pred` and `target` of the same shape [batch, sample...]; `mask` optional
  // (data == nullptr means none), bool/uint8 (any integer type) with the tensor's shape or a
  // prefix of it, nonzero = include (the opposite of numpy.ma). The sample shape (shape without
  // the batch axis) is fixed by the spec or by the first update; another one is an error.
  // Views may have any strides (sliced, transposed and misaligned data work).
  //
  // CPU: runs on the calling thread and the evaluator's workers, and returns when done.
  // CUDA: enqueues on `stream` and returns; the views must stay valid until the stream reaches
  // the update (keep_until_done() helps callers that cannot tell when). No host
  // synchronisation until compute(). Operations on different streams are ordered on the device:
  // each waits for the last one that wrote the evaluator's state (an event), so an update, a
  // reset() or a compute() may each come on any stream. An update captured into a CUDA graph is
  // the exception: its replays are ordered by the stream the graph is launched on, so a
  // compute() after a replay goes on that stream (or the caller orders it); a graph captured on
  // another stream than the evaluator's last write waits for that write through the evaluator's
  // event, so replay it only while the evaluator lives.
  //
  // Not thread-safe: one evaluator, one caller at a time.
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask = {},
              StreamHandle stream = nullptr) override;

  // The epoch's metrics. The only synchronisation point. Throws NonFiniteError under
  // nan_policy = error when a non-finite pair was seen, naming the first batch and element.
  Report compute(StreamHandle stream = nullptr);

  // Forgets every batch; keeps the spec, the device and the sample shape (see AnyEvaluator).
  void reset(StreamHandle stream = nullptr) override;
  void keep_until_done(std::shared_ptr<void> owner) override;

  // The epoch state as a versioned, checksummed blob (see state.hpp).
  State state(StreamHandle stream = nullptr) override;
  // Folds another evaluator's state in: the result is as if this evaluator had also seen that
  // evaluator's batches (equal within the accuracy rule, not bitwise). The states must come from
  // the same spec and sample shape, except that a state may hold statistics this evaluator's
  // metrics do not need (they are dropped); a CPU state merges into a CUDA evaluator and back.
  void merge(const State& other, StreamHandle stream = nullptr) override;

  const RegressionSpec& spec() const;
  Device device() const override;
  // Batches folded since construction or reset(), those of merged states included (a restored
  // checkpoint counts on from where it was saved).
  std::uint64_t batches() const override;

  Family family() const override { return Family::regression; }
  AnyReport compute_any(StreamHandle stream = nullptr) override;
  // pred and target of the same shape, whose sample shape fits the spec.
  void check_shapes(const std::vector<std::int64_t>& pred,
                    const std::vector<std::int64_t>& target) const override;

private:
  std::unique_ptr<detail::Backend> backend_;
};

} // namespace gpueval
