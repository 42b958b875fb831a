// Compile-only proof that the shared ops are device code: every group set's reduce, run fold,
// combine and finalize instantiated in a kernel.
#include "gpueval/ops/regression.hpp"

namespace gpueval_check {

template <unsigned G>
__global__ void exercise_ops(const float* p, const float* t, int n, double* out) {
  using Ops = gpueval::ops::RegressionOps<G>;
  typename Ops::Record acc{};
  typename Ops::RunSums run;
  Ops::run_begin(run, p[0], t[0]);
  for (int i = 1; i < n; ++i) {
    Ops::run_add(run, p[i], t[i]);
  }
  acc = Ops::combine(acc, Ops::run_to_record(run));
  Ops::reduce(acc, p[0], t[0]);
  const gpueval::ops::MetricValues v = Ops::finalize(acc);
  for (int m = 0; m < gpueval::kNumMetrics; ++m) {
    out[m] = v.v[m];
  }
}

} // namespace gpueval_check

template __global__ void gpueval_check::exercise_ops<0>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<1>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<2>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<3>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<4>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<5>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<6>(const float*, const float*, int, double*);
template __global__ void gpueval_check::exercise_ops<7>(const float*, const float*, int, double*);
