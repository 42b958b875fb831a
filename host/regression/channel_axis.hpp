// A channel axis anywhere (docs/design.md, "Channel axis"): the engine keys a batch with its
// channels last, so an evaluator whose channel axis is another one (images and maps [N, C, H, W]
// keep channels on axis 1) reads each batch through a view with that axis moved last. The view
// only permutes strides: no copy, and the per-channel statistics are those of the user's axis.
// Inside the evaluator everything (the sample shape, the key layout, states) is in these "layout"
// coordinates; the user's coordinates appear only at the boundary (batches, the spec, reports).
#pragma once

#include <cstdint>
#include <vector>

#include "gpueval/regression.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::detail {

struct ChannelMove {
  int axis = -1; // the channel axis of the batch tensor when it is not the last one; -1: none
  int rank = 0;  // the batch tensor's rank

  // The move for a spec and a batch rank; validates the channel axis against the rank.
  static ChannelMove of(const RegressionSpec& spec, int rank);
  bool moves() const { return axis >= 0; }

  // The user's sample shape in layout coordinates, and back.
  std::vector<std::int64_t> to_layout(const std::vector<std::int64_t>& sample) const;
  std::vector<std::int64_t> to_user(const std::vector<std::int64_t>& sample) const;
  // A batch tensor (pred, target) with the channel axis last.
  TensorView view(const TensorView& v) const;
  // A mask or weight of the batch's shape or a prefix of it: unchanged when the prefix stops
  // before the channel axis (it is then a prefix of the moved batch too), else broadcast to the
  // batch's shape (zero strides) and moved like it. `batch` is the user's pred.
  TensorView cover(const TensorView& m, const TensorView& batch) const;
  // The C-order index in the user's batch of element `e` of the moved batch (whose sample shape
  // is `layout_sample`): where errors found in layout order are named.
  std::uint64_t to_user_element(std::uint64_t e,
                                const std::vector<std::int64_t>& layout_sample) const;
  // A batch-tensor axis other than the channel axis, in layout coordinates, and back.
  int to_layout_axis(int axis) const;
  int to_user_axis(int axis) const;
};

} // namespace gpueval::detail
