// gpu-eval end to end: its numbers equal the library's exactly in every output format, globs and
// commas in paths work, and every bad input gets a one-line message and its exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "cli/partition.hpp"
#include "gpueval/classification.hpp"
#include "gpueval/regression.hpp"
#include "io/shard_reader.hpp"
#include "io/shard_writer.hpp"

namespace gpueval {
namespace {

namespace fs = std::filesystem;

struct Result {
  int status = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return q + "'";
}

// Runs a shell command line (so that globs expand as a user's shell would).
Result sh(const std::string& command) {
  const fs::path err =
      fs::temp_directory_path() / ("gpueval-cli-err-" + std::to_string(::getpid()));
  Result r;
  FILE* p = ::popen((command + " 2>" + quote(err.string())).c_str(), "r");
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    r.out.append(buf, n);
  }
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  fs::remove(err);
  return r;
}

const std::string kBin = quote(GPUEVAL_CLI_PATH);

class Cli : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("gpueval-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "a,b");
    ASSERT_EQ(sh(kBin + " synth --out " + quote((dir_ / "a,b").string()) +
                 " --shards 3 --shape 7,11,4 --mask --seed 3")
                  .status,
              0);
    ASSERT_EQ(sh(kBin + " synth --out " + quote((dir_ / "st").string()) +
                 " --shards 2 --shape 5,6,3 --format safetensors --mask --dtype bfloat16")
                  .status,
              0);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string data(const std::string& rel) { return quote((dir_ / rel).string()); }
  static std::string glob(const std::string& dir, const std::string& pattern) {
    return quote((dir_ / dir).string()) + "/" + pattern; // unquoted pattern: the shell expands it
  }

  // The library's report on the npy dataset, whole shards per update (as the CLI reads them).
  static Report library_report(const RegressionSpec& spec) {
    Evaluator ev(spec, Device::cpu(2));
    for (int k = 0; k < 3; ++k) {
      const std::string id = "0000" + std::to_string(k);
      const auto p = io::ShardReader::open((dir_ / "a,b" / ("pred_" + id + ".npy")).string());
      const auto t = io::ShardReader::open((dir_ / "a,b" / ("target_" + id + ".npy")).string());
      const auto m = io::ShardReader::open((dir_ / "a,b" / ("mask_" + id + ".npy")).string());
      std::vector<float> pb(static_cast<std::size_t>(p.rows() * 44)), tb(pb.size());
      std::vector<std::uint8_t> mb(static_cast<std::size_t>(m.rows() * 11));
      p.read_rows(0, p.rows(), pb.data());
      t.read_rows(0, t.rows(), tb.data());
      m.read_rows(0, m.rows(), mb.data());
      ev.update(TensorView::contiguous(pb.data(), DType::f32, {7, 11, 4}),
                TensorView::contiguous(tb.data(), DType::f32, {7, 11, 4}),
                TensorView::contiguous(mb.data(), DType::boolean, {7, 11}));
    }
    return ev.compute();
  }

  static fs::path dir_;
};

fs::path Cli::dir_;

TEST_F(Cli, JsonEqualsTheLibraryExactly) {
  const Result r = sh(kBin + " --pred " + glob("a,b", "pred_*.npy") + " --target " +
                      glob("a,b", "target_*.npy") + " --mask " + glob("a,b", "mask_*.npy") +
                      " --metrics all --by-axis 1 --format json --device cpu --threads 2");
  ASSERT_EQ(r.status, 0) << r.err;
  RegressionSpec spec;
  spec.metrics = all_metrics();
  spec.by_axis = 1;
  const Report want = library_report(spec);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["count"].get<std::uint64_t>(), want.count);
  EXPECT_EQ(j["channels"], 4);
  EXPECT_EQ(j["by_axis"]["axis"], 1);
  EXPECT_GT(j["bytes_read"].get<std::uint64_t>(), 0u);
  for (std::size_t i = 0; i < want.spec.metrics.size(); ++i) {
    const std::string name(metric_name(want.spec.metrics[i]));
    const auto same = [](const nlohmann::json& v, double x) {
      return v.is_null() ? !std::isfinite(x) : v.get<double>() == x;
    };
    EXPECT_TRUE(same(j["metrics"][name], want.headline[i])) << name;
    EXPECT_TRUE(same(j["flat"][name], want.flat[i])) << name;
    for (std::size_t c = 0; c < 4; ++c) {
      EXPECT_TRUE(same(j["per_channel"][name][c], want.per_channel[i][c])) << name << c;
    }
    for (std::size_t t = 0; t < 11; ++t) {
      EXPECT_TRUE(same(j["by_axis"][name][t], want.by_axis[i][t])) << name << t;
    }
  }
}

