// Device selection without a GPU (and with one): auto picks a device whose backend exists, an
// explicit CUDA device that is not usable is an error naming the reason.
#include <gtest/gtest.h>

#include <string>

#include "core/registry.hpp"
#include "gpueval/error.hpp"
#include "gpueval/regression.hpp"

namespace gpueval {
namespace {

TEST(DeviceSelect, AutoSelectGivesAWorkingEvaluator) {
  const Device d = auto_select_device();
  Evaluator ev(RegressionSpec{}, d);
  std::vector<float> x(6, 1.0f);
  if (d.kind == DeviceKind::cpu) {
    ev.update(TensorView::contiguous(x.data(), DType::f32, {2, 3}),
              TensorView::contiguous(x.data(), DType::f32, {2, 3}));
    EXPECT_EQ(ev.compute().count, 6u);
  }
}

TEST(DeviceSelect, NoDeviceMeansCpuWithAReason) {
  std::string why;
  if (detail::cuda_device_count(&why) > 0) {
    GTEST_SKIP() << "a CUDA device is present";
  }
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(auto_select_device().kind, DeviceKind::cpu);
  try {
    Evaluator ev(RegressionSpec{}, Device::cuda(0));
    FAIL() << "no error";
  } catch (const CudaError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cuda:0 is not usable"), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
    EXPECT_NE(msg.find("device \"cpu\""), std::string::npos) << msg; // the fix
  }
  if (cuda_backend_built()) {
    // The reason says what is missing in words, not only the runtime's error code.
    EXPECT_NE(why.find("no usable CUDA device: "), std::string::npos) << why;
    EXPECT_TRUE(why.find("driver") != std::string::npos ||
                why.find("no CUDA device is visible") != std::string::npos)
        << why;
  }
}

TEST(DeviceSelect, NegativeThreadCountIsAnError) {
  EXPECT_THROW(Evaluator(RegressionSpec{}, Device::cpu(-1)), InvalidArgument);
}

} // namespace
} // namespace gpueval
