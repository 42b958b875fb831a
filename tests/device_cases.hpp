// The device under test of the parity cases (tests/device_cases.cpp): the cases compare an
// evaluator on this device with one on the CPU, for batches whose bytes live in this device's
// memory. Every case runs twice: in gpueval_tests against the CPU itself (one thread against two,
// host memory), so that the cases' specs, shapes and logic are checked on every machine; and in
// gpueval_gpu_tests against a CUDA device, where one is present. A case that cannot run on the
// CPU (a spec the engine rejects, a state taken before its shape is known) then fails here, not
// on the first GPU run.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "gpueval/device.hpp"
#include "gpueval/tensor_view.hpp"

namespace gpueval::test {

class DeviceUnderTest {
public:
  virtual ~DeviceUnderTest() = default;
  // Where the evaluator under test runs.
  virtual Device device() const = 0;
  // Whether the device can run here; `why` says why not.
  virtual bool available(std::string* why) const = 0;
  // A copy of `bytes` bytes of host memory in the device's memory, `offset` bytes past an aligned
  // address (misaligned views); freed with the returned object.
  virtual std::shared_ptr<const unsigned char> copy(const void* host, std::size_t bytes,
                                                    std::size_t offset = 0) = 0;
  // Waits for the device's work (before the copies' memory is freed).
  virtual void synchronize() = 0;

  DeviceKind kind() const { return device().kind; }
  int index() const { return device().index; }
};

// Defined once per test executable: tests/cpu_device.cpp, tests/gpu/cuda_device.cpp.
DeviceUnderTest& device_under_test();

} // namespace gpueval::test

// Skips a test where the device under test is absent (reported as skipped), unless
// GPUEVAL_REQUIRE_GPU=1 (scripts/gpu-check sets it), which turns the skip into a failure.
#define GPUEVAL_REQUIRE_DEVICE_UNDER_TEST()                                                        \
  do {                                                                                             \
    std::string gpueval_why_;                                                                      \
    if (!::gpueval::test::device_under_test().available(&gpueval_why_)) {                          \
      const char* gpueval_req_ = std::getenv("GPUEVAL_REQUIRE_GPU");                               \
      if (gpueval_req_ != nullptr && std::string(gpueval_req_) == "1") {                           \
        FAIL() << "GPUEVAL_REQUIRE_GPU=1 but the device is absent: " << gpueval_why_;              \
      }                                                                                            \
      GTEST_SKIP() << "device absent: " << gpueval_why_;                                           \
    }                                                                                              \
  } while (0)
