// gpu-eval --on-error skip-file: a shard that cannot be read is left out whole, whenever the fault
// comes (its header at the start, a read in the middle of it, a mapping that loses its pages),
// the report lists it, and the metrics are bitwise those of a run over the other shards; without
// a fault the report is the default run's. Faults come at chosen windows, through an evaluator
// that truncates a file before it folds the window (the mapped read then faults on the pages the
// file lost, the reader's next read finds the file short).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "cli_shards.hpp"
#include "gpueval/error.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {
namespace {

// A CPU evaluator that calls `before(n)` ahead of its n-th update (1-based), then folds it.
class FaultyEvaluator final : public test::WrappedEvaluator {
public:
  FaultyEvaluator(std::unique_ptr<AnyEvaluator> inner, std::function<void(int)> before)
      : WrappedEvaluator(std::move(inner)), before_(std::move(before)) {}

  using WrappedEvaluator::update;
  void update(const TensorView& pred, const TensorView& target, const TensorView& mask,
              const TensorView& weight, StreamHandle stream) override {
    before_(++updates_);
    inner_->update(pred, target, mask, weight, stream);
  }

private:
  std::function<void(int)> before_;
  int updates_ = 0;
};

class CliSkipFile : public test::CliShards {
protected:
  // Shards of 37, 48 and 59 rows of 800 bytes in windows of 5 rows: shard 0 is windows 1-8,
  // shard 1 windows 9-18, shard 2 windows 19-30.
  void SetUp() override {
    CliShards::SetUp();
    write(3, false);
    opts_.device = Device::cpu(2);
    opts_.options = {{"metrics", "all"}};
    opts_.on_error = EvalOptions::OnError::skip_file;
  }

  Evaluation run(
      const EvalOptions& o, std::function<void(int)> before = [](int) {}) {
    Machine m = Machine::real();
    m.evaluator = [before](Device d, const Machine::Factory& make) {
      return std::make_unique<FaultyEvaluator>(make(d), before);
    };
    return evaluate(o, m);
  }

  // The default run's values over the shards given.
  std::string over(const std::vector<int>& shards) {
    EvalOptions o = opts_;
    o.on_error = EvalOptions::OnError::fail;
    o.pred.clear();
    o.target.clear();
    o.mask.clear();
    for (int s : shards) {
      o.pred.push_back(opts_.pred[static_cast<std::size_t>(s)]);
      o.target.push_back(opts_.target[static_cast<std::size_t>(s)]);
      o.mask.push_back(opts_.mask[static_cast<std::size_t>(s)]);
    }
    return values(evaluate(o).report);
  }

