"""gpueval: exact epoch metrics streamed one batch at a time, on the GPU or the CPU.

    import gpueval
    ev = gpueval.Regression()              # metrics="default", device="auto", ...
    for pred, target in batches:           # numpy, torch, CuPy, JAX: no copy
        ev.update(pred, target)
    r = ev.compute()                        # gpueval.Report
    r["r2"], r.per_channel["mae"], r.to_dict()

The engine is C++ (the same library as the ``gpu-eval`` command); this package is a thin
binding over it.
"""

from typing import List

from . import _core
from ._core import CudaError, NonFiniteError, StateError
from ._regression import Regression
from ._report import Report

__version__: str = _core.__version__

__all__ = [
    "CudaError",
    "NonFiniteError",
    "Regression",
    "Report",
    "StateError",
    "cuda_built",
    "inspect_state",
    "metric_names",
    "__version__",
]


def metric_names(which: str = "default") -> List[str]:
    """Regression metric names in report order: ``"default"``, ``"all"`` or ``"opt-in"``."""
    table = _core.metric_table()
    if which == "all":
        return [name for name, _, _ in table]
    if which == "default":
        return [name for name, opt_in, _ in table if not opt_in]
    if which == "opt-in":
        return [name for name, opt_in, _ in table if opt_in]
    raise ValueError(f"which must be 'default', 'all' or 'opt-in', not {which!r}")


def cuda_built() -> bool:
    """Whether this build has the CUDA backend (says nothing about a GPU being present)."""
    return bool(_core.cuda_built)


def inspect_state(state: bytes) -> dict:
    """What a state blob (``Regression.state()``, ``gpu-eval --save-state``) records: the
    metrics it can report, its statistics, axes, nan policy, sample shape, keys, batches and
    pairs. Raises :class:`StateError` for a corrupt, truncated or other-version blob."""
    return _core.inspect_state(bytes(state))
