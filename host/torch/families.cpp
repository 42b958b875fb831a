// The LibTorch adapter's registration: every family's report as tensors. Adding a family adds
// its line here (its typed evaluator and TorchScript class live in its own files).
namespace gpueval::torch_adapter {

void register_regression_dict();
void register_classification_dict();
void register_geometry_dict();

void register_builtin_dicts() {
  register_regression_dict();
  register_classification_dict();
  register_geometry_dict();
}

} // namespace gpueval::torch_adapter
