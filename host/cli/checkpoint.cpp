// gpu-eval's checkpoints (--checkpoint, --resume): a text header (what the run read, where it
// was, the windows it folded) and the evaluator's state blob (itself versioned and checksummed),
// written through write_file_atomically, so that a kill at any moment leaves the previous
// checkpoint or the new one.
//
//   gpueval-checkpoint 1
//   inputs N          then N lines, file_identity() of each input and the run's reading
//   position SHARD ROW0 DONE
//   origins M         then M lines "SHARD ROW0"
//   state BYTES       then the blob, to the end of the file
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

namespace {

constexpr const char* kMagic = "gpueval-checkpoint 1";
constexpr std::uint64_t kHashBytes = 64 * 1024;

// FNV-1a over the bytes.
std::uint64_t fnv(const std::vector<char>& bytes, std::uint64_t h) {
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

[[noreturn]] void bad(const std::string& path, const std::string& why) {
  throw io::ReadError(path + ": not a gpu-eval checkpoint, or a damaged one (" + why + ")");
}

} // namespace

std::string file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw io::ReadError(path + ": cannot stat it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw io::ReadError(path + ": cannot open it");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t h = 14695981039346656037ull;
  for (std::uint64_t at : {std::uint64_t{0}, size > kHashBytes ? size - kHashBytes : 0}) {
    std::vector<char> bytes(static_cast<std::size_t>(std::min(kHashBytes, size)));
    in.seekg(static_cast<std::streamoff>(at));
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!in) {
      throw io::ReadError(path + ": cannot read it");
    }
    h = fnv(bytes, h);
  }
  const auto mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                     static_cast<std::int64_t>(st.st_mtim.tv_nsec);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return path + " size " + std::to_string(size) + " mtime " + std::to_string(mtime) + " hash " +
         hex;
}

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  std::ostringstream head;
  head << kMagic << "\ninputs " << c.inputs.size() << "\n";
  for (const std::string& line : c.inputs) {
    head << line << "\n";
  }
  head << "position " << c.shard << " " << c.row0 << " " << c.done << "\n";
  head << "origins " << c.origins.size() << "\n";
  for (const auto& [shard, row0] : c.origins) {
    head << shard << " " << row0 << "\n";
  }
  head << "state " << c.state.size() << "\n";
  const std::string text = head.str();
  std::vector<std::uint8_t> bytes(text.begin(), text.end());
  bytes.insert(bytes.end(), c.state.begin(), c.state.end());
  write_file_atomically(path, bytes, "the checkpoint");
}

Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw io::ReadError(path + ": cannot open the checkpoint");
  }
  Checkpoint c;
  std::string line;
  if (!std::getline(in, line) || line != kMagic) {
    bad(path, "its first line is not '" + std::string(kMagic) + "'");
  }
  const auto count = [&](const char* key) {
    std::string word;
    std::uint64_t n = 0;
    if (!std::getline(in, line)) {
      bad(path, std::string("it ends before '") + key + "'");
    }
    std::istringstream fields(line);
    if (!(fields >> word >> n) || word != key) {
      bad(path, std::string("'") + key + "' expected, not '" + line + "'");
    }
    return n;
  };
  const std::uint64_t inputs = count("inputs");
  for (std::uint64_t i = 0; i < inputs; ++i) {
    if (!std::getline(in, line)) {
      bad(path, "it ends inside its inputs");
    }
    c.inputs.push_back(line);
  }
  if (!std::getline(in, line)) {
    bad(path, "it ends before its position");
  }
  {
    std::istringstream fields(line);
    std::string word;
    if (!(fields >> word >> c.shard >> c.row0 >> c.done) || word != "position") {
      bad(path, "'position' expected, not '" + line + "'");
    }
  }
  const std::uint64_t origins = count("origins");
  for (std::uint64_t i = 0; i < origins; ++i) {
    std::size_t shard = 0;
    std::int64_t row0 = 0;
    if (!std::getline(in, line) || !(std::istringstream(line) >> shard >> row0)) {
      bad(path, "it ends inside its windows");
    }
    c.origins.emplace_back(shard, row0);
  }
  const std::uint64_t bytes = count("state");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || bytes > static_cast<std::uint64_t>(st.st_size)) {
    bad(path, "its state is larger than the file");
  }
  c.state.resize(static_cast<std::size_t>(bytes));
  in.read(reinterpret_cast<char*>(c.state.data()), static_cast<std::streamsize>(bytes));
  if (static_cast<std::uint64_t>(in.gcount()) != bytes || in.peek() != EOF) {
    bad(path, "its state is not " + std::to_string(bytes) + " bytes to the end of the file");
  }
  return c;
}

} // namespace gpueval::cli
