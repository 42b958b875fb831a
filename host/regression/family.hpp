// The regression family's registration with the engine (host/registration.cpp calls it).
#pragma once

namespace gpueval::regression {

void register_family();

} // namespace gpueval::regression
