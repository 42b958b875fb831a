// A small LibTorch regression trainer on motion-like data [batch, 500, 20] that evaluates train
// and validation metrics every epoch with gpueval: one update() per batch, no host copies of the
// predictions, exact epoch metrics from compute().
//
//   trainer [--epochs N] [--device cpu|cuda]
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "gpueval/torch_evaluator.hpp"

namespace {

constexpr int kSteps = 500, kChannels = 20, kBatch = 16;

// Inputs: smooth curves per channel; targets: a fixed per-channel affine map of the inputs,
// mixed across channels, plus noise. A linear model can learn it, so the metrics improve.
struct Data {
  torch::Tensor x, y;
};

Data make_data(int batches, std::uint64_t seed, torch::Device device) {
  torch::manual_seed(seed);
  const auto t = torch::linspace(0, 6.283, kSteps).view({1, kSteps, 1});
  const auto freq = torch::rand({batches * kBatch, 1, kChannels}) * 3 + 0.5;
  const auto phase = torch::rand({batches * kBatch, 1, kChannels}) * 6.283;
  const auto x = torch::sin(t * freq + phase);
  torch::manual_seed(1234); // the same map for every split
  const auto mix = torch::eye(kChannels) * 1.5 + 0.1 * torch::randn({kChannels, kChannels});
  const auto bias = torch::randn({kChannels});
  torch::manual_seed(seed + 1);
  const auto y = torch::matmul(x, mix) + bias + 0.05 * torch::randn_like(x);
  return {x.to(device), y.to(device)};
}

void print_epoch(int epoch, const gpueval::Report& train, const gpueval::Report& val) {
  std::printf("epoch %2d | train mse %.5f r2 %.5f pearson %.5f | val mse %.5f r2 %.5f pearson "
              "%.5f max_error %.4f (%llu pairs)\n",
              epoch, train.value("mse"), train.value("r2"), train.value("pearson"),
              val.value("mse"), val.value("r2"), val.value("pearson"), val.value("max_error"),
              static_cast<unsigned long long>(val.count));
}

} // namespace

int train(int epochs, const std::string& device_name);

int main(int argc, char** argv) {
  int epochs = 5;
  std::string device_name = "cpu";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
      epochs = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      device_name = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--epochs N] [--device cpu|cuda]\n", argv[0]);
      return 2;
    }
  }
  try {
    return train(epochs, device_name);
  } catch (const c10::Error& e) { // LibTorch's own errors: no CUDA, a bad device name, ...
    std::fprintf(stderr, "trainer: %s\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trainer: %s\n", e.what());
  }
  std::fprintf(stderr, "trainer: --device cpu runs anywhere\n");
  return 1;
}

int train(int epochs, const std::string& device_name) {
  const torch::Device device(device_name);
  const Data train = make_data(32, 1, device);
  const Data val = make_data(8, 2, device);

  torch::nn::Linear model(kChannels, kChannels);
  model->to(device);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.05));

  gpueval::RegressionSpec spec; // the default metric set, per channel
  gpueval::torch_adapter::TorchEvaluator train_eval(spec, device);
  gpueval::torch_adapter::TorchEvaluator val_eval(spec, device);

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    train_eval.reset();
    val_eval.reset();
    model->train();
    for (int b = 0; b < 32; ++b) {
      const auto xb = train.x.slice(0, b * kBatch, (b + 1) * kBatch);
      const auto yb = train.y.slice(0, b * kBatch, (b + 1) * kBatch);
      opt.zero_grad();
      const auto pred = model->forward(xb);
      torch::mse_loss(pred, yb).backward();
      opt.step();
      train_eval.update(pred.detach(), yb); // folds the batch; nothing kept
    }
    model->eval();
    torch::NoGradGuard no_grad;
    for (int b = 0; b < 8; ++b) {
      const auto xb = val.x.slice(0, b * kBatch, (b + 1) * kBatch);
      const auto yb = val.y.slice(0, b * kBatch, (b + 1) * kBatch);
      val_eval.update(model->forward(xb), yb);
    }
    print_epoch(epoch, train_eval.compute(), val_eval.compute());
  }

  const gpueval::Report final_val = val_eval.compute();
  std::printf("\nvalidation, per channel (%s)\n", final_val.device.c_str());
  std::printf("%7s %10s %10s %10s %10s\n", "channel", "mse", "mae", "r2", "pearson");
  for (std::int64_t c = 0; c < final_val.channels; ++c) {
    const auto i = static_cast<std::size_t>(c);
    std::printf("%7lld %10.5f %10.5f %10.5f %10.5f\n", static_cast<long long>(c),
                final_val.per_channel_values("mse")[i], final_val.per_channel_values("mae")[i],
                final_val.per_channel_values("r2")[i], final_val.per_channel_values("pearson")[i]);
  }
  return 0;
}
