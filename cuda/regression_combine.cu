#include "cuda/regression_combine.hpp"

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/launch.cuh"

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
  int device = 0;
  GPUEVAL_CUDA_TRY(cudaGetDevice(&device));
  const std::size_t bytes = records.size() * sizeof(FullRecord);
  const DeviceBuffer in(device, bytes);
  const DeviceBuffer out(device, sizeof(FullRecord));
  FullRecord result{};
  GPUEVAL_CUDA_TRY(
      cudaMemcpyAsync(in.get(), records.data(), bytes, cudaMemcpyHostToDevice, stream));
  GPUEVAL_LAUNCH(combine_kernel, 1, kCombineThreads, 0, stream, in.as<const FullRecord>(),
                 static_cast<std::int64_t>(records.size()), out.as<FullRecord>());
  GPUEVAL_CUDA_TRY(
      cudaMemcpyAsync(&result, out.get(), sizeof(FullRecord), cudaMemcpyDeviceToHost, stream));
  GPUEVAL_CUDA_TRY(cudaStreamSynchronize(stream));
  return result;
}

} // namespace gpueval::cuda
