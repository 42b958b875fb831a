// gpu-eval's GPU path on the CPU: evaluate() runs its whole loop through the staging ring with a
// fake device that checks what it is handed (views on the evaluator's CUDA device, pointers into
// an uploaded slot, the staging stream) and runs uploads and folds later, on a thread of its own,
// so that a window refilled before its fold has run gives a wrong report. The report must equal
// the CPU path's.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "cli_shards.hpp"
#include "core/staging.hpp"
#include "fake_device.hpp"
#include "gpueval/error.hpp"
#include "io/shard_writer.hpp"

namespace gpueval::cli {
namespace {

StreamHandle fake_stream() {
  static int tag;
  return &tag;
}

// The staging ring on a fake device: "device" buffers are host memory that only the device
// thread writes (uploads run there, later).
class FakeStaging final : public detail::DeviceStaging {
public:
  FakeStaging(test::FakeDevice& device, int slots, int buffers, const std::uint64_t* capacity)
      : device_(device), slots_(slots), buffers_(buffers), capacity_(capacity, capacity + buffers),
        host_(static_cast<std::size_t>(slots * buffers)),
        dev_(static_cast<std::size_t>(slots * buffers)), fences_(static_cast<std::size_t>(slots)),
        uploaded_(static_cast<std::size_t>(slots), false) {
    for (int s = 0; s < slots; ++s) {
      for (int b = 0; b < buffers; ++b) {
        host_[at(s, b)].resize(static_cast<std::size_t>(capacity_[b]) + 1);
        dev_[at(s, b)].resize(static_cast<std::size_t>(capacity_[b]) + 1);
      }
    }
  }
  ~FakeStaging() override { device_.drain(); } // queued uploads write into this object
  FakeStaging(const FakeStaging&) = delete;
  FakeStaging& operator=(const FakeStaging&) = delete;

  int slots() const override { return slots_; }
  int buffers() const override { return buffers_; }
  std::uint64_t capacity(int b) const override { return capacity_[static_cast<std::size_t>(b)]; }
  unsigned char* host(int s, int b) override { return host_[at(s, b)].data(); }
  const unsigned char* device(int s, int b) const override { return dev_[at(s, b)].data(); }
  StreamHandle stream() const override { return fake_stream(); }

  void upload(int s, const std::uint64_t* bytes) override {
    std::vector<std::uint64_t> n(bytes, bytes + buffers_);
    fences_[static_cast<std::size_t>(s)] = device_.enqueue([this, s, n] {
      for (int b = 0; b < buffers_; ++b) {
        std::memcpy(dev_[at(s, b)].data(), host_[at(s, b)].data(), n[static_cast<std::size_t>(b)]);
      }
    });
    const std::lock_guard<std::mutex> lock(m_);
    uploaded_[static_cast<std::size_t>(s)] = true;
  }
  void enqueued(int s) override {
    // The fold was enqueued after the upload: waiting for everything queued so far covers it.
    fences_[static_cast<std::size_t>(s)] = device_.enqueue([] {});
  }
  void wait_free(int s) override {
    if (fences_[static_cast<std::size_t>(s)]) {
      fences_[static_cast<std::size_t>(s)]();
    }
    const std::lock_guard<std::mutex> lock(m_);
    uploaded_[static_cast<std::size_t>(s)] = false;
  }

  // The slot whose device buffer `b` holds p, or -1.
  int slot_of(const void* p, int b) const {
    for (int s = 0; s < slots_; ++s) {
      const unsigned char* d = dev_[at(s, b)].data();
      if (p >= d && p < d + dev_[at(s, b)].size()) {
        return s;
      }
    }
    return -1;
  }
  bool uploaded(int s) {
    const std::lock_guard<std::mutex> lock(m_);
    return uploaded_[static_cast<std::size_t>(s)];
  }

private:
  std::size_t at(int s, int b) const { return static_cast<std::size_t>(s * buffers_ + b); }

