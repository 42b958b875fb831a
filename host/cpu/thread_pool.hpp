// A fixed set of worker threads that run the tasks of one parallel loop at a time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gpueval::cpu {

class ThreadPool {
public:
  // `threads` includes the calling thread: ThreadPool(1) runs everything on the caller.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // The threads a CPU device asks for: `requested`, or one per hardware thread for 0 or less.
  static int threads_for(int requested) {
    const int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
    return n > 1 ? n : 1;
  }

  // Runs fn(task, slot) for every task in [0, tasks), each exactly once, on at most size()
  // threads; slot in [0, size()) identifies the thread (for per-thread scratch). Which thread runs
  // which task is unspecified, so results must not depend on it. Returns when all are done; the
  // first exception thrown by a task is rethrown here.
  void run(std::int64_t tasks, const std::function<void(std::int64_t, int)>& fn);

private:
  void worker_loop(int slot);
  void drain(int slot);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(std::int64_t, int)>* job_ = nullptr;
  std::int64_t tasks_ = 0;
  std::int64_t next_ = 0;
  int busy_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

} // namespace gpueval::cpu
