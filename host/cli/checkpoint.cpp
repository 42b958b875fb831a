// gpu-eval's checkpoints (--checkpoint, --resume): a text header (what the run read, where it
// was, the windows it folded) and the evaluator's state blob (itself versioned and checksummed),
// written through write_file_atomically, so that a kill at any moment leaves the previous
// checkpoint or the new one.
//
//   gpueval-checkpoint 2
//   inputs N          then N lines, file_identity() of each input and the run's reading
//   position SHARD ROW0 DONE
//   origins M         then M lines "SHARD ROW0"
//   skipped K         then K lines "SHARD<tab>FILE<tab>...<tab>REASON" (--on-error skip-file)
//   shard-start none, or shard-start BYTES ORIGINS DONE then the blob (--on-error skip-file)
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

constexpr const char* kMagic = "gpueval-checkpoint 2";
constexpr std::uint64_t kHashBytes = 64 * 1024;

// FNV-1a over the bytes.
std::uint64_t fnv(const std::vector<char>& bytes, std::uint64_t h) {
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// A field of a tab-separated line: no tab or line break of its own.
std::string field(std::string text) {
  for (char& c : text) {
    c = c == '\t' || c == '\n' || c == '\r' ? ' ' : c;
  }
  return text;
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
  head << "skipped " << c.skipped.size() << "\n";
  for (const auto& [shard, k] : c.skipped) {
    head << shard;
    for (const std::string& f : k.files) {
      head << "\t" << field(f);
    }
    head << "\t" << field(k.reason) << "\n";
  }
  std::vector<std::uint8_t> bytes;
  const auto flush = [&] {
    const std::string text = head.str();
    bytes.insert(bytes.end(), text.begin(), text.end());
    head.str("");
  };
  if (c.shard_start_state) {
    head << "shard-start " << c.shard_start_state->size() << " " << c.shard_start_origins << " "
         << c.shard_start_done << "\n";
    flush();
    bytes.insert(bytes.end(), c.shard_start_state->begin(), c.shard_start_state->end());
  } else {
    head << "shard-start none\n";
  }
  head << "state " << c.state.size() << "\n";
  flush();
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
  const std::uint64_t skipped = count("skipped");
  for (std::uint64_t i = 0; i < skipped; ++i) {
    if (!std::getline(in, line)) {
      bad(path, "it ends inside its skipped shards");
    }
    std::vector<std::string> fields;
    for (std::size_t at = 0;;) {
      const std::size_t tab = line.find('\t', at);
      fields.push_back(line.substr(at, tab == std::string::npos ? tab : tab - at));
      if (tab == std::string::npos) {
        break;
      }
      at = tab + 1;
    }
    std::size_t shard = 0;
    if (fields.size() < 3 || !(std::istringstream(fields.front()) >> shard)) {
      bad(path, "'SHARD<tab>FILE...<tab>REASON' expected, not '" + line + "'");
    }
    c.skipped.push_back({shard, Skipped{{fields.begin() + 1, fields.end() - 1}, fields.back()}});
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    bad(path, "it cannot be read");
  }
  const auto blob = [&](std::uint64_t n, const char* what) {
    if (n > static_cast<std::uint64_t>(st.st_size)) {
      bad(path, std::string("its ") + what + " is larger than the file");
    }
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(in.gcount()) != n) {
      bad(path, std::string("its ") + what + " is not " + std::to_string(n) + " bytes");
    }
    return out;
  };
  if (!std::getline(in, line)) {
    bad(path, "it ends before 'shard-start'");
  }
  if (line != "shard-start none") {
    std::istringstream fields(line);
    std::string word;
    std::uint64_t n = 0;
    if (!(fields >> word >> n >> c.shard_start_origins >> c.shard_start_done) ||
        word != "shard-start" || c.shard_start_origins > c.origins.size()) {
      bad(path, "'shard-start' expected, not '" + line + "'");
    }
    c.shard_start_state = blob(n, "shard's first state");
  }
  const std::uint64_t bytes = count("state");
  c.state = blob(bytes, "state");
  if (in.peek() != EOF) {
    bad(path, "its state is not " + std::to_string(bytes) + " bytes to the end of the file");
  }
  return c;
}

} // namespace gpueval::cli
