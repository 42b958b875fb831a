// Report output: a table for people, JSON and CSV for programs (the tables and CSV are the
// families' own: cli/family.hpp).
#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "core/json_text.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

std::string format_report(const AnyReport& report, Format format,
                          const std::vector<Skipped>* skipped) {
  switch (format) {
  case Format::json: {
    std::string json = report.to_json();
    if (skipped != nullptr) { // one more member of the report's object
      const std::size_t end = json.rfind('}');
      std::string list = ", \"skipped\": [";
      for (std::size_t i = 0; i < skipped->size(); ++i) {
        const Skipped& k = (*skipped)[i];
        list += i ? ", {\"files\": [" : "{\"files\": [";
        for (std::size_t f = 0; f < k.files.size(); ++f) {
          list += f ? ", " : "";
          detail::append_string(list, k.files[f]);
        }
        list += "], \"reason\": ";
        detail::append_string(list, k.reason);
        list += "}";
      }
      json.insert(end, list + "]");
    }
    return json + "\n";
  }
  case Format::csv: // a program reading CSV learns of skipped shards from the exit status
    return cli_family(report.family()).format(report.get(), TextFormat::csv);
  case Format::table: {
    std::string text = cli_family(report.family()).format(report.get(), TextFormat::table);
    if (skipped != nullptr && !skipped->empty()) {
      text += fmt::format(
          "\nskipped {} shard{} (--on-error skip-file); the metrics leave {} out:\n",
          skipped->size(), skipped->size() == 1 ? "" : "s", skipped->size() == 1 ? "it" : "them");
      for (const Skipped& k : *skipped) {
        text += "  " + k.text() + "\n";
      }
    }
    return text;
  }
  case Format::none:
    return {};
  }
  return {};
}

Format parse_format(const std::string& text) {
  if (text == "table") {
    return Format::table;
  }
  if (text == "json") {
    return Format::json;
  }
  if (text == "csv") {
    return Format::csv;
  }
  if (text == "none") {
    return Format::none;
  }
  throw UsageError("--format '" + text + "' is not table, json, csv or none");
}

void emit_report(const AnyReport& report, Format format, const std::string& output,
                 const std::vector<Skipped>* skipped) {
  if (format == Format::none) {
    return;
  }
  const std::string text = format_report(report, format, skipped);
  if (output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::ofstream out(output, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    throw io::ReadError(output + ": cannot write the report");
  }
}

void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes,
                           const std::string& what) {
  // The bytes reach the disk (fsync) before the rename makes them the file, and the rename
  // reaches it before this returns: a crash or a full disk at any moment leaves the previous
  // file whole, or the new one.
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  const auto fail = [&](const std::string& why) {
    std::remove(tmp.c_str());
    throw io::ReadError(path + ": cannot write " + what + " (" + why + "); " +
                        "the previous file, if any, is unchanged");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail(std::strerror(errno));
  }
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "nothing written";
      ::close(fd);
      fail(why);
    }
    at += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    fail(why);
  }
  if (::close(fd) != 0) {
    fail(std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    fail(std::strerror(errno));
  }
  const std::size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

} // namespace gpueval::cli
