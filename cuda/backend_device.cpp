#include "cuda/backend_device.hpp"

#include "cuda/cuda_check.hpp"
#include "cuda/index_math.hpp"

namespace gpueval::cuda {

BackendDevice::BackendDevice(int index) : index_(index) {
  cudaDeviceProp prop{};
  GPUEVAL_CUDA_TRY(cudaGetDeviceProperties(&prop, index));
  name_ = prop.name;
}

std::string BackendDevice::describe() const {
  return "cuda:" + std::to_string(index_) + " (" + name_ + ")";
}

void BackendDevice::updated(cudaStream_t stream) {
  last_stream_ = stream;
  unheld_update_ = true;
}

detail::NonFiniteLocation BackendDevice::read_position(const unsigned long long* slot,
                                                       StreamHandle stream) {
  unsigned long long pos = 0;
  copy_out(&pos, slot, sizeof pos, stream);
  detail::NonFiniteLocation where;
  if (pos != ~0ull) {
    where.batch = position_batch(pos);
    where.element = position_element(pos);
  }
  return where;
}

void BackendDevice::hold(std::shared_ptr<void> owner) {
  if (!unheld_update_) {
    return;
  }
  DeviceGuard guard(index_); // the event belongs to this device, as the update's stream
  order_.hold(last_stream_, std::move(owner));
  unheld_update_ = false;
}

void BackendDevice::copy(void* to, const void* from, std::size_t bytes, cudaMemcpyKind kind,
                         StreamHandle stream) {
  DeviceGuard guard(index_);
  const auto s = static_cast<cudaStream_t>(stream);
  order_.before(s);
  GPUEVAL_CUDA_TRY(cudaMemcpyAsync(to, from, bytes, kind, s));
  GPUEVAL_CUDA_TRY(cudaStreamSynchronize(s));
  order_.settled();
}

} // namespace gpueval::cuda
