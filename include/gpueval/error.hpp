// Error types of the public API. Every failure a user can cause is one of these, with a message
// that says what was wrong and what to do about it.
#pragma once

#include <stdexcept>
#include <string>

namespace gpueval {

// Base of every gpueval exception.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A bad argument: unknown metric name, shape mismatch, unsupported dtype, axis out of range.
class InvalidArgument : public Error {
public:
  using Error::Error;
};

// A State blob that is truncated, corrupted, of another version or of another spec.
class StateError : public Error {
public:
  using Error::Error;
};

// nan_policy = error found a non-finite pair; raised by compute(). `batch` counts the
// evaluator's updates from 0; `element` is the C-order index within that batch.
class NonFiniteError : public Error {
public:
  NonFiniteError(const std::string& message, unsigned long long batch_index,
                 unsigned long long element_index)
      : Error(message), batch(batch_index), element(element_index) {}
  unsigned long long batch;
  unsigned long long element;
};

// A CUDA runtime failure, or a CUDA device asked for where none is usable.
class CudaError : public Error {
public:
  using Error::Error;
};

} // namespace gpueval

// Precondition check with a message a user can act on (the message names the argument and the
// problem, not our source line). The message expression is only evaluated when the check fails.
#define GPUEVAL_EXPECTS(cond, message)                                                             \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      throw ::gpueval::InvalidArgument(message);                                                   \
    }                                                                                              \
  } while (0)
