// Device-side merge of regression records: the first kernel, and the shape of every later merge.
#pragma once

#include <cstdint>
#include <vector>

#include <cuda_runtime_api.h>

#include "gpueval/ops/regression.hpp"

namespace gpueval::cuda {

using FullRecord = ops::RegressionRecord<kAllGroups>;

// Combines records[0 .. n) on the device in one block: thread i folds the contiguous strip i of
// the records in order, then the strips merge in a fixed bottom-up pairwise tree (strip i with
// strip i + s, s = 1, 2, 4, ...). The result depends only on the records, never on timing.
// Copies the result back and synchronises `stream`. Throws CudaError on any CUDA failure.
FullRecord combine_on_device(const std::vector<FullRecord>& records, cudaStream_t stream);

} // namespace gpueval::cuda
