#include "cuda/cuda_check.hpp"

#include <cstdio>

#include "gpueval/error.hpp"

namespace gpueval::cuda {

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorString(status)) + " (" + cudaGetErrorName(status) + ", " +
         std::to_string(static_cast<int>(status)) + ")";
}

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  // The failed call left its error as the runtime's last one: clear it, so that later calls (and
  // other libraries' checks) start clean.
  (void)cudaGetLastError();
  throw CudaError(std::string(call) + " failed: " + describe(status) + " at " + file + ":" +
                  std::to_string(line));
}

void report_cuda_error(cudaError_t status, const char* call, const char* file, int line) noexcept {
  (void)cudaGetLastError();
  std::fprintf(stderr, "gpueval: %s failed: %s (%s, %d) at %s:%d\n", call,
               cudaGetErrorString(status), cudaGetErrorName(status), static_cast<int>(status), file,
               line);
}

void check_launch(cudaError_t status, cudaStream_t stream, const char* what, const char* file,
                  int line) {
#ifndef NDEBUG
  // Debug builds wait for the kernel, so that a fault is reported at its launch, except while
  // the stream is being captured into a graph (synchronising would invalidate the capture).
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (status == cudaSuccess && cudaStreamIsCapturing(stream, &capture) == cudaSuccess &&
      capture == cudaStreamCaptureStatusNone) {
    status = cudaStreamSynchronize(stream);
  }
#else
  (void)stream;
#endif
  if (status != cudaSuccess) {
    throw_cuda_error(status, what, file, line);
  }
}

} // namespace gpueval::cuda
