// The CUDA runtime's event calls, as cuda/stream_order.hpp's StreamOrder uses them.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/stream_order.hpp"

namespace gpueval::cuda {

struct CudaEvents {
  using Stream = cudaStream_t;
  using Event = cudaEvent_t;

  Event create();                              // timing disabled: the cheapest kind
  void destroy(Event e) noexcept;              // reports a failure on stderr
  void record(Event e, Stream s);              // throws CudaError
  void wait(Stream s, Event e, bool external); // external: cudaEventWaitExternal
  bool done(Event e);                          // cudaEventQuery; throws on an error
  void sync(Event e);                          // cudaEventSynchronize
  bool capturing(Stream s);                    // a failed query counts as capturing
};

using CudaStreamOrder = StreamOrder<CudaEvents>;

} // namespace gpueval::cuda
