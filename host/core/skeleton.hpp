// The engine's skeleton of every family's evaluator: what a backend of any family has (the
// bookkeeping, the device, the first bad value, reset and input lifetimes), and the steps every
// family's evaluator takes in the same order (docs/design.md, "The family contract"): configure
// on the first batch, number each batch, fold it unless it is empty; refuse compute() and
// state() before the inputs are known; raise nan_policy=error's error before any report; on a
// merge, refuse a state of another spec naming both sides, and keep the earliest bad value. The
// steps that differ (what a batch is, the statistics, the report) are the family's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/common.hpp"
#include "gpueval/device.hpp"
#include "gpueval/error.hpp"
#include "gpueval/policy.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::detail {

// What every family's backend interface derives from.
class BackendBase {
public:
  virtual ~BackendBase() = default;
  // Clears the epoch state, enqueued on `stream` (CUDA: later operations on any stream are
  // ordered after it on the device). Called only once configured.
  virtual void reset(StreamHandle stream) = 0;
  // Keeps `owner` alive until the work of the last update has run, then drops it. The CPU's
  // update is done when it returns: the default drops it at once.
  virtual void hold(std::shared_ptr<void> owner) { (void)owner; }
  // The first value the mask includes that the family finds bad (non-finite, out of range),
  // as (batch, element); none found: !found(). May synchronise.
  virtual NonFiniteLocation first_bad(StreamHandle stream) = 0;
  virtual Device device() const = 0;
  virtual std::string describe() const = 0;

  bool configured = false;
  std::vector<std::int64_t> sample_shape; // fixed by the spec, the first batch or a merge
  std::uint64_t batches = 0;
};

// The shared steps.
namespace skeleton {

// A batch's rank before the first batch configures an evaluator ("pred", "target").
inline void check_first_rank(const TensorView& v, const char* name) {
  GPUEVAL_EXPECTS(v.rank >= 1 && v.rank <= kMaxRank,
                  std::string(name) + " has rank " + std::to_string(v.rank) +
                      "; a batch has a leading batch axis (rank 1 to " + std::to_string(kMaxRank) +
                      ")");
}

// Folds a described batch (any type with `index`): numbered, folded unless empty, counted.
template <class Backend, class Batch>
void fold(Backend& b, Batch& batch, bool empty, StreamHandle stream) {
  batch.index = b.batches;
  if (!empty) {
    b.update(batch, stream);
  }
  ++b.batches;
}

// compute() and state() need the inputs known; `hint` says how to make them known.
inline void require_configured(const BackendBase& b, const char* call, const char* hint) {
  GPUEVAL_EXPECTS(b.configured, std::string(call) + " before any update: " + hint);
}

// compute() needs data: a batch (an empty one counts) or a merged state's batches since the
// evaluator was made or reset(). Fresh or after reset(), the same error (docs/design.md, "No
// data"): an all-NaN report of nothing would pass for an epoch's metrics in a log.
inline void require_data(const BackendBase& b) {
  GPUEVAL_EXPECTS(b.batches > 0,
                  "compute() with no data: no batch was folded or merged since the evaluator was "
                  "made or reset(); call update() with the epoch's batches first (a batch of zero "
                  "rows counts, and gives NaN metrics)");
}

// nan_policy=error: the first bad value, before any report; `message` describes it.
inline void raise_if_error(NanPolicy policy, NonFiniteLocation where, const std::string& message) {
  if (policy == NanPolicy::error && where.found()) {
    throw NonFiniteError("nan_policy=error: " + message, where.batch, where.element);
  }
}

inline void reset(BackendBase& b, StreamHandle stream) {
  if (b.configured) {
    b.reset(stream); // a backend not configured yet has nothing to clear
  }
  b.batches = 0;
}

// A state that does not merge: names what differs, theirs and ours.
[[noreturn]] inline void mismatch(const std::string& what, const std::string& theirs,
                                  const std::string& ours) {
  throw StateError("cannot merge: the state was made with " + what + " " + theirs +
                   ", this evaluator has " + ours);
}

// The first bad value after a merge: ours when we have one (the other evaluator's batch numbers
// count its own batches), else theirs.
inline NonFiniteLocation earliest(NonFiniteLocation ours, NonFiniteLocation theirs) {
  return ours.found() ? ours : theirs;
}

} // namespace skeleton
} // namespace gpueval::detail
