// The classification family's backend interface and the batch description its backends share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/common.hpp"
#include "core/skeleton.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/family.hpp"

namespace gpueval::detail {

// A validated batch, described as samples: binary and multiclass have one sample per target
// element; multilabel one per target element outside the label axis. Each sample axis has a
// stride in the targets, the predictions and the mask (0 along axes the mask does not cover);
// class_stride walks the class (or label) axis of the predictions (and of the targets and mask
// for multilabel).
struct ClassBatch {
  TensorView pred, target, mask; // mask.data == nullptr: none
  TensorView weight;             // data == nullptr: none (every weight 1); per sample
  bool pred_scores = false;
  std::int64_t samples = 0;
  int axes = 0; // sample axes, C order
  std::int64_t shape[kMaxRank] = {};
  std::int64_t target_stride[kMaxRank] = {}; // elements
  std::int64_t pred_stride[kMaxRank] = {};
  std::int64_t mask_stride[kMaxRank] = {};
  std::int64_t weight_stride[kMaxRank] = {};  // 0 along axes the weight does not cover
  std::int64_t element_stride[kMaxRank] = {}; // of the target's C-order element index
  std::int64_t pred_class_stride = 0;
  std::int64_t target_class_stride = 0;  // multilabel
  std::int64_t mask_class_stride = 0;    // multilabel, when the mask covers the label axis
  std::int64_t element_class_stride = 0; // multilabel
  std::uint64_t index = 0;               // batches folded before this one
  bool has_mask() const { return mask.data != nullptr; }
  bool has_weight() const { return weight.data != nullptr; }
};

// The classification family's backend (CPU, CUDA), behind ClassificationEvaluator.
class ClassBackend : public BackendBase {
public:
  // Once, before the first update or merge: allocate here.
  virtual void configure(const ops::ClassLayout& layout, const ops::ClassParams& params,
                         NanPolicy policy) = 0;
  // Before a second configure() (a weighted batch widening the record): throws InvalidArgument
  // when the backend cannot reallocate its record now (CUDA: an update was captured in a graph).
  virtual void check_reconfigure(StreamHandle stream) { (void)stream; }
  // The first sample whose weight is not one (ops::class_weight_ok), as (batch, target element),
  // for a backend that finds it on the device (CUDA); the CPU refuses such a batch in update().
  virtual NonFiniteLocation bad_weight(StreamHandle stream) {
    (void)stream;
    return {};
  }
  virtual void update(const ClassBatch& batch, StreamHandle stream) = 0;
  // The epoch record (layout.words words); synchronises.
  virtual std::vector<std::uint64_t> words(StreamHandle stream) = 0;
  // Replaces the epoch record.
  virtual void load(const std::vector<std::uint64_t>& words, NonFiniteLocation where,
                    StreamHandle stream) = 0;
  // The values of the first sample that raises (first_bad()), as "target 3, scores [...]", for
  // a backend that kept them (the CPU reads them from the batch while it is folded); "" when not
  // known (CUDA, a merged state).
  virtual std::string first_bad_values(StreamHandle stream) {
    (void)stream;
    return {};
  }
  // The AUROC / average precision histograms (params.hist), when on: the nonzero counts as
  // (index, count), indices ascending (a weighted layout: the nonzero words of each bin's weight
  // sum, lo at 2 * bin, hi at 2 * bin + 1); and their replacement. Both synchronise.
  using Sparse = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  virtual Sparse histogram(StreamHandle stream) = 0;
  virtual void load_histogram(const Sparse& counts, StreamHandle stream) = 0;
  // Keyed histograms (params.hist.keyed()): the shared key (ops::merge_key) of the bin of each
  // of `words` (histogram()'s nonzero words), aligned with them; and their replacement, after
  // load_histogram(words). Both synchronise; empty when not keyed.
  using Keys = std::vector<std::uint32_t>;
  virtual Keys histogram_keys(const Sparse& words, StreamHandle stream) = 0;
  virtual void load_histogram_keys(const Sparse& words, const Keys& keys, StreamHandle stream) = 0;

  // The family's bookkeeping (BackendBase has the engine's; sample_shape is the targets' shape
  // without the batch axis).
  ClassificationSpec spec; // metrics resolved once configured
  bool pred_scores = false;
  ops::ClassLayout layout;
  ops::ClassParams params;
};

// The error a weight that is not a classification weight (ops::class_weight_ok) raises: batch
// `batch`, element `element` of the weight tensor (C order) and its value; element -1 when they
// are not known (the device), `target_element` >= 0 then naming the sample.
std::string bad_class_weight_message(std::uint64_t batch, std::int64_t element, double value,
                                     std::int64_t target_element = -1);

} // namespace gpueval::detail
