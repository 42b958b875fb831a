// The geometry family's registration with the engine (host/registration.cpp calls it).
#pragma once

namespace gpueval::geometry {

void register_family();

} // namespace gpueval::geometry