TEST_F(Cli, MappedAndCopiedWindowsGiveTheSameBits) {
  // Windows folded in place from file mappings (map), from copies (pread) and as auto picks by
  // window size: the same report, bit for bit, masks and a breakdown included.
  const std::string inputs = " --pred " + glob("a,b", "pred_*.npy") + " --target " +
                             glob("a,b", "target_*.npy") + " --mask " + glob("a,b", "mask_*.npy") +
                             " --metrics all --by-axis 1 --format json --device cpu --threads 2";
  const auto metrics_of = [&](const std::string& read) {
    const Result r = sh(kBin + inputs + " --read " + read);
    EXPECT_EQ(r.status, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    j.erase("elapsed_s");
    return j;
  };
  const nlohmann::json copied = metrics_of("pread");
  EXPECT_EQ(metrics_of("map"), copied);
  EXPECT_EQ(metrics_of("auto"), copied);
  const Result bad = sh(kBin + inputs + " --read mmap");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--read must be auto, map or pread, not 'mmap'"), std::string::npos);
}

TEST_F(Cli, CsvAndTableCarryTheSameNumbers) {
  const std::string args = " --pred " + glob("a,b", "pred_*.npy") + " --target " +
                           glob("a,b", "target_*.npy") + " --mask " + glob("a,b", "mask_*.npy") +
                           " --device cpu";
  const Result csv = sh(kBin + args + " --format csv");
  ASSERT_EQ(csv.status, 0) << csv.err;
  RegressionSpec spec;
  const Report want = library_report(spec);
  std::istringstream lines(csv.out);
  std::string header, line;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("scope,index,count,mse,rmse,mae", 0), 0u) << header;
  int channel_rows = 0;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) {
      cells.push_back(cell);
    }
    if (cells[0] == "metrics") {
      EXPECT_EQ(std::stod(cells[3]), want.headline[0]); // mse, 17 digits: exact
    } else if (cells[0] == "channel") {
      const auto c = static_cast<std::size_t>(std::stoi(cells[1]));
      EXPECT_EQ(std::stoull(cells[2]), want.per_channel_count[c]);
      EXPECT_EQ(std::stod(cells[8]), want.per_channel[5][c]); // r2
      ++channel_rows;
    }
  }
  EXPECT_EQ(channel_rows, 4);
  const Result table = sh(kBin + args + " --no-progress");
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("per channel"), std::string::npos);
  EXPECT_NE(table.out.find("r2 (variance weighted)"), std::string::npos);
  EXPECT_EQ(table.err.find('\r'), std::string::npos); // no progress line when stderr is a file
}

TEST_F(Cli, SafetensorsShardsWithKeys) {
  const Result r = sh(kBin + " --shards " + glob("st", "shard_*.safetensors") +
                      " --mask-key mask --format json --device cpu");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["count"].get<int>(), 0);
  EXPECT_LT(j["count"].get<int>(), 2 * 5 * 6 * 3); // the mask excluded some
  EXPECT_EQ(j["channels"], 3);
}

