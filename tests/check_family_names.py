#!/usr/bin/env python3
"""No shared file names a family (docs/design.md, "Adding a family"): the engine, the CLI, the
state envelope, the backends' shared parts, the LibTorch adapter and the Python package work with
any family through the registries. A family's own files carry its name (host/<family>/,
<family>.cpp, <family>_backend.cpp, _<family>.py, torch_<family>.cpp, ...); the registration
files, one per front end, are the only shared files that list the families, and this check
prints how many lines each family takes there (what adding a family costs outside its files).

    python3 tests/check_family_names.py [REPO]

Exit status 1 lists every shared line that names a family."""

import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))

# Where shared code lives (each family's own files in these folders carry its name).
SHARED = ["CMakeLists.txt", "python/CMakeLists.txt", "host/registration.cpp", "host/core", "host/cli", "host/io", "host/cpu", "cuda", "include/gpueval",
          "python/binding", "python/gpueval", "host/torch", "tests/fake_device.hpp"]
# One per front end: where the families are listed (and the public names that re-export them).
REGISTRATION = {
    "CMakeLists.txt": "the build's list of families",
    "host/registration.cpp": "the engine's composition root",
    "host/cpu/backends.hpp": "the CPU backends' registration",
    "cuda/backends.hpp": "the CUDA backends' registration",
    "host/cli/families.cpp": "gpu-eval's registration",
    "python/binding/families.cpp": "the binding's registration",
    "host/torch/families.cpp": "the LibTorch adapter's registration",
    "host/torch/gpueval/torch_evaluator.hpp": "the adapter's umbrella header",
    "python/gpueval/__init__.py": "the package's public names",
    "python/gpueval/plot.py": "gpueval.plot's public names",
}
# Headers kept for existing includes, each the old name of one family's header.
COMPAT = {"include/gpueval/spec.hpp", "include/gpueval/metrics.hpp",
          "include/gpueval/report.hpp", "include/gpueval/evaluator.hpp"}
SOURCES = (".cpp", ".hpp", ".cu", ".cuh", ".h", ".py", ".in")


def families():
    text = open(os.path.join(ROOT, "host", "registration.cpp"), encoding="utf-8").read()
    return sorted(re.findall(r'#include "(\w+)/family\.hpp"', text))


def owner(rel, fams):
    """The family a file belongs to by its name, or None for a shared file."""
    base = os.path.basename(rel).lstrip("_")
    base = base[len("torch_"):] if base.startswith("torch_") else base
    for f in fams:
        if base.startswith(f) or rel.startswith(f"host/{f}/"):
            return f
    return None


def main():
    fams = families()
    pattern = re.compile("|".join(fams), re.I)
    bad, cost = [], {f: [] for f in fams}
    for place in SHARED:
        path = os.path.join(ROOT, place)
        files = [path] if os.path.isfile(path) else [
            os.path.join(d, f) for d, _, names in os.walk(path) for f in names
            if f.endswith(SOURCES)]
        for f in sorted(files):
            rel = os.path.relpath(f, ROOT)
            if owner(rel, fams) or rel in COMPAT:
                continue
            for n, line in enumerate(open(f, encoding="utf-8"), 1):
                found = {m.group(0).lower() for m in pattern.finditer(line)}
                if not found:
                    continue
                if rel in REGISTRATION:
                    for fam in found:
                        cost[fam].append(f"{rel}:{n}")
                else:
                    bad.append(f"{rel}:{n}: names {', '.join(sorted(found))}: {line.strip()}")
    for b in bad:
        print(b)
    for fam, lines in cost.items():
        files = sorted({entry.split(":")[0] for entry in lines})
        print(f"{fam}: {len(lines)} lines in {len(files)} registration files "
              f"({', '.join(files)})")
    print(f"check_family_names: {len(bad)} shared lines name a family" if bad else
          "check_family_names: no shared file names a family")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
