#include "cuda/cuda_check.hpp"
#include "cuda/device_combine.hpp"

namespace gpueval::cuda {

namespace {

constexpr int kCombineThreads = 128;
using Ops = ops::RegressionOps<kAllGroups>;

__global__ void __launch_bounds__(kCombineThreads)
    combine_kernel(const FullRecord* records, std::int64_t n, FullRecord* out) {
  // Raw storage: FullRecord has default member initialisers, which __shared__ does not allow.
  __shared__ alignas(FullRecord) unsigned char storage[kCombineThreads * sizeof(FullRecord)];
  FullRecord* partial = reinterpret_cast<FullRecord*>(storage);
  const int tid = static_cast<int>(threadIdx.x);
  const std::int64_t strip = (n + kCombineThreads - 1) / kCombineThreads;
  const std::int64_t begin = tid * strip;
  const std::int64_t end = begin + strip < n ? begin + strip : n;
  FullRecord acc{};
  for (std::int64_t i = begin; i < end; ++i) {
    acc = Ops::combine(acc, records[i]);
  }
  partial[tid] = acc;
  __syncthreads();
  for (int s = 1; s < kCombineThreads; s *= 2) {
    if (tid % (2 * s) == 0) {
      partial[tid] = Ops::combine(partial[tid], partial[tid + s]);
    }
    __syncthreads();
  }
  if (tid == 0) {
    *out = partial[0];
  }
}

} // namespace

FullRecord combine_on_device(const std::vector<FullRecord>& records, cudaStream_t stream) {
  const std::size_t bytes = records.size() * sizeof(FullRecord);
  FullRecord* d_in = nullptr;
  FullRecord* d_out = nullptr;
  FullRecord result{};
  GPUEVAL_CUDA_TRY(cudaMalloc(&d_in, bytes > 0 ? bytes : sizeof(FullRecord)));
  try {
    GPUEVAL_CUDA_TRY(cudaMalloc(&d_out, sizeof(FullRecord)));
    GPUEVAL_CUDA_TRY(cudaMemcpyAsync(d_in, records.data(), bytes, cudaMemcpyHostToDevice, stream));
    combine_kernel<<<1, kCombineThreads, 0, stream>>>(
        d_in, static_cast<std::int64_t>(records.size()), d_out);
    GPUEVAL_CHECK_LAUNCH(stream, "combine_kernel");
    GPUEVAL_CUDA_TRY(
        cudaMemcpyAsync(&result, d_out, sizeof(FullRecord), cudaMemcpyDeviceToHost, stream));
    GPUEVAL_CUDA_TRY(cudaStreamSynchronize(stream));
  } catch (...) {
    GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(d_in));
    GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(d_out));
    throw;
  }
  GPUEVAL_CUDA_TRY(cudaFree(d_in));
  GPUEVAL_CUDA_TRY(cudaFree(d_out));
  return result;
}

} // namespace gpueval::cuda
