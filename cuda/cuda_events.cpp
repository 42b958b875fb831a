#include "cuda/cuda_events.hpp"

#include "cuda/cuda_check.hpp"

namespace gpueval::cuda {

cudaEvent_t CudaEvents::create() {
  cudaEvent_t e = nullptr;
  GPUEVAL_CUDA_TRY(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void CudaEvents::destroy(cudaEvent_t e) noexcept {
  GPUEVAL_CUDA_TRY_NOTHROW(cudaEventDestroy(e));
}

void CudaEvents::record(cudaEvent_t e, cudaStream_t s) {
  GPUEVAL_CUDA_TRY(cudaEventRecord(e, s));
}

void CudaEvents::wait(cudaStream_t s, cudaEvent_t e, bool external) {
  GPUEVAL_CUDA_TRY(cudaStreamWaitEvent(s, e, external ? cudaEventWaitExternal : 0));
}

namespace {

// Relaxed capture mode for the calling thread while it lives: in the default (global) mode, an
// event query or synchronisation while any thread captures a graph invalidates that capture.
// Our events are never recorded in a capture, so querying them is safe in relaxed mode.
class RelaxedCapture {
public:
  RelaxedCapture() { (void)cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCapture() { (void)cudaThreadExchangeStreamCaptureMode(&mode_); }
  RelaxedCapture(const RelaxedCapture&) = delete;
  RelaxedCapture& operator=(const RelaxedCapture&) = delete;

private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

} // namespace

bool CudaEvents::done(cudaEvent_t e) {
  const RelaxedCapture relaxed;
  const cudaError_t status = cudaEventQuery(e);
  if (status == cudaErrorNotReady) {
    return false;
  }
  GPUEVAL_CUDA_TRY(status);
  return true;
}

void CudaEvents::sync(cudaEvent_t e) {
  const RelaxedCapture relaxed;
  GPUEVAL_CUDA_TRY(cudaEventSynchronize(e));
}

bool CudaEvents::capturing(cudaStream_t s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  // Querying the legacy stream while another thread captures in global mode fails: that is a
  // capture too, as far as what may be enqueued is concerned (and enqueueing on it would fail).
  if (cudaStreamIsCapturing(s, &status) != cudaSuccess) {
    (void)cudaGetLastError();
    return true;
  }
  return status != cudaStreamCaptureStatusNone;
}

} // namespace gpueval::cuda