  test::FakeDevice& device_;
  int slots_, buffers_;
  std::vector<std::uint64_t> capacity_;
  std::vector<std::vector<unsigned char>> host_, dev_;
  std::vector<std::function<void()>> fences_;
  std::mutex m_;
  std::vector<bool> uploaded_;
};

// An evaluator "on cuda:0": it checks every view and stream it is handed as the CUDA backend
// would (and more: the data must be in a slot uploaded since it was last freed), then folds the
// batch later on the fake device with a CPU evaluator.
class FakeCudaEvaluator final : public test::WrappedEvaluator {
public:
  // `updates` counts the updates handed over; it outlives the evaluator (evaluate() owns that).
  // `before(n)` runs as the n-th update is handed over.
  FakeCudaEvaluator(std::unique_ptr<AnyEvaluator> inner, test::FakeDevice& device,
                    std::unique_ptr<FakeStaging>* staging, int* updates,
                    std::function<void(int)> before = {})
      : WrappedEvaluator(std::move(inner)), device_(device), staging_(staging), updates_(updates),
        before_(std::move(before)) {}
  ~FakeCudaEvaluator() override { device_.drain(); } // queued folds use inner_
  FakeCudaEvaluator(const FakeCudaEvaluator&) = delete;
  FakeCudaEvaluator& operator=(const FakeCudaEvaluator&) = delete;

  Device device() const override { return Device::cuda(0); }

  using WrappedEvaluator::update;

  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream) override {
    check(pred, "pred", 0);
    check(target, "target", 1);
    if (mask.data != nullptr) {
      check(mask, "mask", 2);
    }
    if (weight.data != nullptr) {
      check(weight, "weight", 3);
    }
    GPUEVAL_EXPECTS(stream == fake_stream(), "the update is not on the staging stream");
    ++*updates_;
    if (before_) {
      before_(*updates_);
    }
    const auto on_host = [](TensorView v) {
      v.device = DeviceKind::cpu;
      v.device_index = 0;
      return v;
    };
    const TensorView p = on_host(pred), t = on_host(target);
    const TensorView m = mask.data != nullptr ? on_host(mask) : TensorView{};
    const TensorView w = weight.data != nullptr ? on_host(weight) : TensorView{};
    device_.enqueue([this, p, t, m, w] { inner_->update(p, t, m, w); });
  }

  AnyReport compute_any(StreamHandle) override {
    device_.drain();
    return inner_->compute_any();
  }
  State state(StreamHandle) override {
    device_.drain();
    return inner_->state();
  }
  void merge(const State& s, StreamHandle) override {
    device_.drain();
    inner_->merge(s);
  }
  void reset(StreamHandle) override {
    device_.drain();
    inner_->reset();
  }
  void keep_until_done(std::shared_ptr<void>) override {}

private:
  void check(const TensorView& v, const char* name, int buffer) {
    GPUEVAL_EXPECTS(
        v.device == DeviceKind::cuda && v.device_index == 0,
        std::string(name) + " is on " +
            (v.device == DeviceKind::cpu ? "cpu" : "cuda:" + std::to_string(v.device_index)) +
            " but this evaluator runs on cuda:0");
    GPUEVAL_EXPECTS(*staging_ != nullptr, std::string(name) + ": no staging ring on a GPU");
    const int slot = (*staging_)->slot_of(v.data, buffer);
    GPUEVAL_EXPECTS(slot >= 0, std::string(name) + " is not in a staging buffer");
    GPUEVAL_EXPECTS((*staging_)->uploaded(slot),
                    std::string(name) + " is in slot " + std::to_string(slot) +
                        ", which was not uploaded since it was last freed");
  }

