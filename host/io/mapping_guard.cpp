// The guard of mapped windows: a file that shrinks while a window of it is mapped (truncated, or
// rewritten in place by another job) turns a read of the lost pages into SIGBUS, which would end
// the process with a signal and no message. Each mapping registers its address range here; the
// SIGBUS handler, for an address in a registered range, maps a page of zeros over the faulting
// page (the read then completes) and marks the range lost. Whoever used the window asks
// mapping_lost() afterwards and reports the file instead of the numbers. A SIGBUS elsewhere goes
// to the handler that was there before (by default: the signal ends the process, as it would
// have). The handler uses only atomics and mmap.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "io/mapping_guard.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

constexpr int kSlots = 256; // windows mapped at once (a few per source in flight)

struct Slot {
  std::atomic<int> used{0};
  std::atomic<std::uintptr_t> begin{0}, end{0};
  std::atomic<int> lost{0};
};

Slot g_slots[kSlots];
std::uintptr_t g_page = 4096;
struct sigaction g_previous {};

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    if (s.used.load(std::memory_order_acquire) != 0 &&
        at >= s.begin.load(std::memory_order_relaxed) &&
        at < s.end.load(std::memory_order_relaxed)) {
      s.lost.store(1, std::memory_order_release);
      void* page = reinterpret_cast<void*>(at - at % g_page);
      if (::mmap(page, g_page, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
          MAP_FAILED) {
        return; // the read runs again and finds zeros
      }
      break;
    }
  }
  // Not a guarded window (or the page could not be replaced): the previous disposition, which
  // the faulting read meets when it runs again.
  (void)sig;
  (void)context;
  ::sigaction(SIGBUS, &g_previous, nullptr);
}

void install() {
  g_page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &g_previous);
}

} // namespace

int guard_mapping(const void* begin, std::size_t length) {
  static std::once_flag once;
  std::call_once(once, install);
  for (int i = 0; i < kSlots; ++i) {
    int free = 0;
    if (g_slots[i].used.load(std::memory_order_relaxed) == 0 &&
        g_slots[i].used.compare_exchange_strong(free, 2, std::memory_order_acq_rel)) {
      const auto b = reinterpret_cast<std::uintptr_t>(begin);
      g_slots[i].lost.store(0, std::memory_order_relaxed);
      g_slots[i].begin.store(b, std::memory_order_relaxed);
      g_slots[i].end.store(b + length, std::memory_order_relaxed);
      g_slots[i].used.store(1, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void release_mapping(int slot) {
  if (slot >= 0 && slot < kSlots) {
    g_slots[slot].used.store(0, std::memory_order_release);
    g_slots[slot].begin.store(0, std::memory_order_relaxed);
    g_slots[slot].end.store(0, std::memory_order_relaxed);
  }
}

bool mapping_lost(int slot) {
  return slot >= 0 && slot < kSlots && g_slots[slot].lost.load(std::memory_order_acquire) != 0;
}

bool Mapped::lost() const {
  return mapping_lost(guard);
}

} // namespace gpueval::io
