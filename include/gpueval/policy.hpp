// What every family does with a non-finite value (nan_policy).
#pragma once

#include <cstdint>
#include <string_view>

namespace gpueval {

enum class NanPolicy : std::uint8_t {
  skip,      // drop pairs where p or t is NaN or infinite; count them (the default)
  propagate, // fold them in: the affected keys' metrics become NaN or infinite
  error,     // compute() throws NonFiniteError naming the first offending batch and element
};

std::string_view nan_policy_name(NanPolicy p);
// Throws InvalidArgument listing skip, propagate, error.
NanPolicy parse_nan_policy(std::string_view text);

} // namespace gpueval
