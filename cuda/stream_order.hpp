// How a CUDA backend orders the work it enqueues on its callers' streams, and how long it keeps
// an update's inputs alive. CUDA-free: a template over the runtime's event calls, so that CPU
// tests drive it with a fake device whose streams run in an adversarial order
// (tests/test_stream_order.cpp); cuda/cuda_events.hpp is the real runtime.
//
// An evaluator's epoch state lives on the device and every operation may come on another stream
// (torch's current stream, a CuPy stream, gpu-eval's staging stream, the legacy default stream
// of a C++ caller). The rules, which every CUDA backend follows for every operation:
//
//   before(s)        before enqueueing anything that reads or writes the state on stream s: s
//                    waits, on the device, for the last operation that wrote it (whatever stream
//                    that ran on). No host synchronisation.
//   wrote(s)         after enqueueing an operation that wrote the state on s (update, reset,
//                    load): later operations on other streams will wait for it.
//   hold(s, owner)   after enqueueing an update on s: `owner` (the caller's reference to the
//                    update's inputs: a DLPack capsule, a tensor) is kept until the update has
//                    run on the device, then dropped; collect() drops those whose work is done.
//   settled()        after a host synchronisation that covered the last write (compute, state,
//                    merge): everything enqueued before is done, every held owner is dropped.
//
// Stream capture (a CUDA graph): an update captured on s is ordered after the last write with an
// external event wait (the only wait the runtime allows on an event recorded outside the capture;
// none when the last write was on s itself) and records nothing, since the graph writes the state
// when it is replayed, not now: a caller that replays a graph orders the replay and the next
// compute() (the same stream does it), and replays a graph that holds such a wait only while the
// evaluator lives (the event is the evaluator's). Inputs of a captured update are read at every
// replay, so the caller keeps them alive; hold() drops its owner at once. Nothing here queries
// an event of a stream being captured; the CUDA runtime (cuda_events.cpp) makes its queries in
// relaxed capture mode, so that another thread's capture is not invalidated by them.
#pragma once

#include <deque>
#include <memory>
#include <utility>
#include <vector>

namespace gpueval::cuda {

// Rt: using Stream; using Event; Event create(); void destroy(Event) noexcept;
// void record(Event, Stream); void wait(Stream, Event, bool external); bool done(Event);
// void sync(Event); bool capturing(Stream).
template <class Rt> class StreamOrder {
public:
  using Stream = typename Rt::Stream;
  using Event = typename Rt::Event;

  explicit StreamOrder(Rt rt = Rt{}) : rt_(std::move(rt)) {}
  ~StreamOrder() { release(); }
  StreamOrder(const StreamOrder&) = delete;
  StreamOrder& operator=(const StreamOrder&) = delete;

  void before(Stream s) {
    const bool capturing = rt_.capturing(s);
    if (!capturing) {
      collect();
    }
    if (!pending_write_ || (capturing && write_stream_ == s)) {
      return; // nothing written yet, or a capture on the writer's stream: in-stream order
    }
    // Also on the writer's own stream when not capturing: a stream handle may have been
    // destroyed and reused for another stream (CuPy's per-iteration streams), and a wait on an
    // event of the same stream costs next to nothing.
    rt_.wait(s, write_event_, capturing);
  }

  void wrote(Stream s) {
    if (rt_.capturing(s)) {
      return;
    }
    if (!has_event_) {
      write_event_ = rt_.create();
      has_event_ = true;
    }
    rt_.record(write_event_, s);
    write_stream_ = s;
    pending_write_ = true;
  }

  void hold(Stream s, std::shared_ptr<void> owner) {
    if (!owner || rt_.capturing(s)) {
      return;
    }
    Event e = take_event();
    rt_.record(e, s);
    held_.push_back(Held{e, std::move(owner)});
  }

  // Drops the owners whose updates have run (in the order they were held).
  void collect() {
    while (!held_.empty() && rt_.done(held_.front().event)) {
      pop_held();
    }
  }

  void settled() {
    pending_write_ = false;
    while (!held_.empty()) {
      pop_held();
    }
  }

  // Blocks until every held update has run and drops its owner; then the last write. For
  // destructors (the state's memory is freed after this).
  void wait_all() {
    while (!held_.empty()) {
      rt_.sync(held_.front().event);
      pop_held();
    }
    if (pending_write_) {
      rt_.sync(write_event_);
      pending_write_ = false;
    }
  }

  std::size_t held() const { return held_.size(); }

private:
  struct Held {
    Event event;
    std::shared_ptr<void> owner;
  };

  Event take_event() {
    if (free_.empty()) {
      return rt_.create();
    }
    Event e = free_.back();
    free_.pop_back();
    return e;
  }
  void pop_held() {
    free_.push_back(held_.front().event);
    held_.pop_front(); // drops the owner
  }
  void release() noexcept {
    try {
      wait_all();
    } catch (...) {
      // A destructor: the device reported an error; the owners are dropped below regardless.
    }
    for (Held& h : held_) {
      rt_.destroy(h.event);
    }
    held_.clear();
    for (Event e : free_) {
      rt_.destroy(e);
    }
    free_.clear();
    if (has_event_) {
      rt_.destroy(write_event_);
      has_event_ = false;
    }
  }

  Rt rt_;
  Event write_event_{};
  bool has_event_ = false;
  bool pending_write_ = false;
  Stream write_stream_{};
  std::deque<Held> held_;
  std::vector<Event> free_;
};

} // namespace gpueval::cuda
