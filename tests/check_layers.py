#!/usr/bin/env python3
"""The layering of gpueval's sources, as docs/design.md ("Layers") draws it: every quoted include
goes to the file's own layer or a lower one, and a family's folder includes no other family's.

    public headers (include/gpueval) <- core (host/core) <- families (host/<family>)
        <- backends (host/cpu, cuda) <- composition root (host/registration.cpp)
    io (host/io) <- cli (host/cli);  public headers <- the LibTorch adapter, the Python binding
    io <- the binding's shard reading (python/binding/shards.cpp)

Run from anywhere: python3 tests/check_layers.py [REPO]. Exit status 1 lists every include that
goes the wrong way."""

import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCES = (".cpp", ".hpp", ".cu", ".cuh", ".h")


def families():
    """The families the composition root registers: host/<name>/family.hpp it includes."""
    text = open(os.path.join(ROOT, "host", "registration.cpp"), encoding="utf-8").read()
    return sorted(re.findall(r'#include "(\w+)/family\.hpp"', text))


def rules():
    """(folder or file, the include roots it may use); a bare name is a file beside it."""
    fams = families()
    out = [
        ("include/gpueval", {"gpueval"}),
        ("host/core", {"gpueval", "core"}),
        ("host/io", {"gpueval", "io"}),
        ("host/cpu", {"gpueval", "core", "cpu", *fams}),
        ("cuda", {"gpueval", "core", "cuda", *fams}),
        ("host/registration.cpp", {"gpueval", "core", "cpu", "cuda", *fams}),
        ("host/cli", {"gpueval", "core", "io", "cli"}),
        ("host/torch", {"gpueval"}),
        ("python/binding", {"gpueval"}),
        ("python/binding/shards.cpp", {"gpueval", "io"}),
    ]
    out += [(f"host/{f}", {"gpueval", "core", f}) for f in fams]
    return out


def check():
    bad = []
    # A file with a rule of its own is checked by that rule alone, not its folder's.
    own = {os.path.join(ROOT, place) for place, _ in rules()
           if os.path.isfile(os.path.join(ROOT, place))}
    for place, allowed in rules():
        path = os.path.join(ROOT, place)
        files = [path] if os.path.isfile(path) else [
            os.path.join(d, f) for d, _, names in os.walk(path) for f in names
            if f.endswith(SOURCES) and os.path.join(d, f) not in own]
        for f in sorted(files):
            text = open(f, encoding="utf-8").read()
            for inc in INCLUDE.findall(text):
                if "/" not in inc:  # a file beside it
                    if not os.path.isfile(os.path.join(os.path.dirname(f), inc)):
                        bad.append(f"{os.path.relpath(f, ROOT)}: includes \"{inc}\", which is "
                                   "not beside it")
                    continue
                root = inc.split("/", 1)[0]
                if root not in allowed:
                    bad.append(f"{os.path.relpath(f, ROOT)}: includes \"{inc}\" ({root}/ is not "
                               f"below {place}: it may include {', '.join(sorted(allowed))})")
    return bad


if __name__ == "__main__":
    problems = check()
    for p in problems:
        print(p)
    print(f"check_layers: {len(problems)} include(s) against the layering" if problems else
          f"check_layers: every include follows the layering ({', '.join(families())})")
    sys.exit(1 if problems else 0)
