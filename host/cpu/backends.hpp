// What the CPU layer registers with the engine (host/registration.cpp calls these): each
// family's CPU backend.
#pragma once

namespace gpueval::cpu {

void register_regression_backend();
void register_classification_backend();
void register_geometry_backend();

} // namespace gpueval::cpu
