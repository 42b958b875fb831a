// Links the installed gpueval and uses its public API.
#include <cstdio>

#include <gpueval/metrics.hpp>
#include <gpueval/spec.hpp>
#include <gpueval/version.hpp>

int main() {
  gpueval::RegressionSpec spec;
  spec.metrics = gpueval::parse_metric_list("mse,r2");
  spec.validate();
  std::printf("gpueval %s: %zu metrics\n", std::string(gpueval::kVersion).c_str(),
              spec.metrics.size());
  return spec.metrics.size() == 2 ? 0 : 1;
}
