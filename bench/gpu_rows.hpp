// The CUDA rows of gpu-eval-bench (gpu_rows.cpp, built with the CUDA backend).
#pragma once

namespace gpueval::bench {

// Registers the CUDA benchmarks when a device is usable; otherwise records why they are absent
// in the benchmark context. `quick`: float32 only, no masked all-groups rows.
void register_gpu_rows(bool quick);

} // namespace gpueval::bench
