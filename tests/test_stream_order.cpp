// The CUDA backends' ordering of work across streams (cuda/stream_order.hpp), on a fake device
// whose streams run in an adversarial order: the last stream first, an operation as soon as
// nothing it waits on is pending. An evaluator state that several streams update, reset and
// read must come out as if the operations had run in the order they were enqueued.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "cuda/stream_order.hpp"

namespace gpueval::cuda {
namespace {

// Streams are queues of operations; an event is recorded in a stream and completes when that
// record runs; a wait holds its stream until the event's record (as of the wait) has run.
struct Sim {
  struct Op {
    enum Kind { kernel, record, wait } kind;
    std::function<void()> work; // kernel
    int event = 0;
    int generation = 0; // record: the one it completes; wait: the one it needs
    bool external = false;
  };
  std::map<int, std::deque<Op>> streams;
  std::vector<int> recorded, completed; // per event: generations recorded and completed
  std::map<int, bool> capturing;
  std::vector<std::pair<int, bool>> waits; // (stream, external) of every wait enqueued

  bool runnable(const Op& op) const {
    return op.kind != Op::wait || completed[static_cast<std::size_t>(op.event)] >= op.generation;
  }
  // Runs one runnable head operation, from the highest stream first; false when none can run.
  bool step() {
    for (auto it = streams.rbegin(); it != streams.rend(); ++it) {
      if (!it->second.empty() && runnable(it->second.front())) {
        Op op = std::move(it->second.front());
        it->second.pop_front();
        if (op.kind == Op::kernel) {
          op.work();
        } else if (op.kind == Op::record) {
          completed[static_cast<std::size_t>(op.event)] = op.generation;
        }
        return true;
      }
    }
    return false;
  }
  void run_until(const std::function<bool()>& done) {
    while (!done()) {
      ASSERT_TRUE(step()) << "the fake device deadlocked";
    }
  }
  void run_all() {
    while (step()) {
    }
  }
};

struct FakeRuntime {
  using Stream = int;
  using Event = int;
  std::shared_ptr<Sim> sim;

  Event create() {
    sim->recorded.push_back(0);
    sim->completed.push_back(0);
    return static_cast<int>(sim->recorded.size()) - 1;
  }
  void destroy(Event) noexcept {}
  void record(Event e, Stream s) {
    const int g = ++sim->recorded[static_cast<std::size_t>(e)];
    sim->streams[s].push_back({Sim::Op::record, {}, e, g, false});
  }
  void wait(Stream s, Event e, bool external) {
    sim->streams[s].push_back(
        {Sim::Op::wait, {}, e, sim->recorded[static_cast<std::size_t>(e)], external});
    sim->waits.emplace_back(s, external);
  }
  bool done(Event e) {
    return sim->completed[static_cast<std::size_t>(e)] >=
           sim->recorded[static_cast<std::size_t>(e)];
  }
  void sync(Event e) {
    sim->run_until([&] { return done(e); });
  }
  bool capturing(Stream s) { return sim->capturing[s]; }
};

// An evaluator state as a CUDA backend keeps it: updates fold in on the device, in an order the
// result shows (state = 10 state + x).
class FakeBackend {
public:
  explicit FakeBackend(std::shared_ptr<Sim> sim) : sim_(sim), order_(FakeRuntime{sim}) {}

