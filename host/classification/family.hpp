// The classification family's registration with the engine (host/registration.cpp calls it).
#pragma once

namespace gpueval::classification {

void register_family();

} // namespace gpueval::classification
