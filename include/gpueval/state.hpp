// An evaluator's epoch state as bytes: how ranks merge and how a long evaluation checkpoints.
#pragma once

#include <cstdint>
#include <vector>

namespace gpueval {

// Layout, version 1 (all integers little-endian, doubles IEEE binary64 little-endian). The
// envelope and the fixed header are every family's; the family tag says how to read the rest
// (each family's public header documents its own fields and payload).
//
//   offset  size  field
//   0       8     magic "GPUEVST\0"
//   8       4     version (1)
//   12      4     header size in bytes (from offset 0, to the payload)
//   16      4     statistic groups (the family's bits)
//   20      1     nan policy (0 skip, 1 propagate, 2 error)
//   21      1     has channel axis (0/1)
//   22      1     has breakdown axis (0/1)
//   23      1     sample rank r (<= 7)
//   24      4     breakdown axis (batch-tensor axis; 0 when none)
//   28      4     family tag (gpueval/family.hpp)
//   32      8     keys K (the family's unit of payload: records, words)
//   40      8     batches folded
//   48      8     first non-finite batch (UINT64_MAX: none)   } nan_policy = error only
//   56      8     first non-finite element (UINT64_MAX: none) }
//   64      8*r   sample shape
//   ...           the family's own header fields
//   payload       the family's statistics
//   end-8   8     FNV-1a 64 checksum of every byte before it
//
// A blob that is truncated, fails its checksum, has another version, or was made with another
// spec (groups, axes, nan policy, sample shape, family) is rejected with a StateError naming the
// field.
struct State {
  std::vector<std::uint8_t> bytes;
};

inline constexpr std::uint32_t kStateVersion = 1;

} // namespace gpueval