TEST_F(Cli, OutputFileAndVersion) {
  const fs::path out = dir_ / "report.json";
  const Result r = sh(kBin + " --pred " + data("a,b/pred_00000.npy") + " --target " +
                      data("a,b/target_00000.npy") + " --format json --output " +
                      quote(out.string()) + " --device cpu");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  std::ifstream f(out);
  EXPECT_EQ(nlohmann::json::parse(f)["schema"], "gpueval.report/1");
  const Result v = sh(kBin + " --version");
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out.rfind("gpu-eval 0.", 0), 0u) << v.out;
}

void expect_failure(const Result& r, int status, const std::string& text) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("gpu-eval: ", 0), 0u) << r.err;
}

TEST_F(Cli, BadInputGetsAMessageAndItsExitStatus) {
  const std::string pred = data("a,b/pred_00000.npy"), target = data("a,b/target_00000.npy");
  const std::string ok = " --pred " + pred + " --target " + target + " --device cpu";
  // usage: 2
  expect_failure(sh(kBin + " --pred " + pred + " " + pred + " --target " + target), 2,
                 "2 --pred files but 1 --target files");
  expect_failure(sh(kBin + ok + " --metrics mse,rsme"), 2, "unknown metric 'rsme'");
  expect_failure(sh(kBin + ok + " --format xml"), 2,
                 "--format 'xml' is not table, json, csv or none");
  expect_failure(sh(kBin + ok + " --format none"), 2, "give --save-state FILE");
  expect_failure(sh(kBin + ok + " --shard-count 0"), 2, "--shard-count must be 1 or more");
  expect_failure(sh(kBin + ok + " --shard-index 2 --shard-count 2"), 2,
                 "--shard-index 2 is outside 0..1");
  expect_failure(sh(kBin + ok + " --threads -1"), 2, "--threads");
  expect_failure(sh(kBin + ok + " --by-axis x"), 2, "--by-axis 'x' is not an integer");
  expect_failure(sh(kBin + ok + " --channel-axis 0"), 2, "channel_axis 0 is the batch axis");
  expect_failure(sh(kBin + ok + " --nan-policy ignore"), 2, "skip, propagate or error");
  expect_failure(sh(kBin + ok + " --bogus"), 2, "bogus");
  expect_failure(sh(kBin + " --pred " + pred + " --target " + target + " --device gpu"), 2,
                 "use cpu, cuda or cuda:N");
  expect_failure(sh(kBin), 2, "nothing to evaluate");
  expect_failure(sh(kBin + " --pred"), 2, "--pred needs at least one file");
  // input: 3
  expect_failure(sh(kBin + " --pred " + data("nope.npy") + " --target " + target), 3,
                 "nope.npy: cannot open");
  expect_failure(sh(kBin + " --pred " +
                    quote(std::string(GPUEVAL_FIXTURE_DIR) + "/io/bad_fortran.npy") + " --target " +
                    target),
                 3, "Fortran order");
  expect_failure(sh(kBin + " --pred " + pred + " --target " + data("st/shard_00000.safetensors")),
                 3, "shard_00000.safetensors: holds several tensors; name one with a key");
  expect_failure(sh(kBin + " --pred " + data("st/shard_00000.safetensors") + " --target " + target),
                 3, "holds several tensors");
  expect_failure(
      sh(kBin + " --shards " + data("st/shard_00000.safetensors") + " --target-key nope"), 3,
      "has no tensor 'nope'");
  // shapes that do not fit
  ASSERT_EQ(sh(kBin + " synth --out " + data("other") + " --shards 1 --shape 7,11,5").status, 0);
  expect_failure(sh(kBin + " --pred " + pred + " --target " + data("other/target_00000.npy")), 3,
                 "pred [7, 11, 4] and target [7, 11, 5] differ in shape");
  expect_failure(sh(kBin + " --pred " + pred + " " + data("other/pred_00000.npy") + " --target " +
                    target + " " + data("other/target_00000.npy")),
                 3, "has sample shape [11, 5], but this evaluator's is [11, 4]");
  ASSERT_EQ(sh(kBin + " synth --out " + data("f64") + " --shards 1 --shape 7,11,4 --dtype float64")
                .status,
            0);
  expect_failure(sh(kBin + " --pred " + pred + " " + data("f64/pred_00000.npy") + " --target " +
                    target + " " + data("f64/target_00000.npy")),
                 3, "is float64 but");
  expect_failure(sh(kBin + " --pred " + pred + " --target " + target + " --mask " +
                    data("other/pred_00000.npy")),
                 3, "does not fit target");
  // device: 5 (gpu-eval's CUDA staging is not built yet, with or without a GPU)
  expect_failure(sh(kBin + " --pred " + pred + " --target " + target + " --device cuda"), 5,
                 "cuda:0");
}

