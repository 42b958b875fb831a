// gpu-eval's composition root: every family's CLI parts (report writers, synthetic shards).
// Adding a family adds its line here.
#include "cli/family.hpp"

namespace gpueval::cli {

void register_regression_cli();
void register_classification_cli();
void register_geometry_cli();

void register_cli_builtins() {
  register_regression_cli();
  register_classification_cli();
  register_geometry_cli();
}

} // namespace gpueval::cli
