// GPU tests skip where there is no usable device, unless GPUEVAL_REQUIRE_GPU=1 (gpu-check sets it),
// which turns every such skip into a failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/backend_factory.hpp"

#define GPUEVAL_REQUIRE_DEVICE()                                                                   \
  do {                                                                                             \
    std::string gpueval_why_;                                                                      \
    if (::gpueval::detail::cuda_device_count(&gpueval_why_) == 0) {                                \
      const char* gpueval_req_ = std::getenv("GPUEVAL_REQUIRE_GPU");                               \
      if (gpueval_req_ != nullptr && std::strcmp(gpueval_req_, "1") == 0) {                        \
        FAIL() << "GPUEVAL_REQUIRE_GPU=1 but no CUDA device: " << gpueval_why_;                    \
      }                                                                                            \
      GTEST_SKIP() << "no CUDA device: " << gpueval_why_;                                          \
    }                                                                                              \
  } while (0)
