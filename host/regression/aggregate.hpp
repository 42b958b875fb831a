// From per-key records to a Report: every aggregation of docs/design.md ("Keys, regimes and
// aggregation") is a combine of records followed by the shared finalize.
#pragma once

#include <cstdint>
#include <vector>

#include "gpueval/ops/regression.hpp"
#include "gpueval/regression.hpp"

namespace gpueval::detail {

// Backends hand records over in the widest layout; groups the spec did not ask for hold their
// identity and are never reported.
using FullRecord = ops::RegressionRecord<kAllGroups>;
using FullOps = ops::RegressionOps<kAllGroups>;

// Combines records first, first + stride, ... (count of them) in a fixed pairwise tree: the
// result depends only on the inputs and their order, and rounding grows with log(count).
FullRecord tree_combine(const FullRecord* first, std::int64_t count, std::int64_t stride = 1);

// records.size() must equal layout.keys; `sketch` is the backend's dense quantile sketch
// (empty without quantile metrics).
Report build_report(const RegressionSpec& spec, const KeyLayout& layout,
                    const std::vector<FullRecord>& records,
                    const std::vector<std::uint64_t>& sketch = {});

} // namespace gpueval::detail
