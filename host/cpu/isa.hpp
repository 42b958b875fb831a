// Runtime instruction-set dispatch for the CPU backend's loops: GCC emits one clone of the
// function per target and an ifunc resolver that picks by the CPU's features at load time.
// Clones must compute bitwise the same results: the CPU sources are built with
// -ffp-contract=off and no reassociation, so a vector lane does what the scalar code does.
#pragma once

#define GPUEVAL_ISA_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
