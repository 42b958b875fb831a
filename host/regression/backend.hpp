// The regression family's backend interface, and the batch checks its backends share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/common.hpp"
#include "core/skeleton.hpp"
#include "gpueval/device.hpp"
#include "gpueval/regression.hpp"
#include "gpueval/tensor_view.hpp"
#include "regression/aggregate.hpp"
#include "regression/channel_axis.hpp"

namespace gpueval::detail {

// A batch that passed validate_batch: same shapes, fitting mask, the evaluator's sample shape.
struct Batch {
  TensorView pred;
  TensorView target;
  TensorView mask;        // data == nullptr: none
  TensorView weight;      // data == nullptr: none (every weight 1)
  TensorView user_weight; // the weight as the caller gave it (before a channel-axis move)
  std::int64_t rows = 0;
  std::int64_t keys = 0;
  std::int64_t elements = 0;     // rows * keys
  std::int64_t mask_cover = 1;   // consecutive elements sharing one mask value
  std::int64_t weight_cover = 1; // consecutive elements sharing one weight
  std::uint64_t index = 0;       // batches folded before this one
  bool has_mask() const { return mask.data != nullptr; }
  bool has_weight() const { return weight.data != nullptr; }
};

// The regression family's backend (CPU, CUDA), behind RegressionEvaluator.
class Backend : public BackendBase {
public:
  // Called once, before the first update or merge, when the key layout is known: allocate here.
  virtual void configure(const RegressionSpec& spec, const KeyLayout& layout) = 0;
  virtual void update(const Batch& batch, StreamHandle stream) = 0;
  // The first pair whose weight is negative or not finite, as (batch, element of pred), for a
  // backend that finds it on the device (CUDA); the CPU refuses such a batch in update().
  virtual NonFiniteLocation bad_weight(StreamHandle stream) {
    (void)stream;
    return {};
  }
  // Copies the epoch records (layout.keys of them) to the host; synchronises.
  virtual std::vector<FullRecord> records(StreamHandle stream) = 0;
  // Replaces the epoch state (merge computes the combined records on the host).
  virtual void load(const std::vector<FullRecord>& records, NonFiniteLocation where,
                    StreamHandle stream) = 0;
  // The quantile sketch (quantile metrics only): channels x ops::sketch::buckets(bits) counts,
  // channel-major, dense. sketch() synchronises; load_sketch replaces it.
  virtual std::vector<std::uint64_t> sketch(StreamHandle stream) = 0;
  virtual void load_sketch(const std::vector<std::uint64_t>& counts, StreamHandle stream) = 0;

  // The family's bookkeeping (BackendBase has the engine's). sample_shape and layout are in
  // layout coordinates, the channel axis last; `move` maps the user's batches to them.
  RegressionSpec spec;
  KeyLayout layout;
  ChannelMove move;
};

// Checks pred/target/mask against each other, the backend's device and the sample shape (fixed
// by the spec or the first batch), and describes the batch. Throws InvalidArgument naming both
// sides of any mismatch.
Batch validate_batch(const TensorView& pred, const TensorView& target, const TensorView& mask,
                     const TensorView& weight, const std::vector<std::int64_t>& sample_shape,
                     const KeyLayout& layout, Device device);

// The error a negative or non-finite weight raises: batch `batch`, element `element` of the
// weight tensor (C order) and its value, or element -1 when they are not known (the device).
std::string bad_weight_message(std::uint64_t batch, std::int64_t element, double value);

} // namespace gpueval::detail
