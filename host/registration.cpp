// The composition root: every family and backend this build has, registered once with the
// engine's registries (core/registry.hpp) before their first use. Adding a family adds its line
// here; nothing else in the engine names one.
#include "classification/family.hpp"
#include "core/registry.hpp"
#include "cpu/backends.hpp"
#include "geometry/family.hpp"
#include "regression/family.hpp"
#ifdef GPUEVAL_WITH_CUDA
#include "cuda/backends.hpp"
#endif

namespace gpueval::detail {

void register_builtins() {
  regression::register_family();
  classification::register_family();
  geometry::register_family();
  cpu::register_regression_backend();
  cpu::register_classification_backend();
  cpu::register_geometry_backend();
#ifdef GPUEVAL_WITH_CUDA
  cuda::register_layer();
  cuda::register_regression_backend();
  cuda::register_classification_backend();
  cuda::register_geometry_backend();
#endif
}

} // namespace gpueval::detail
