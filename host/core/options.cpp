#include "core/options.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "gpueval/error.hpp"

namespace gpueval::detail {

OptionReader::OptionReader(const Options& options, std::string family,
                           const std::vector<OptionInfo>& known)
    : options_(options), family_(std::move(family)) {
  for (const OptionInfo& o : known) {
    known_.push_back(o.name);
  }
}

void OptionReader::check_known() const {
  for (const auto& [name, value] : options_) {
    if (std::find(known_.begin(), known_.end(), name) == known_.end()) {
      std::string list;
      for (const std::string& k : known_) {
        list += (list.empty() ? "" : ", ") + k;
      }
      throw InvalidArgument("'" + name + "' is not an option of " + family_ +
                            " (its options: " + list + ")");
    }
  }
}

bool OptionReader::has(std::string_view name) const {
  return options_.find(name) != options_.end();
}

void OptionReader::bad(std::string_view name, std::string_view what) const {
  throw InvalidArgument(std::string(name) + " '" + options_.find(name)->second + "' is not " +
                        std::string(what));
}

std::optional<std::string> OptionReader::text(std::string_view name) const {
  const auto it = options_.find(name);
  return it == options_.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::string OptionReader::text(std::string_view name, std::string_view fallback) const {
  const auto it = options_.find(name);
  return it == options_.end() ? std::string(fallback) : it->second;
}

std::optional<std::int64_t> OptionReader::integer(std::string_view name,
                                                  std::string_view none_word) const {
  const auto it = options_.find(name);
  if (it == options_.end() || (!none_word.empty() && it->second == none_word)) {
    return std::nullopt;
  }
  const std::string& s = it->second;
  std::int64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) {
    bad(name, none_word.empty() ? "an integer" : "an integer or '" + std::string(none_word) + "'");
  }
  return v;
}

std::int64_t OptionReader::integer(std::string_view name, std::int64_t fallback) const {
  return integer(name, std::string_view{}).value_or(fallback);
}

std::optional<double> OptionReader::real(std::string_view name) const {
  const auto it = options_.find(name);
  if (it == options_.end()) {
    return std::nullopt;
  }
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end); // accepts what Python's repr writes (1e-05)
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE) {
    bad(name, "a number");
  }
  return v;
}

double OptionReader::real(std::string_view name, double fallback) const {
  return real(name).value_or(fallback);
}

bool OptionReader::boolean(std::string_view name, bool fallback) const {
  const auto it = options_.find(name);
  if (it == options_.end()) {
    return fallback;
  }
  if (it->second == "true" || it->second == "1") {
    return true;
  }
  if (it->second == "false" || it->second == "0") {
    return false;
  }
  bad(name, "true or false");
}

std::vector<std::int64_t> OptionReader::shape(std::string_view name) const {
  std::vector<std::int64_t> out;
  const auto it = options_.find(name);
  if (it == options_.end()) {
    return out;
  }
  std::string s;
  for (char c : it->second) {
    if (c != '[' && c != ']' && c != '(' && c != ')' && c != ' ') {
      s += c;
    }
  }
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    std::int64_t v = 0;
    const auto res = std::from_chars(s.data() + at, s.data() + comma, v);
    if (res.ec != std::errc() || res.ptr != s.data() + comma || v < 0) {
      bad(name, "a shape: non-negative integers separated by commas");
    }
    out.push_back(v);
    at = comma + 1;
  }
  return out;
}

std::vector<std::string> OptionReader::names(std::string_view name) const {
  std::vector<std::string> out;
  const auto it = options_.find(name);
  if (it == options_.end()) {
    return out;
  }
  const std::string& s = it->second;
  for (std::size_t at = 0;;) {
    const std::size_t comma = s.find(',', at);
    out.push_back(s.substr(at, comma - at));
    if (comma == std::string::npos) {
      return out;
    }
    at = comma + 1;
  }
}

std::string option_text(std::int64_t v) {
  return std::to_string(v);
}

std::string option_text(double v) {
  // The shortest text that reads back as the same double (0.1, not 0.10000000000000001).
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string option_text(const std::vector<std::int64_t>& shape) {
  std::string out;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    out += (i ? "," : "") + std::to_string(shape[i]);
  }
  return out;
}

} // namespace gpueval::detail
