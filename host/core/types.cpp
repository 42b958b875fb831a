// DType names, TensorView helpers and Device parsing.
#include <string>
#include <thread>

#include "core/common.hpp"
#include "gpueval/device.hpp"
#include "gpueval/dtype.hpp"
#include "gpueval/error.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval {

bool parse_dtype(std::string_view name, DType& out) {
  static constexpr struct {
    std::string_view name;
    DType dtype;
  } aliases[] = {{"f16", DType::f16},    {"half", DType::f16},  {"bf16", DType::bf16},
                 {"f32", DType::f32},    {"float", DType::f32}, {"f64", DType::f64},
                 {"double", DType::f64}, {"u8", DType::u8},     {"i8", DType::i8},
                 {"i16", DType::i16},    {"i32", DType::i32},   {"i64", DType::i64},
                 {"b1", DType::boolean}};
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto t = static_cast<DType>(i);
    if (dtype_name(t) == name) {
      out = t;
      return true;
    }
  }
  for (const auto& a : aliases) {
    if (a.name == name) {
      out = a.dtype;
      return true;
    }
  }
  return false;
}

TensorView TensorView::contiguous(const void* data, DType dtype, const std::int64_t* shape,
                                  int rank, DeviceKind device, int device_index) {
  GPUEVAL_EXPECTS(rank >= 0 && rank <= kMaxRank, "tensor rank " + std::to_string(rank) +
                                                     " is outside 0.." + std::to_string(kMaxRank));
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.rank = rank;
  v.device = device;
  v.device_index = device_index;
  std::int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    GPUEVAL_EXPECTS(shape[i] >= 0, "tensor dimension " + std::to_string(i) + " is negative (" +
                                       std::to_string(shape[i]) + ")");
    v.shape[i] = shape[i];
    v.strides[i] = stride;
    stride *= shape[i];
  }
  return v;
}

TensorView TensorView::contiguous(const void* data, DType dtype,
                                  std::initializer_list<std::int64_t> shape, DeviceKind device,
                                  int device_index) {
  return contiguous(data, dtype, shape.begin(), static_cast<int>(shape.size()), device,
                    device_index);
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    n *= shape[i];
  }
  return n;
}

bool TensorView::is_contiguous() const {
  std::int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != stride) {
      return false;
    }
    stride *= shape[i];
  }
  return true;
}

std::string TensorView::describe() const {
  std::string s = detail::shape_string(shape, rank) + " ";
  s += dtype_name(dtype);
  s += device == DeviceKind::cpu ? " on cpu" : " on cuda:" + std::to_string(device_index);
  return s;
}

Device Device::parse(std::string_view text) {
  if (text == "cpu") {
    return cpu();
  }
  if (text == "cuda") {
    return cuda(0);
  }
  if (text.substr(0, 5) == "cuda:" && text.size() > 5 && text.size() <= 8) {
    int index = 0;
    for (char c : text.substr(5)) {
      if (c < '0' || c > '9') {
        index = -1;
        break;
      }
      index = index * 10 + (c - '0');
    }
    if (index >= 0) {
      return cuda(index);
    }
  }
  throw InvalidArgument("unknown device '" + std::string(text) +
                        "'; use cpu, cuda or cuda:N (N a device ordinal)");
}

std::string Device::describe() const {
  if (kind == DeviceKind::cuda) {
    return "cuda:" + std::to_string(index);
  }
  int n = threads;
  if (n <= 0) {
    n = static_cast<int>(std::thread::hardware_concurrency());
    n = n > 0 ? n : 1;
  }
  return "cpu (" + std::to_string(n) + (n == 1 ? " thread)" : " threads)");
}

} // namespace gpueval
