// The checks every family makes of a view, and shape text.
#include <string>

#include "core/common.hpp"
#include "gpueval/error.hpp"

namespace gpueval::detail {

std::string shape_string(const std::int64_t* shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

std::string where(const TensorView& v) {
  return v.device == DeviceKind::cpu ? "cpu" : "cuda:" + std::to_string(v.device_index);
}

} // namespace

void check_view(const TensorView& v, const char* name, Device device) {
  GPUEVAL_EXPECTS(v.rank >= 1 && v.rank <= kMaxRank,
                  std::string(name) + " has rank " + std::to_string(v.rank) +
                      "; a batch has a leading batch axis (rank 1 to " + std::to_string(kMaxRank) +
                      ")");
  for (int i = 0; i < v.rank; ++i) {
    GPUEVAL_EXPECTS(v.shape[i] >= 0,
                    std::string(name) + " " + v.describe() + " has a negative dimension");
  }
  GPUEVAL_EXPECTS(v.numel() == 0 || v.data != nullptr,
                  std::string(name) + " " + v.describe() + " has no data pointer");
  const bool same_device =
      v.device == device.kind && (device.kind == DeviceKind::cpu || v.device_index == device.index);
  GPUEVAL_EXPECTS(same_device,
                  std::string(name) + " is on " + where(v) + " but this evaluator runs on " +
                      (device.kind == DeviceKind::cpu ? std::string("cpu")
                                                      : "cuda:" + std::to_string(device.index)));
}

} // namespace gpueval::detail