TEST_F(Cli, NanPolicyErrorNamesFileAndRow) {
  // A float64 copy of a shard with one NaN at row 3, element 5.
  const auto p = io::ShardReader::open((dir_ / "a,b/pred_00000.npy").string());
  std::vector<float> buf(static_cast<std::size_t>(7 * 44));
  p.read_rows(0, 7, buf.data());
  buf[3 * 44 + 5] = NAN;
  const fs::path nan_dir = dir_ / "nan";
  fs::create_directories(nan_dir);
  {
    std::ofstream f(nan_dir / "pred.npy", std::ios::binary);
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 11, 4), }";
    header.append(64 - (10 + header.size() + 1) % 64, ' ');
    header += '\n';
    const unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(header.size()), 0};
    f.write(reinterpret_cast<const char*>(pre), 10);
    f << header;
    f.write(reinterpret_cast<const char*>(buf.data()),
            static_cast<std::streamsize>(buf.size() * 4));
  }
  const std::string args = " --pred " + quote((nan_dir / "pred.npy").string()) + " --target " +
                           data("a,b/target_00000.npy") + " --device cpu";
  expect_failure(sh(kBin + args + " --nan-policy error"), 4, "at row 3, element 5 of that row");
  // A file read in several windows: the row counts from the file's start, not the window's.
  const fs::path big = dir_ / "big";
  ASSERT_EQ(sh(kBin + " synth --out " + quote(big.string()) + " --shards 1 --shape 70000,4").status,
            0);
  const auto bp = io::ShardReader::open((big / "pred_00000.npy").string());
  std::vector<float> rows(static_cast<std::size_t>(70000 * 4));
  bp.read_rows(0, 70000, rows.data());
  rows[69000 * 4 + 2] = NAN;
  io::write_npy((big / "pred_00000.npy").string(),
                {"", DType::f32, {70000, 4}, reinterpret_cast<const unsigned char*>(rows.data())});
  expect_failure(sh(kBin + " --pred " + quote((big / "pred_00000.npy").string()) + " --target " +
                    quote((big / "target_00000.npy").string()) +
                    " --device cpu --window-mib 1 --nan-policy error"),
                 4, "at row 69000, element 2 of that row");
  const Result skip = sh(kBin + args + " --format json");
  ASSERT_EQ(skip.status, 0) << skip.err;
  EXPECT_EQ(nlohmann::json::parse(skip.out)["skipped_nonfinite"], 1);
}

