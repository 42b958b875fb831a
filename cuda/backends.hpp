// What the CUDA layer registers with the engine (host/registration.cpp calls these in a CUDA
// build): the device probe, the runtime's versions and the staging ring, and each family's
// backend. Plain C++: no CUDA header.
#pragma once

#include <cstdint>
#include <memory>

#include "core/staging.hpp"

namespace gpueval::cuda {

void register_layer();
void register_regression_backend();
void register_classification_backend();
void register_geometry_backend();

// gpu-eval's pinned staging ring on device `index` (cuda/staging.cpp).
std::unique_ptr<detail::DeviceStaging> make_staging(int index, int slots, int buffers,
                                                    const std::uint64_t* capacity);

} // namespace gpueval::cuda
