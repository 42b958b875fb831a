// Host/device annotation macros. The only place that knows whether nvcc is compiling.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GPUEVAL_HD __host__ __device__
#define GPUEVAL_FORCEINLINE __forceinline__
#else
#define GPUEVAL_HD
#define GPUEVAL_FORCEINLINE inline __attribute__((always_inline))
#endif
