#include "gpueval/policy.hpp"

#include <string>

#include "gpueval/error.hpp"

namespace gpueval {

std::string_view nan_policy_name(NanPolicy p) {
  switch (p) {
  case NanPolicy::skip:
    return "skip";
  case NanPolicy::propagate:
    return "propagate";
  case NanPolicy::error:
    return "error";
  }
  return "?";
}

NanPolicy parse_nan_policy(std::string_view text) {
  for (NanPolicy p : {NanPolicy::skip, NanPolicy::propagate, NanPolicy::error}) {
    if (nan_policy_name(p) == text) {
      return p;
    }
  }
  throw InvalidArgument("unknown nan policy '" + std::string(text) +
                        "'; use skip, propagate or error");
}

std::string_view invalid_policy_name(InvalidPolicy p) {
  return p == InvalidPolicy::skip ? "skip" : "error";
}

InvalidPolicy parse_invalid_policy(std::string_view text) {
  for (InvalidPolicy p : {InvalidPolicy::error, InvalidPolicy::skip}) {
    if (invalid_policy_name(p) == text) {
      return p;
    }
  }
  throw InvalidArgument("unknown invalid policy '" + std::string(text) + "'; use error or skip");
}

} // namespace gpueval
