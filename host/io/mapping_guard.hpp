// The guard of mapped windows against files that shrink while mapped (mapping_guard.cpp).
#pragma once

#include <cstddef>

namespace gpueval::io {

// Registers a mapped range: a SIGBUS in it (its file shrank) reads zeros and marks the range
// lost instead of ending the process. Returns the slot, or -1 when every slot is taken (then the
// caller should not map: read instead).
int guard_mapping(const void* begin, std::size_t length);
// Before the range is unmapped.
void release_mapping(int slot);
// Whether a read of the range met a lost page (the window's numbers are not the file's).
bool mapping_lost(int slot);

} // namespace gpueval::io
