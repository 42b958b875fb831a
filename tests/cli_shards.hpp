// The gpu-eval tests' pieces: a few small shards per role written to a folder of the test's own,
// the report's values without what differs between runs (time, device), and an evaluator that
// hands every call on, for tests that watch or interrupt a run.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "io/shard_writer.hpp"

namespace gpueval::test {

// An evaluator that hands every call to `inner`; a test overrides what it watches.
class WrappedEvaluator : public AnyEvaluator {
public:
  explicit WrappedEvaluator(std::unique_ptr<AnyEvaluator> inner) : inner_(std::move(inner)) {}

  Family family() const override { return inner_->family(); }
  Device device() const override { return inner_->device(); }
  std::uint64_t batches() const override { return inner_->batches(); }
  void check_shapes(const std::vector<std::int64_t>& p,
                    const std::vector<std::int64_t>& t) const override {
    inner_->check_shapes(p, t);
  }
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              StreamHandle stream) override {
    update(pred, target, mask, TensorView{}, stream);
  }
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream) override {
    inner_->update(pred, target, mask, weight, stream);
  }
  AnyReport compute_any(StreamHandle stream) override { return inner_->compute_any(stream); }
  State state(StreamHandle stream) override { return inner_->state(stream); }
  void merge(const State& s, StreamHandle stream) override { inner_->merge(s, stream); }
  void reset(StreamHandle stream) override { inner_->reset(stream); }
  void keep_until_done(std::shared_ptr<void> owner) override {
    inner_->keep_until_done(std::move(owner));
  }

protected:
  std::unique_ptr<AnyEvaluator> inner_;
};

class CliShards : public ::testing::Test {
protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("gpueval-cli-" + std::string(test->test_suite_name()) + "-" + test->name() + "-" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `shards` files per role of [rows, 50, 4] float32 (rows varying), masks [rows, 50].
  void write(int shards, bool labels) {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> z;
    for (int s = 0; s < shards; ++s) {
      const std::int64_t rows = 37 + 11 * s;
      const std::int64_t n = rows * 50 * 4;
      std::vector<float> p(static_cast<std::size_t>(n)), t(p.size());
      for (std::size_t i = 0; i < p.size(); ++i) {
        if (labels) {
          t[i] = static_cast<float>(rng() % 2);
          p[i] = static_cast<float>(1.0 / (1.0 + std::exp(-(t[i] - 0.5 + z(rng)))));
        } else {
          t[i] = static_cast<float>(100.0 + z(rng));
          p[i] = static_cast<float>(t[i] + 0.3 * z(rng));
        }
      }
      std::vector<std::uint8_t> m(static_cast<std::size_t>(rows * 50));
      for (auto& x : m) {
        x = rng() % 5 != 0;
      }
      const std::string k = std::to_string(s);
      io::write_npy(path("pred_" + k), {"", DType::f32, {rows, 50, 4}, p.data()});
      io::write_npy(path("target_" + k), {"", DType::f32, {rows, 50, 4}, t.data()});
      io::write_npy(path("mask_" + k), {"", DType::boolean, {rows, 50}, m.data()});
      opts_.pred.push_back(path("pred_" + k));
      opts_.target.push_back(path("target_" + k));
      opts_.mask.push_back(path("mask_" + k));
    }
    opts_.progress = false;
    opts_.window_bytes = 4096; // many windows per shard: the ring turns over many times
  }
  std::string path(const std::string& name) const { return (dir_ / (name + ".npy")).string(); }

  // The report's JSON without what differs between runs and devices.
  static std::string values(const AnyReport& r) {
    AnyReport copy = r;
    copy.set_io(0, 0);
    copy.set_device("");
    return copy.to_json();
  }

  std::filesystem::path dir_;
  cli::EvalOptions opts_;
};

} // namespace gpueval::test
