// Reading a family's options (gpueval/family.hpp's Options: names to text): each value parsed
// once, with a message that names the option and what it takes; options the family does not
// have are an error naming the ones it has.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gpueval/family.hpp"

namespace gpueval::detail {

class OptionReader {
public:
  // `family` names the family in messages; `known` its option names.
  OptionReader(const Options& options, std::string family, const std::vector<OptionInfo>& known);

  bool has(std::string_view name) const;
  std::string text(std::string_view name, std::string_view fallback) const;
  std::optional<std::string> text(std::string_view name) const;
  // An integer; `none_word` (e.g. "none") reads as nullopt when given.
  std::optional<std::int64_t> integer(std::string_view name, std::string_view none_word = {}) const;
  std::int64_t integer(std::string_view name, std::int64_t fallback) const;
  std::optional<double> real(std::string_view name) const;
  double real(std::string_view name, double fallback) const;
  bool boolean(std::string_view name, bool fallback) const;
  // "500,20" (also "[500, 20]" and "()" for an empty shape); absent: empty.
  std::vector<std::int64_t> shape(std::string_view name) const;
  // "a,b,c": the text between commas, kept as given; absent: empty.
  std::vector<std::string> names(std::string_view name) const;

  // Throws InvalidArgument for an option that is not one of `known`.
  void check_known() const;

private:
  [[noreturn]] void bad(std::string_view name, std::string_view what) const;
  const Options& options_;
  std::string family_;
  std::vector<std::string> known_;
};

// Text for option values (how the front ends write them): integers, doubles that round-trip,
// shapes as "500,20".
std::string option_text(std::int64_t v);
std::string option_text(double v);
std::string option_text(const std::vector<std::int64_t>& shape);

} // namespace gpueval::detail
