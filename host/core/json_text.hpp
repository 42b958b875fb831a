// The pieces every family's JSON report is written with: numbers in the shortest digits that
// read back as the same double, non-finite values as null, escaped strings, arrays.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gpueval::detail {

inline void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  // to_chars, not printf: independent of the process locale, so a trainer that set a comma
  // decimal separator still gets valid JSON. The shortest digits that read back as the same
  // double (to_chars without a precision): every value round-trips, and a report of long
  // curves writes and parses in a fraction of 17 digits' time.
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

inline void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

template <class T> void append_array(std::string& out, const std::vector<T>& values) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) {
      out += ", ";
    }
    if constexpr (std::is_floating_point_v<T>) {
      append_number(out, values[i]);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      append_string(out, values[i]);
    } else {
      out += std::to_string(values[i]);
    }
  }
  out += ']';
}

// , "name": [values] for each name and its array (a section's members after its first).
template <class T>
void append_named_arrays(std::string& out, const std::vector<std::string>& names,
                         const std::vector<std::vector<T>>& arrays) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += ", ";
    append_string(out, names[i]);
    out += ": ";
    append_array(out, arrays[i]);
  }
}

} // namespace gpueval::detail
