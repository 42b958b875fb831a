"""Shared fixtures of the Python package's tests. Run by CTest (tests/CMakeLists.txt) with
PYTHONPATH pointing at the package assembled in build/python and GPUEVAL_CLI at gpu-eval."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

# A script run by its own CTest test (the TorchScript class), not a pytest module.
collect_ignore = ["test_script_class.py"]


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)


@pytest.fixture
def cli():
    path = os.environ.get("GPUEVAL_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("GPUEVAL_CLI does not name the gpu-eval executable (CTest sets it)")
    return path


def batch_pairs(rng, shape, offset=0.0, scale=1.0, noise=0.1, dtype=np.float32):
    """Targets around `offset` with spread `scale`, predictions off by `noise` of it."""
    t = offset + scale * rng.standard_normal(shape)
    p = t + noise * scale * rng.standard_normal(shape)
    return p.astype(dtype), t.astype(dtype)
