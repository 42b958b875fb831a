// The binding's registration: every family's own parts of gpueval._core. Adding a family adds
// its line here.
#include "binding.hpp"

namespace gpueval::python {

void bind_regression(nb::module_& m);
void bind_classification(nb::module_& m);
void bind_geometry(nb::module_& m);

void bind_families(nb::module_& m) {
  bind_regression(m);
  bind_classification(m);
  bind_geometry(m);
}

} // namespace gpueval::python
