// Arrays across the binding: DLPack and buffer-protocol arrays as TensorViews (no copy), results
// as owned numpy arrays, and the references that keep an update's inputs alive.
#include <string>

#include "binding.hpp"
#include "gpueval/error.hpp"

namespace gpueval::python {

namespace {

// DLPack type codes (dlpack.h: kDLInt, kDLUInt, kDLFloat, kDLBfloat, kDLBool).
bool dtype_of(nb::dlpack::dtype t, DType& out) {
  using Code = nb::dlpack::dtype_code;
  if (t.lanes != 1) {
    return false;
  }
  switch (static_cast<Code>(t.code)) {
  case Code::Float:
    if (t.bits == 16 || t.bits == 32 || t.bits == 64) {
      out = t.bits == 16 ? DType::f16 : t.bits == 32 ? DType::f32 : DType::f64;
      return true;
    }
    return false;
  case Code::Bfloat:
    out = DType::bf16;
    return t.bits == 16;
  case Code::Int:
    switch (t.bits) {
    case 8:
      out = DType::i8;
      return true;
    case 16:
      out = DType::i16;
      return true;
    case 32:
      out = DType::i32;
      return true;
    case 64:
      out = DType::i64;
      return true;
    default:
      return false;
    }
  case Code::UInt:
    out = DType::u8;
    return t.bits == 8;
  case Code::Bool:
    out = DType::boolean;
    return t.bits == 8;
  default:
    return false;
  }
}

std::string dtype_text(nb::dlpack::dtype t) {
  static const char* const names[] = {"int",    "uint",    "float", "opaque",
                                      "bfloat", "complex", "bool"};
  std::string s = t.code < 7 ? names[t.code] : "code " + std::to_string(t.code) + " ";
  s += std::to_string(t.bits);
  if (t.lanes != 1) {
    s += "x" + std::to_string(t.lanes);
  }
  return s;
}

template <class T> nb::capsule owner_of(std::vector<T>* data) {
  return nb::capsule(data, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
}

} // namespace

TensorView view_of(const Array& array, const char* name) {
  GPUEVAL_EXPECTS(array.ndim() <= static_cast<std::size_t>(kMaxRank),
                  std::string(name) + " has " + std::to_string(array.ndim()) +
                      " dimensions; gpueval reads at most " + std::to_string(kMaxRank));
  TensorView v;
  GPUEVAL_EXPECTS(dtype_of(array.dtype(), v.dtype),
                  std::string(name) + " has dtype " + dtype_text(array.dtype()) +
                      ", which gpueval does not read (float16, bfloat16, float32, float64, "
                      "int8/16/32/64, uint8, bool)");
  switch (array.device_type()) {
  case nb::device::cpu::value:
  case nb::device::cuda_host::value: // pinned host memory is host memory
    v.device = DeviceKind::cpu;
    break;
  case nb::device::cuda::value:
  case nb::device::cuda_managed::value:
    v.device = DeviceKind::cuda;
    v.device_index = array.device_id();
    break;
  default:
    throw InvalidArgument(std::string(name) + " lives on DLPack device type " +
                          std::to_string(array.device_type()) +
                          "; gpueval reads arrays on the CPU and on CUDA devices");
  }
  v.data = array.data();
  v.rank = static_cast<int>(array.ndim());
  for (int i = 0; i < v.rank; ++i) {
    v.shape[i] = static_cast<std::int64_t>(array.shape(static_cast<std::size_t>(i)));
    v.strides[i] = array.stride(static_cast<std::size_t>(i));
  }
  return v;
}

nb::ndarray<nb::numpy, double> to_numpy(const std::vector<double>& values) {
  auto* data = new std::vector<double>(values);
  return nb::ndarray<nb::numpy, double>(data->data(), {data->size()}, owner_of(data));
}

nb::ndarray<nb::numpy, double> to_numpy(const std::vector<std::vector<double>>& rows,
                                        std::size_t columns) {
  auto* data = new std::vector<double>();
  data->reserve(rows.size() * columns);
  for (const std::vector<double>& row : rows) {
    data->insert(data->end(), row.begin(), row.end());
  }
  return nb::ndarray<nb::numpy, double>(data->data(), {rows.size(), columns}, owner_of(data));
}

nb::ndarray<nb::numpy, std::uint64_t> to_numpy(const std::vector<std::uint64_t>& values) {
  auto* data = new std::vector<std::uint64_t>(values);
  return nb::ndarray<nb::numpy, std::uint64_t>(data->data(), {data->size()}, owner_of(data));
}

std::shared_ptr<void> keep_inputs(const Array& pred, const Array& target,
                                  const std::optional<Array>& mask,
                                  const std::optional<Array>& weight) {
  struct Inputs {
    Array pred, target;
    std::optional<Array> mask, weight;
  };
  return std::make_shared<Inputs>(Inputs{pred, target, mask, weight});
}

} // namespace gpueval::python
