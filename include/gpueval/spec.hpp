// RegressionSpec and KeyLayout: declared in gpueval/regression.hpp, the regression family's header.
// This header is kept so that existing includes keep working.
#pragma once

#include "gpueval/regression.hpp"
