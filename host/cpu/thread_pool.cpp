#include "cpu/thread_pool.hpp"

namespace gpueval::cpu {

ThreadPool::ThreadPool(int threads) {
  for (int slot = 1; slot < threads; ++slot) {
    workers_.emplace_back([this, slot] { worker_loop(slot); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) {
    t.join();
  }
}

void ThreadPool::drain(int slot) {
  // Called with mutex_ held; takes tasks one at a time until none are left.
  while (next_ < tasks_) {
    const std::int64_t task = next_++;
    const auto* job = job_;
    mutex_.unlock();
    try {
      (*job)(task, slot);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) {
        error_ = std::current_exception();
      }
      next_ = tasks_; // stop handing out work
    }
    mutex_.lock();
  }
}

void ThreadPool::worker_loop(int slot) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::uint64_t seen = generation_;
  while (true) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) {
      return;
    }
    seen = generation_;
    ++busy_;
    drain(slot);
    if (--busy_ == 0) {
      done_.notify_all();
    }
  }
}

void ThreadPool::run(std::int64_t tasks, const std::function<void(std::int64_t, int)>& fn) {
  if (tasks <= 0) {
    return;
  }
  if (workers_.empty() || tasks == 1) {
    for (std::int64_t t = 0; t < tasks; ++t) {
      fn(t, 0);
    }
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = &fn;
  tasks_ = tasks;
  next_ = 0;
  error_ = nullptr;
  ++generation_;
  wake_.notify_all();
  ++busy_;
  drain(0);
  --busy_;
  done_.wait(lock, [&] { return busy_ == 0; });
  job_ = nullptr;
  if (error_) {
    std::rethrow_exception(error_);
  }
}

} // namespace gpueval::cpu
