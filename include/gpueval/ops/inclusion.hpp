// The inclusion rule of every family's fold, on the host and the device alike (docs/design.md,
// "Numerics"): a value (a pair, a sample) counts when the mask includes it and it is valid (a
// finite pair; a target, label and score in range), or when the policy folds invalid values in
// (nan_policy=propagate). A value the mask includes and the rule drops is skipped: counted, and
// the first one recorded for nan_policy=error.
#pragma once

#include "gpueval/macros.hpp"

namespace gpueval::ops {

GPUEVAL_HD constexpr bool included(bool in_mask, bool valid, bool propagate) {
  return in_mask && (valid || propagate);
}

GPUEVAL_HD constexpr bool skipped(bool in_mask, bool valid, bool propagate) {
  return in_mask && !valid && !propagate;
}

// A sample weight is 0 (the sample left out, as a mask does) or a finite value >= the smallest
// normal double; anything else is an error under every policy, since no value of it means what
// the caller intended (a subnormal weight's reciprocal would overflow in the run's centring).
GPUEVAL_HD constexpr bool is_weight(double w) {
  return w == 0.0 || (w >= 2.2250738585072014e-308 && w - w == 0.0);
}

} // namespace gpueval::ops
