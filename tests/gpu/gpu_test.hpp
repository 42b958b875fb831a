// GPU tests skip where there is no usable device, unless GPUEVAL_REQUIRE_GPU=1 (gpu-check sets
// it), which turns every such skip into a failure. The device under test of the GPU executable
// is CUDA device 0 (cuda_device.cpp).
#pragma once

#include "device_cases.hpp"

#define GPUEVAL_REQUIRE_DEVICE() GPUEVAL_REQUIRE_DEVICE_UNDER_TEST()