  void update(int x, int s) {
    order_.before(s);
    enqueue(s, [this, x] { state_ = 10 * state_ + x; });
    order_.wrote(s);
  }
  void reset(int s) {
    order_.before(s);
    enqueue(s, [this] { state_ = 0; });
    order_.wrote(s);
  }
  // compute(): the copy, then a synchronisation of its stream.
  long read(int s) {
    order_.before(s);
    long copy = -1;
    enqueue(s, [this, &copy] { copy = state_; });
    sim_->run_until([&] { return sim_->streams[s].empty(); });
    order_.settled();
    return copy;
  }
  StreamOrder<FakeRuntime>& order() { return order_; }

private:
  void enqueue(int s, std::function<void()> work) {
    sim_->streams[s].push_back({Sim::Op::kernel, std::move(work), 0, 0, false});
  }
  std::shared_ptr<Sim> sim_;
  long state_ = 0;
  StreamOrder<FakeRuntime> order_;
};

TEST(StreamOrder, OperationsOnManyStreamsRunInTheOrderTheyWereEnqueued) {
  auto sim = std::make_shared<Sim>();
  FakeBackend b(sim);
  b.update(1, 1);
  b.update(2, 2);
  b.update(3, 1);
  EXPECT_EQ(b.read(4), 123);
  b.update(4, 5);
  b.reset(3); // a reset on another stream, then updates on yet others
  b.update(5, 6);
  b.update(6, 2);
  EXPECT_EQ(b.read(0), 56); // the legacy stream reads after all of them
  EXPECT_EQ(b.read(7), 56);
}

TEST(StreamOrder, OneStreamKeepsItsOrder) {
  auto sim = std::make_shared<Sim>();
  FakeBackend b(sim);
  for (int i = 1; i <= 5; ++i) {
    b.update(i, 3);
  }
  EXPECT_EQ(b.read(3), 12345);
  // A captured update on the writer's own stream needs no (external) wait: in-stream order.
  sim->capturing[3] = true;
  const std::size_t waits = sim->waits.size();
  b.update(6, 3);
  EXPECT_EQ(sim->waits.size(), waits);
}

TEST(StreamOrder, HeldInputsLiveUntilTheirUpdateHasRun) {
  auto sim = std::make_shared<Sim>();
  FakeBackend b(sim);
  auto first = std::make_shared<int>(1);
  auto second = std::make_shared<int>(2);
  std::weak_ptr<int> w1 = first, w2 = second;
  b.update(1, 5);
  b.order().hold(5, std::move(first));
  b.update(2, 1); // waits for stream 5's update
  b.order().hold(1, std::move(second));
  b.order().collect();
  EXPECT_FALSE(w1.expired()); // nothing has run yet
  EXPECT_FALSE(w2.expired());
  sim->run_until([&] { return sim->streams[5].empty(); }); // only stream 5 ran
  b.order().collect();
  EXPECT_TRUE(w1.expired());
  EXPECT_FALSE(w2.expired());
  EXPECT_EQ(b.read(4), 12); // a synchronisation: everything before it has run
  EXPECT_TRUE(w2.expired());
  EXPECT_EQ(b.order().held(), 0u);
}

TEST(StreamOrder, DestructionWaitsForHeldInputs) {
  auto sim = std::make_shared<Sim>();
  auto owner = std::make_shared<int>(1);
  std::weak_ptr<int> w = owner;
  {
    FakeBackend b(sim);
    b.update(1, 2);
    b.order().hold(2, std::move(owner));
    EXPECT_FALSE(w.expired());
  }
  EXPECT_TRUE(w.expired());
  EXPECT_TRUE(sim->streams[2].empty()); // the update ran before the owner was dropped
}

TEST(StreamOrder, ACapturedUpdateWaitsExternallyAndRecordsNothing) {
  auto sim = std::make_shared<Sim>();
  FakeBackend b(sim);
  b.reset(1);
  sim->capturing[2] = true;
  b.update(7, 2); // captured: waits for the reset with an external wait, records nothing
  ASSERT_EQ(sim->waits.size(), 1u);
  EXPECT_EQ(sim->waits[0], std::make_pair(2, true));
  auto owner = std::make_shared<int>(1);
  std::weak_ptr<int> w = owner;
  b.order().hold(2, std::move(owner)); // a graph's inputs are the caller's to keep
  EXPECT_TRUE(w.expired());
  const std::deque<Sim::Op>& captured = sim->streams[2];
  ASSERT_EQ(captured.size(), 2u); // the wait and the kernel: no event recorded in the graph
  EXPECT_EQ(captured[0].kind, Sim::Op::wait);
  EXPECT_EQ(captured[1].kind, Sim::Op::kernel);
}

} // namespace
} // namespace gpueval::cuda
