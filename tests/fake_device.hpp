// A device for CPU tests of code that enqueues work on a GPU: work runs later, in order, on a
// thread of its own that is slower than the host, so that a caller that reuses memory before the
// device is done with it reads or writes the wrong bytes and the test sees it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace gpueval::test {

// A device that runs queued work in order on one thread; a fence waits for one item.
class FakeDevice {
public:
  FakeDevice() : worker_([this] { loop(); }) {}
  ~FakeDevice() {
    {
      std::lock_guard<std::mutex> lock(m_);
      quit_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  // Blocks until everything enqueued so far has run.
  void drain() {
    std::unique_lock<std::mutex> lock(m_);
    const std::uint64_t ticket = queued_;
    cv_.wait(lock, [&] { return ran_ >= ticket; });
  }
  // Enqueues work; returns a fence that blocks until it has run.
  std::function<void()> enqueue(std::function<void()> work) {
    std::lock_guard<std::mutex> lock(m_);
    const std::uint64_t ticket = ++queued_;
    queue_.push_back(std::move(work));
    cv_.notify_all();
    return [this, ticket] {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return ran_ >= ticket; });
    };
  }

private:
  void loop() {
    std::unique_lock<std::mutex> lock(m_);
    while (true) {
      cv_.wait(lock, [&] { return quit_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;
      }
      std::function<void()> work = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(200)); // slower than the host
      work();
      lock.lock();
      ++ran_;
      cv_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::uint64_t queued_ = 0, ran_ = 0;
  bool quit_ = false;
  std::thread worker_;
};

} // namespace gpueval::test
