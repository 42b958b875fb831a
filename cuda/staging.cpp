// DeviceStaging on the CUDA runtime: pinned host buffers (cudaHostAlloc), device buffers, a copy
// stream and a fold stream, and two events per slot (uploaded, folded).
#include "core/staging.hpp"
#include "cuda/backends.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_guard.hpp"
#include "gpueval/error.hpp"

namespace gpueval::cuda {

namespace {

class CudaStaging final : public detail::DeviceStaging {
public:
  CudaStaging(int index, int slots, int buffers, const std::uint64_t* capacity)
      : index_(index), slots_(slots), buffers_(buffers), capacity_(capacity, capacity + buffers) {
    GPUEVAL_EXPECTS(slots >= 2 && buffers >= 1, "staging needs two slots and one buffer");
    DeviceGuard guard(index_);
    try {
      GPUEVAL_CUDA_TRY(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
      GPUEVAL_CUDA_TRY(cudaStreamCreateWithFlags(&fold_, cudaStreamNonBlocking));
      host_.assign(static_cast<std::size_t>(slots * buffers), nullptr);
      device_.assign(host_.size(), nullptr);
      for (int s = 0; s < slots; ++s) {
        for (int b = 0; b < buffers; ++b) {
          const auto bytes = static_cast<std::size_t>(std::max<std::uint64_t>(capacity_[b], 1));
          void* h = nullptr;
          void* d = nullptr;
          GPUEVAL_CUDA_TRY(cudaHostAlloc(&h, bytes, cudaHostAllocDefault));
          host_[at(s, b)] = static_cast<unsigned char*>(h);
          GPUEVAL_CUDA_TRY(cudaMalloc(&d, bytes));
          device_[at(s, b)] = static_cast<unsigned char*>(d);
        }
      }
      uploaded_.assign(static_cast<std::size_t>(slots), nullptr);
      folded_.assign(static_cast<std::size_t>(slots), nullptr);
      for (int s = 0; s < slots; ++s) {
        GPUEVAL_CUDA_TRY(cudaEventCreateWithFlags(&uploaded_[static_cast<std::size_t>(s)],
                                                  cudaEventDisableTiming));
        GPUEVAL_CUDA_TRY(cudaEventCreateWithFlags(&folded_[static_cast<std::size_t>(s)],
                                                  cudaEventDisableTiming));
      }
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaStaging() override { release(); }
  CudaStaging(const CudaStaging&) = delete;
  CudaStaging& operator=(const CudaStaging&) = delete;

  int slots() const override { return slots_; }
  int buffers() const override { return buffers_; }
  std::uint64_t capacity(int buffer) const override {
    return capacity_[static_cast<std::size_t>(buffer)];
  }
  unsigned char* host(int slot, int buffer) override { return host_[at(slot, buffer)]; }
  const unsigned char* device(int slot, int buffer) const override {
    return device_[at(slot, buffer)];
  }
  StreamHandle stream() const override { return reinterpret_cast<StreamHandle>(fold_); }

  void upload(int slot, const std::uint64_t* bytes) override {
    DeviceGuard guard(index_);
    for (int b = 0; b < buffers_; ++b) {
      GPUEVAL_EXPECTS(bytes[b] <= capacity_[static_cast<std::size_t>(b)],
                      "internal: a window larger than its staging buffer");
      if (bytes[b] > 0) {
        GPUEVAL_CUDA_TRY(cudaMemcpyAsync(device_[at(slot, b)], host_[at(slot, b)],
                                         static_cast<std::size_t>(bytes[b]), cudaMemcpyHostToDevice,
                                         copy_));
      }
    }
    cudaEvent_t up = uploaded_[static_cast<std::size_t>(slot)];
    GPUEVAL_CUDA_TRY(cudaEventRecord(up, copy_));
    GPUEVAL_CUDA_TRY(cudaStreamWaitEvent(fold_, up, 0));
  }

  void enqueued(int slot) override {
    DeviceGuard guard(index_);
    GPUEVAL_CUDA_TRY(cudaEventRecord(folded_[static_cast<std::size_t>(slot)], fold_));
  }

  void wait_free(int slot) override {
    DeviceGuard guard(index_);
    // An event never recorded counts as complete: a slot not used yet is free.
    GPUEVAL_CUDA_TRY(cudaEventSynchronize(uploaded_[static_cast<std::size_t>(slot)]));
    GPUEVAL_CUDA_TRY(cudaEventSynchronize(folded_[static_cast<std::size_t>(slot)]));
  }

private:
  std::size_t at(int slot, int buffer) const {
    return static_cast<std::size_t>(slot * buffers_ + buffer);
  }

  void release() noexcept {
    int previous = 0;
    GPUEVAL_CUDA_TRY_NOTHROW(cudaGetDevice(&previous));
    GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(index_));
    if (copy_ != nullptr) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaStreamSynchronize(copy_));
    }
    if (fold_ != nullptr) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaStreamSynchronize(fold_));
    }
    for (unsigned char* h : host_) {
      if (h != nullptr) {
        GPUEVAL_CUDA_TRY_NOTHROW(cudaFreeHost(h));
      }
    }
    for (unsigned char* d : device_) {
      if (d != nullptr) {
        GPUEVAL_CUDA_TRY_NOTHROW(cudaFree(d));
      }
    }
    for (cudaEvent_t e : uploaded_) {
      if (e != nullptr) {
        GPUEVAL_CUDA_TRY_NOTHROW(cudaEventDestroy(e));
      }
    }
    for (cudaEvent_t e : folded_) {
      if (e != nullptr) {
        GPUEVAL_CUDA_TRY_NOTHROW(cudaEventDestroy(e));
      }
    }
    if (copy_ != nullptr) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaStreamDestroy(copy_));
    }
    if (fold_ != nullptr) {
      GPUEVAL_CUDA_TRY_NOTHROW(cudaStreamDestroy(fold_));
    }
    host_.clear();
    device_.clear();
    uploaded_.clear();
    folded_.clear();
    copy_ = fold_ = nullptr;
    GPUEVAL_CUDA_TRY_NOTHROW(cudaSetDevice(previous));
  }

  int index_;
  int slots_, buffers_;
  std::vector<std::uint64_t> capacity_;
  cudaStream_t copy_ = nullptr, fold_ = nullptr;
  std::vector<unsigned char*> host_, device_;
  std::vector<cudaEvent_t> uploaded_, folded_;
};

} // namespace

std::unique_ptr<detail::DeviceStaging> make_staging(int index, int slots, int buffers,
                                                    const std::uint64_t* capacity) {
  return std::make_unique<CudaStaging>(index, slots, buffers, capacity);
}

} // namespace gpueval::cuda
