// Report output: a table for people, JSON and CSV for programs (the tables and CSV are the
// families' own: cli/family.hpp).
#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "cli/cli.hpp"
#include "cli/family.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::cli {

std::string format_report(const AnyReport& report, Format format) {
  switch (format) {
  case Format::json:
    return report.to_json() + "\n";
  case Format::csv:
    return cli_family(report.family()).format(report.get(), TextFormat::csv);
  case Format::table:
    return cli_family(report.family()).format(report.get(), TextFormat::table);
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

void emit_report(const AnyReport& report, Format format, const std::string& output) {
  if (format == Format::none) {
    return;
  }
  const std::string text = format_report(report, format);
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

void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw io::ReadError(path + ": cannot write the state (" + std::strerror(errno) + ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw io::ReadError(path + ": cannot write the state (" + why + ")");
  }
}

} // namespace gpueval::cli
