// The message of the exception of type E that f throws; a test failure when it throws none.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace gpueval::test {

template <class E, class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return "(no error)";
}

} // namespace gpueval::test