  test::FakeDevice& device_;
  std::unique_ptr<FakeStaging>* staging_;
  int* updates_;
  std::function<void(int)> before_;
};

class CliStaging : public test::CliShards {
protected:
  // The run through the fake GPU, its fold counted.
  std::string fake_gpu_run(int* folds, std::vector<Skipped>* skipped = nullptr,
                           std::function<void(int)> before = {}) {
    test::FakeDevice device;
    std::unique_ptr<FakeStaging> staging;
    *folds = 0;
    Machine m;
    m.cuda_usable = [] { return true; };
    m.evaluator = [&](Device d, const Machine::Factory& make) -> std::unique_ptr<AnyEvaluator> {
      EXPECT_EQ(d.kind, DeviceKind::cuda);
      return std::make_unique<FakeCudaEvaluator>(make(Device::cpu(2)), device, &staging, folds,
                                                 before);
    };
    m.staging = [&](int index, int slots, int buffers, const std::uint64_t* capacity) {
      EXPECT_EQ(index, 0);
      staging = std::make_unique<FakeStaging>(device, slots, buffers, capacity);
      return std::make_unique<FakeStagingRef>(*staging);
    };
    const Evaluation e = evaluate(opts_, m); // --device auto: the (fake) GPU
    if (skipped != nullptr) {
      *skipped = e.skipped;
    }
    return values(e.report);
  }

  // evaluate() owns the staging it is given; the test keeps the real one to inspect it.
  class FakeStagingRef final : public detail::DeviceStaging {
  public:
    explicit FakeStagingRef(FakeStaging& s) : s_(s) {}
    int slots() const override { return s_.slots(); }
    int buffers() const override { return s_.buffers(); }
    std::uint64_t capacity(int b) const override { return s_.capacity(b); }
    unsigned char* host(int s, int b) override { return s_.host(s, b); }
    const unsigned char* device(int s, int b) const override { return s_.device(s, b); }
    void upload(int s, const std::uint64_t* bytes) override { s_.upload(s, bytes); }
    StreamHandle stream() const override { return s_.stream(); }
    void enqueued(int s) override { s_.enqueued(s); }
    void wait_free(int s) override { s_.wait_free(s); }

  private:
    FakeStaging& s_;
  };
};

TEST_F(CliStaging, RegressionThroughTheRingEqualsTheCpuPath) {
  write(4, false);
  opts_.options = {{"metrics", "all"}, {"by_axis", "1"}};
  int folds = 0;
  const std::string gpu = fake_gpu_run(&folds);
  EXPECT_GT(folds, 20); // many windows: every slot of the ring was reused
  EvalOptions cpu = opts_;
  cpu.device = Device::cpu(2);
  EXPECT_EQ(gpu, values(evaluate(cpu).report));
}

TEST_F(CliStaging, ClassificationThroughTheRingEqualsTheCpuPath) {
  write(3, true);
  opts_.task = "binary";
  int folds = 0;
  const std::string gpu = fake_gpu_run(&folds);
  EXPECT_GT(folds, 20);
  EvalOptions cpu = opts_;
  cpu.device = Device::cpu(2);
  EXPECT_EQ(gpu, values(evaluate(cpu).report));
}

// --on-error skip-file through the ring: a shard whose file turns short after some of its
// windows were uploaded and folded is left out whole (the reader's next read into a slot fails;
// the fold returns to the state before the shard, with uploads of that shard still queued).
TEST_F(CliStaging, AShardLeftOutMidwayThroughTheRingEqualsTheCpuPathWithoutIt) {
  write(3, false);
  opts_.options = {{"metrics", "all"}};
  opts_.on_error = EvalOptions::OnError::skip_file;
  const std::string file = opts_.target[1];
  int folds = 0;
  std::vector<Skipped> skipped;
  const std::string gpu = fake_gpu_run(&folds, &skipped, [&](int n) {
    if (n == 10) { // shard 1's second window (shard 0 is 8 windows of 5 rows)
      ASSERT_EQ(::truncate(file.c_str(), 200), 0);
    }
  });
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].files[1], file);
  EvalOptions cpu = opts_;
  cpu.device = Device::cpu(2);
  cpu.on_error = EvalOptions::OnError::fail;
  for (auto* role : {&cpu.pred, &cpu.target, &cpu.mask}) {
    role->erase(role->begin() + 1);
  }
  EXPECT_EQ(gpu, values(evaluate(cpu).report));
}

} // namespace
} // namespace gpueval::cli
