// The interface every backend implements behind Evaluator, and the batch checks they share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aggregate.hpp"
#include "core/common.hpp"
#include "gpueval/device.hpp"
#include "gpueval/spec.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::detail {

// A batch that passed validate_batch: same shapes, fitting mask, the evaluator's sample shape.
struct Batch {
  TensorView pred;
  TensorView target;
  TensorView mask; // data == nullptr: none
  std::int64_t rows = 0;
  std::int64_t keys = 0;
  std::int64_t elements = 0;   // rows * keys
  std::int64_t mask_cover = 1; // consecutive elements sharing one mask value
  std::uint64_t index = 0;     // batches folded before this one
  bool has_mask() const { return mask.data != nullptr; }
};

class Backend {
public:
  virtual ~Backend() = default;
  // Called once, before the first update or merge, when the key layout is known: allocate here.
  virtual void configure(const RegressionSpec& spec, const KeyLayout& layout) = 0;
  virtual void update(const Batch& batch, StreamHandle stream) = 0;
  // Copies the epoch records (layout.keys of them) to the host; synchronises.
  virtual std::vector<FullRecord> records(StreamHandle stream) = 0;
  virtual NonFiniteLocation first_nonfinite(StreamHandle stream) = 0;
  // Replaces the epoch state (merge computes the combined records on the host).
  virtual void load(const std::vector<FullRecord>& records, NonFiniteLocation where,
                    StreamHandle stream) = 0;
  // Clears the epoch state, enqueued on `stream` (CUDA: later operations on any stream are
  // ordered after it on the device).
  virtual void reset(StreamHandle stream) = 0;
  // Keeps `owner` alive until the work of the last update() has run, then drops it. The CPU's
  // update is done when it returns: the default drops it at once.
  virtual void hold(std::shared_ptr<void> owner) { (void)owner; }
  // The quantile sketch (quantile metrics only): channels x ops::sketch::buckets(bits) counts,
  // channel-major, dense. sketch() synchronises; load_sketch replaces it.
  virtual std::vector<std::uint64_t> sketch(StreamHandle stream) = 0;
  virtual void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle stream) = 0;
  virtual Device device() const = 0;
  virtual std::string describe() const = 0;

  // Shared bookkeeping, owned here so that every backend gets it.
  RegressionSpec spec;
  bool configured = false;
  std::vector<std::int64_t> sample_shape;
  KeyLayout layout;
  std::uint64_t batches = 0;
};

// Checks pred/target/mask against each other, the backend's device and the sample shape (fixed
// by the spec or the first batch), and describes the batch. Throws InvalidArgument naming both
// sides of any mismatch.
Batch validate_batch(const TensorView& pred, const TensorView& target, const TensorView& mask,
                     const std::vector<std::int64_t>& sample_shape, const KeyLayout& layout,
                     Device device);

} // namespace gpueval::detail
