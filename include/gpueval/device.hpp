// Where an evaluator runs.
#pragma once

#include <string>
#include <string_view>

#include "gpueval/tensor_view.hpp"

namespace gpueval {

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;   // CUDA ordinal; 0 for the CPU
  int threads = 0; // CPU worker threads; 0 means one per hardware thread

  static Device cpu(int threads = 0) { return Device{DeviceKind::cpu, 0, threads}; }
  static Device cuda(int index = 0) { return Device{DeviceKind::cuda, index, 0}; }

  // "cpu", "cuda", "cuda:N". Throws InvalidArgument naming the accepted forms. "auto" is not a
  // device but a choice: auto_select_device() (below) resolves it.
  static Device parse(std::string_view text);

  // "cpu (2 threads)", "cuda:0".
  std::string describe() const;
};

// Picks the CUDA backend when a CUDA device is usable and this build has it, else the CPU. Any
// failure of the CUDA runtime's device query (no driver, no device) means the CPU; the choice is
// reported once on stderr when it falls back.
Device auto_select_device();

// Whether this build has the CUDA backend (compiled with nvcc). Says nothing about whether a GPU
// is present: see auto_select_device().
bool cuda_backend_built();

// The CUDA runtime this build carries and the driver's CUDA version, for --version lines and
// bug reports: "CUDA runtime 13.0, driver 13.0", "CUDA runtime 13.0, no driver", "built without
// CUDA".
std::string cuda_versions();

// An opaque CUDA stream (cudaStream_t) so that public headers need no CUDA header. nullptr is the
// legacy default stream. Ignored by the CPU backend.
using StreamHandle = void*;

} // namespace gpueval