  void truncate(const std::string& file) { ASSERT_EQ(::truncate(file.c_str(), 200), 0); }
  static std::vector<std::uint8_t> bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static void restore(const std::string& file, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
};

TEST_F(CliSkipFile, WithoutAFaultTheReportIsTheDefaultRuns) {
  const Evaluation e = run(opts_);
  EXPECT_TRUE(e.skipped.empty());
  EXPECT_EQ(values(e.report), over({0, 1, 2}));
}

TEST_F(CliSkipFile, AShardThatCannotBeParsedIsLeftOutAtTheStart) {
  truncate(opts_.pred[1]); // its header promises rows the file no longer has
  const Evaluation e = run(opts_);
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_EQ(e.skipped[0].files,
            (std::vector<std::string>{opts_.pred[1], opts_.target[1], opts_.mask[1]}));
  EXPECT_NE(e.skipped[0].reason.find(opts_.pred[1]), std::string::npos) << e.skipped[0].reason;
  EXPECT_EQ(values(e.report), over({0, 2}));

  EvalOptions fail = opts_;
  fail.on_error = EvalOptions::OnError::fail;
  EXPECT_THROW(run(fail), io::ReadError);
}

TEST_F(CliSkipFile, TheFirstShardLeftOutTheOthersAreCheckedAgainstTheSecond) {
  truncate(opts_.target[0]);
  const Evaluation e = run(opts_);
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_EQ(e.skipped[0].files[0], opts_.pred[0]);
  EXPECT_EQ(values(e.report), over({1, 2}));
}

TEST_F(CliSkipFile, EveryShardUnreadableIsAnError) {
  for (const std::string& f : opts_.pred) {
    truncate(f);
  }
  EXPECT_THROW(run(opts_), io::ReadError);
}

// A fault after some of the shard's windows were folded: the fold returns to the state before
// the shard, whichever way the reads are made.
TEST_F(CliSkipFile, AShardThatShrinksMidwayIsLeftOutWhole) {
  for (const auto mode : {EvalOptions::ReadMode::map, EvalOptions::ReadMode::pread}) {
    EvalOptions o = opts_;
    o.read = mode;
    const std::string file = o.pred[1];
    const std::vector<std::uint8_t> whole = bytes(file);
    const Evaluation e = run(o, [&](int n) {
      if (n == 11) { // the third window of shard 1, before it is folded
        truncate(file);
      }
    });
    ASSERT_EQ(e.skipped.size(), 1u) << (mode == EvalOptions::ReadMode::map ? "map" : "pread");
    EXPECT_EQ(e.skipped[0].files[0], file);
    EXPECT_EQ(values(e.report), over({0, 2}));
    restore(file, whole);
  }
}

// A shard replaced during the run by a file of another layout (another job's output of the same
// name): the reader finds its header changed since the start and does not read it with the old
// layout; the default run ends naming it.
TEST_F(CliSkipFile, AShardReplacedByAnotherLayoutDuringTheRunIsNamed) {
  const std::vector<std::uint8_t> original = bytes(opts_.pred[2]);
  const auto replace = [&](int n) {
    if (n == 1) {
      const std::vector<double> other(static_cast<std::size_t>(59 * 200), 1.0);
      io::write_npy(opts_.pred[2], {"", DType::f64, {59, 50, 4}, other.data()});
    }
  };
  const Evaluation e = run(opts_, replace);
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_NE(e.skipped[0].reason.find("changed since gpu-eval checked it"), std::string::npos)
      << e.skipped[0].reason;
  EXPECT_EQ(values(e.report), over({0, 1}));
  restore(opts_.pred[2], original);
  EvalOptions fail = opts_;
  fail.on_error = EvalOptions::OnError::fail;
  try {
    run(fail, replace);
    FAIL() << "no ReadError";
  } catch (const io::ReadError& err) {
    EXPECT_NE(std::string(err.what()).find(opts_.pred[2]), std::string::npos) << err.what();
  }
}

// After a shard left out midway, a non-finite value later still names its file and row: the
// windows of the left-out shard are gone from the run's numbering too.
TEST_F(CliSkipFile, AfterAShardLeftOutANonFiniteValueIsNamedByFileAndRow) {
  {
    io::ShardReader r = io::ShardReader::open(opts_.target[2], "");
    std::vector<float> t(static_cast<std::size_t>(r.rows() * 200));
    r.read_rows(0, r.rows(), reinterpret_cast<unsigned char*>(t.data()));
    t[41 * 200 + 7] = std::nanf("");
    const std::int64_t shape[] = {r.rows(), 50, 4};
    io::write_npy(opts_.target[2], {"", DType::f32, {shape, shape + 3}, t.data()});
  }
  EvalOptions o = opts_;
  o.options["nan_policy"] = "error";
  o.read = EvalOptions::ReadMode::map;
  try {
    run(o, [&](int n) {
      if (n == 12) {
        truncate(o.pred[1]);
      }
    });
    FAIL() << "no NonFiniteError";
  } catch (const NonFiniteError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(o.target[2]), std::string::npos) << what;
    EXPECT_NE(what.find("at row 41, element 7 of that row"), std::string::npos) << what;
  }
}

// A checkpoint written inside a shard carries the state before that shard: a run resumed from
// it that then finds the shard short still leaves all of it out.
TEST_F(CliSkipFile, AResumedRunLeavesAShardOutWholeAcrossTheCheckpoint) {
  EvalOptions o = opts_;
  o.read = EvalOptions::ReadMode::pread;
  o.checkpoint = (dir_ / "ck").string();
  o.checkpoint_every = 0;
  struct Killed {};
  EXPECT_THROW(run(o,
                   [](int n) {
                     if (n == 14) { // a crash in shard 1, its checkpoint after window 13
                       throw Killed{};
                     }
                   }),
               Killed);
  const Checkpoint c = read_checkpoint(o.checkpoint);
  EXPECT_EQ(c.shard, 1u);
  ASSERT_TRUE(c.shard_start_state.has_value());
  EXPECT_EQ(c.shard_start_origins, 8u);

  o.resume = o.checkpoint;
  const std::vector<std::uint8_t> whole = bytes(o.target[1]);
  const Evaluation e = run(o, [&](int n) {
    if (n == 1) {
      truncate(o.target[1]); // the resumed run's first fold; the reader's next read of shard 1
    }                        // finds the file short
  });
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_EQ(e.skipped[0].files[1], o.target[1]);
  EXPECT_EQ(values(e.report), over({0, 2}));
  // The run's later checkpoints list the shard left out, so a resumption from one of them still
  // reports it, and does not refuse the shard's changed file.
  EXPECT_EQ(read_checkpoint(o.checkpoint).skipped.size(), 1u);
  EXPECT_EQ(read_checkpoint(o.checkpoint).shard, 2u);
  const Evaluation again = run(o);
  ASSERT_EQ(again.skipped.size(), 1u);
  EXPECT_EQ(again.skipped[0].reason, e.skipped[0].reason);
  EXPECT_EQ(values(again.report), over({0, 2}));
  restore(o.target[1], whole);
}

} // namespace
} // namespace gpueval::cli