TEST_F(Cli, ClassificationEqualsTheLibraryAndMergesExactly) {
  ASSERT_EQ(sh(kBin + " synth --out " + data("mc") +
               " --task multiclass --num-classes 6 --shape 50,3 --shards 3 --mask --seed 5")
                .status,
            0);
  const std::string inputs = " --task multiclass --num-classes 6 --top-k 2 --metrics all --pred " +
                             glob("mc", "pred_*.npy") + " --target " + glob("mc", "target_*.npy") +
                             " --mask " + glob("mc", "mask_*.npy") + " --device cpu --no-progress";
  const Result r = sh(kBin + inputs + " --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "multiclass");
  // The library over the same shards, whole shards per update.
  ClassificationSpec spec;
  spec.task = ClassTask::multiclass;
  spec.num_classes = 6;
  spec.top_k = 2;
  spec.all_metrics = true;
  ClassificationEvaluator ev(spec, Device::cpu(2));
  for (int k = 0; k < 3; ++k) {
    const std::string id = "0000" + std::to_string(k);
    const auto p = io::ShardReader::open((dir_ / "mc" / ("pred_" + id + ".npy")).string());
    const auto t = io::ShardReader::open((dir_ / "mc" / ("target_" + id + ".npy")).string());
    const auto m = io::ShardReader::open((dir_ / "mc" / ("mask_" + id + ".npy")).string());
    std::vector<float> pb(50 * 6 * 3);
    std::vector<std::int64_t> tb(50 * 3);
    std::vector<std::uint8_t> mb(50 * 3);
    p.read_rows(0, 50, pb.data());
    t.read_rows(0, 50, tb.data());
    m.read_rows(0, 50, mb.data());
    ev.update(TensorView::contiguous(pb.data(), DType::f32, {50, 6, 3}),
              TensorView::contiguous(tb.data(), DType::i64, {50, 3}),
              TensorView::contiguous(mb.data(), DType::boolean, {50, 3}));
  }
  const nlohmann::json want = nlohmann::json::parse(ev.compute().to_json());
  for (const char* scope : {"metrics", "per_class", "confusion_matrix", "calibration", "count"}) {
    EXPECT_EQ(j[scope], want[scope]) << scope;
  }
  // Parts and a merge: the same numbers, exactly (integer statistics).
  std::string states;
  for (int i = 0; i < 2; ++i) {
    const std::string state = (dir_ / ("mc" + std::to_string(i) + ".state")).string();
    ASSERT_EQ(sh(kBin + inputs + " --shard-index " + std::to_string(i) +
                 " --shard-count 2 --format none --save-state " + quote(state))
                  .status,
              0);
    states += " " + quote(state);
  }
  const Result merged = sh(kBin + " merge" + states + " --metrics all --format json");
  ASSERT_EQ(merged.status, 0) << merged.err;
  const nlohmann::json m = nlohmann::json::parse(merged.out);
  EXPECT_EQ(m["metrics"], j["metrics"]);
  EXPECT_EQ(m["confusion_matrix"], j["confusion_matrix"]);
  // Table and CSV carry the family's sections.
  const Result table = sh(kBin + inputs);
  EXPECT_NE(table.out.find("confusion matrix (rows: target"), std::string::npos) << table.out;
  const Result csv = sh(kBin + inputs + " --format csv");
  EXPECT_NE(csv.out.find("metrics,,f1_macro,"), std::string::npos) << csv.out;
  // Usage and input errors.
  const std::string files =
      " --pred " + glob("mc", "pred_*.npy") + " --target " + glob("mc", "target_*.npy");
  expect_failure(sh(kBin + files + " --task trinary"), 2,
                 "unknown task 'trinary'; the tasks are regression, binary, multiclass");
  expect_failure(sh(kBin + files + " --num-classes 6"), 2, "--num-classes applies to");
  expect_failure(sh(kBin + files + " --task multiclass"), 2, "needs num_classes between 2");
  expect_failure(sh(kBin + files + " --task multilabel --num-classes 6 --by-axis 1"), 2,
                 "by_axis breaks binary and multiclass samples down");
  expect_failure(sh(kBin + files + " --task multiclass --num-classes 6 --by-axis 1 --metrics f1"),
                 2, "the metrics name none of them");
  expect_failure(sh(kBin + files + " --task multiclass --num-classes 7"), 3,
                 "the class axis 1 has 6 entries, not num_classes 7");
  expect_failure(sh(kBin + files + " --task binary --metrics top_k_accuracy"), 2,
                 "not defined for a binary task");
  ASSERT_EQ(sh(kBin + " --pred " + data("a,b/pred_00000.npy") + " --target " +
               data("a,b/target_00000.npy") + " --format none --save-state " + data("reg.state"))
                .status,
            0);
  expect_failure(sh(kBin + " merge " + data("mc0.state") + " " + data("reg.state")), 3,
                 "reg.state: the state is of the regression family, not classification");
}

TEST(ShardPart, EveryFileInExactlyOnePartBalancedByBytes) {
  const std::vector<std::uint64_t> bytes = {5, 90, 40, 40, 10, 0, 35, 70, 1, 60};
  for (int count : {1, 2, 3, 4, 7, 10, 13}) {
    std::vector<int> seen(bytes.size(), 0);
    std::vector<std::uint64_t> load;
    for (int i = 0; i < count; ++i) {
      const std::vector<std::size_t> part = cli::shard_part(bytes, i, count);
      EXPECT_TRUE(std::is_sorted(part.begin(), part.end())); // the order given
      std::uint64_t sum = 0;
      for (std::size_t f : part) {
        ++seen[f];
        sum += bytes[f];
      }
      load.push_back(sum);
      EXPECT_EQ(part, cli::shard_part(bytes, i, count)); // deterministic
    }
    for (int s : seen) {
      EXPECT_EQ(s, 1) << count << " parts";
    }
    // No part exceeds the ideal share by more than the largest file.
    const std::uint64_t total = std::accumulate(bytes.begin(), bytes.end(), std::uint64_t{0});
    for (std::uint64_t l : load) {
      EXPECT_LE(l, total / static_cast<std::uint64_t>(count) + 90) << count << " parts";
    }
  }
  // 90 + 40 + 40 + 5 + 1 against 70 + 60 + 35 + 10 + 0: 176 and 175 bytes.
  EXPECT_EQ(cli::shard_part(bytes, 0, 2), (std::vector<std::size_t>{0, 1, 2, 3, 8}));
}

TEST_F(Cli, ShardPartsThenMergeEqualTheSingleRun) {
  const std::string inputs = " --pred " + glob("a,b", "pred_*.npy") + " --target " +
                             glob("a,b", "target_*.npy") + " --mask " + glob("a,b", "mask_*.npy") +
                             " --metrics all --by-axis 1 --device cpu --no-progress";
  const Result whole = sh(kBin + inputs + " --format json");
  ASSERT_EQ(whole.status, 0) << whole.err;
  const nlohmann::json w = nlohmann::json::parse(whole.out);
  for (int count : {1, 2, 3, 5}) { // 5 parts of 3 files: two parts are empty
    std::string states;
    std::uint64_t bytes = 0;
    for (int i = 0; i < count; ++i) {
      const std::string state = (dir_ / ("part" + std::to_string(i) + ".state")).string();
      const Result part =
          sh(kBin + inputs + " --shard-index " + std::to_string(i) + " --shard-count " +
             std::to_string(count) + " --save-state " + quote(state) + " --format json");
      ASSERT_EQ(part.status, 0) << part.err;
      bytes += nlohmann::json::parse(part.out)["bytes_read"].get<std::uint64_t>();
      states += " " + quote(state);
    }
    EXPECT_EQ(bytes, w["bytes_read"].get<std::uint64_t>()) << count << " parts";
    const Result merged = sh(kBin + " merge" + states + " --format json");
    ASSERT_EQ(merged.status, 0) << merged.err;
    const Result again = sh(kBin + " merge" + states + " --format json");
    EXPECT_EQ(merged.out, again.out); // bit for bit, run to run
    const nlohmann::json m = nlohmann::json::parse(merged.out);
    EXPECT_EQ(m["count"], w["count"]);
    EXPECT_EQ(m["spec"], w["spec"]);
    EXPECT_EQ(m["by_axis"]["count"], w["by_axis"]["count"]);
    for (const auto& [name, value] : w["metrics"].items()) {
      if (value.is_null()) {
        EXPECT_TRUE(m["metrics"][name].is_null()) << name;
        continue;
      }
      const double want = value.get<double>(), got = m["metrics"][name].get<double>();
      EXPECT_LE(std::fabs(got - want), 1e-12 * std::max(1.0, std::fabs(want))) << name;
      for (std::size_t t = 0; t < 11; ++t) {
        if (w["by_axis"][name][t].is_null()) { // the error quantiles: per channel only
          EXPECT_TRUE(m["by_axis"][name][t].is_null()) << name << " step " << t;
          continue;
        }
        const double bw = w["by_axis"][name][t].get<double>();
        EXPECT_LE(std::fabs(m["by_axis"][name][t].get<double>() - bw),
                  1e-12 * std::max(1.0, std::fabs(bw)))
            << name << " step " << t;
      }
    }
  }
  // A merged state merges again, and --metrics picks from what the states hold.
  const std::string joined = (dir_ / "joined.state").string();
  ASSERT_EQ(sh(kBin + " merge " + data("part0.state") + " " + data("part1.state") +
               " --save-state " + quote(joined) + " --format none")
                .status,
            0);
  const Result picked = sh(kBin + " merge " + quote(joined) + " --metrics mse,msle --format json");
  ASSERT_EQ(picked.status, 0) << picked.err;
  EXPECT_EQ(nlohmann::json::parse(picked.out)["spec"]["metrics"],
            nlohmann::json::array({"mse", "msle"}));
}

TEST_F(Cli, MergeRefusesBadStatesNamingTheFile) {
  const std::string base = " --pred " + data("a,b/pred_00000.npy") + " --target " +
                           data("a,b/target_00000.npy") + " --device cpu --format none";
  const fs::path good = dir_ / "good.state", by_time = dir_ / "by_time.state";
  ASSERT_EQ(sh(kBin + base + " --save-state " + quote(good.string())).status, 0);
  ASSERT_EQ(sh(kBin + base + " --by-axis 1 --save-state " + quote(by_time.string())).status, 0);
  std::ifstream in(good, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto write = [&](const std::string& name, std::vector<char> b) {
    std::ofstream(dir_ / name, std::ios::binary).write(b.data(), static_cast<long>(b.size()));
    return data(name);
  };
  std::vector<char> corrupt = bytes;
  corrupt[100] = static_cast<char>(corrupt[100] ^ 0x40);
  std::vector<char> version = bytes;
  version[8] = 9;
  const std::string g = quote(good.string());
  expect_failure(sh(kBin + " merge " + g + " " + write("corrupt.state", corrupt)), 3,
                 "corrupt.state: state blob is corrupted or truncated: checksum mismatch");
  expect_failure(sh(kBin + " merge " + g + " " +
                    write("short.state", std::vector<char>(bytes.begin(), bytes.begin() + 40))),
                 3, "short.state: state blob is truncated");
  expect_failure(sh(kBin + " merge " + write("version.state", version) + " " + g), 3,
                 "version.state: state blob has version 9");
  expect_failure(sh(kBin + " merge " + g + " " + quote(by_time.string())), 3,
                 "by_time.state: cannot merge: the state was made with by_axis 1");
  expect_failure(sh(kBin + " merge " + g + " " + data("missing.state")), 3,
                 "missing.state: cannot open the state file");
  expect_failure(sh(kBin + " merge " + data("a,b/pred_00000.npy")), 3,
                 "pred_00000.npy: not a gpueval state blob");
  expect_failure(sh(kBin + " merge " + g + " --metrics mape"), 2,
                 "need the statistics core + pct (mape, smape) but the state holds core");
  expect_failure(sh(kBin + " merge"), 2, "needs at least one state file");
}

} // namespace
} // namespace gpueval
