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

// What a family does with a finite value that cannot be what its spec says (a probability
// outside [0, 1], a target outside its classes): by default compute() raises, naming the first
// one and the fix, since dropping it would report plausible numbers over part of the data.
enum class InvalidPolicy : std::uint8_t {
  error, // compute() throws NonFiniteError naming the first such sample (the default)
  skip,  // drop and count it (the report's skipped_invalid)
};

std::string_view invalid_policy_name(InvalidPolicy p);
// Throws InvalidArgument listing error, skip.
InvalidPolicy parse_invalid_policy(std::string_view text);

} // namespace gpueval
