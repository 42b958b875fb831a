// The bookkeeping between gpu-eval's reader thread and its fold: a ring of slots, each cycling
//
//   free --(producer fills, push)--> ready --(consumer take ... release)--> in use --(fence)-->
//   free
//
// The consumer's use of a slot may outlive release(): on a GPU, release() comes when the fold
// is enqueued, not when it has run. release() takes that fence (a callable that blocks until
// the use is over), and the producer calls it before it refills the slot. Slots are used in
// order 0, 1, ..., N-1, 0, ... by both sides. Errors of the producer reach the consumer's
// take(); stop() ends a producer blocked on a slot.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

namespace gpueval::cli {

class WindowRing {
public:
  explicit WindowRing(int slots)
      : ready_(static_cast<std::size_t>(slots), false), fence_(static_cast<std::size_t>(slots)) {}

  int slots() const { return static_cast<int>(ready_.size()); }

  // Producer: waits until slot i was released (or never used) and its fence has passed; false
  // when the consumer stopped.
  bool wait_free(int i) {
    std::function<void()> fence;
    {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return !ready_[at(i)] || stop_; });
      if (stop_) {
        return false;
      }
      fence.swap(fence_[at(i)]);
    }
    if (fence) {
      fence(); // outside the lock: it may block on a device
    }
    return true;
  }
  void push(int i) {
    std::lock_guard<std::mutex> lock(m_);
    ready_[at(i)] = true;
    cv_.notify_all();
  }

  // Consumer: waits until slot i is ready; rethrows the producer's error.
  void take(int i) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return ready_[at(i)] || error_; });
    if (error_ && !ready_[at(i)]) {
      std::rethrow_exception(error_);
    }
  }
  void release(int i, std::function<void()> fence = {}) {
    std::lock_guard<std::mutex> lock(m_);
    ready_[at(i)] = false;
    fence_[at(i)] = std::move(fence);
    cv_.notify_all();
  }

  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(m_);
    error_ = e;
    cv_.notify_all();
  }
  void stop() {
    std::lock_guard<std::mutex> lock(m_);
    stop_ = true;
    cv_.notify_all();
  }

private:
  std::size_t at(int i) const { return static_cast<std::size_t>(i); }

  std::vector<bool> ready_;
  std::vector<std::function<void()>> fence_;
  bool stop_ = false;
  std::exception_ptr error_;
  std::mutex m_;
  std::condition_variable cv_;
};

} // namespace gpueval::cli
