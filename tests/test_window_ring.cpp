// gpu-eval's window ring on the CPU: a fake device folds each released slot later, on its own
// thread, and the producer must never refill a slot the device still reads; errors and stops.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cli/window_ring.hpp"
#include "fake_device.hpp"

namespace gpueval::cli {
namespace {

using test::FakeDevice;

TEST(WindowRing, TheProducerNeverRefillsASlotTheDeviceStillReads) {
  for (int slots : {2, 3, 5}) {
    WindowRing ring(slots);
    std::vector<std::atomic<int>> slot_value(static_cast<std::size_t>(slots));
    std::vector<int> folded;
    std::atomic<int> overwritten{0};
    const int windows = 300;
    std::thread producer([&] {
      for (int k = 0; k < windows; ++k) {
        const int i = k % slots;
        ASSERT_TRUE(ring.wait_free(i));
        slot_value[static_cast<std::size_t>(i)] = k; // "read the file into the pinned buffer"
        ring.push(i);
      }
    });
    {
      FakeDevice device;
      for (int k = 0; k < windows; ++k) {
        const int i = k % slots;
        ring.take(i);
        EXPECT_EQ(slot_value[static_cast<std::size_t>(i)], k);
        // The fold runs later; the slot must still hold window k then.
        auto fence = device.enqueue([&, i, k] {
          if (slot_value[static_cast<std::size_t>(i)] != k) {
            ++overwritten;
          }
          folded.push_back(k);
        });
        ring.release(i, std::move(fence));
      }
      producer.join();
    } // the device drains
    EXPECT_EQ(overwritten, 0) << slots << " slots";
    ASSERT_EQ(folded.size(), static_cast<std::size_t>(windows));
    for (int k = 0; k < windows; ++k) {
      EXPECT_EQ(folded[static_cast<std::size_t>(k)], k); // in order
    }
  }
}

TEST(WindowRing, ReadyWindowsComeBeforeTheProducersError) {
  WindowRing ring(3);
  std::thread producer([&] {
    for (int k = 0; k < 2; ++k) {
      ASSERT_TRUE(ring.wait_free(k));
      ring.push(k);
    }
    ring.fail(std::make_exception_ptr(std::runtime_error("shard 2 is truncated")));
  });
  producer.join();
  ring.take(0);
  ring.release(0);
  ring.take(1);
  ring.release(1);
  EXPECT_THROW(ring.take(2), std::runtime_error);
}

TEST(WindowRing, StopEndsABlockedProducer) {
  WindowRing ring(2);
  std::atomic<bool> returned{false};
  std::thread producer([&] {
    for (int k = 0;; ++k) {
      if (!ring.wait_free(k % 2)) {
        returned = true;
        return;
      }
      ring.push(k % 2);
    }
  });
  ring.take(0); // never released: the producer fills slot 1, then waits on slot 0
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned);
  ring.stop();
  producer.join();
  EXPECT_TRUE(returned);
}

} // namespace
} // namespace gpueval::cli
