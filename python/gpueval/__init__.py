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

from . import _core, _families
from ._classification import Classification
from ._classification_hf import TokenMetrics
from ._classification_report import ClassificationReport
from ._core import CudaError, NonFiniteError, StateError
from ._geometry import Geometry
from ._geometry_report import GeometryReport
from ._regression import Regression
from ._regression_report import Report

__version__: str = _core.__version__

__all__ = [
    "Classification",
    "ClassificationReport",
    "CudaError",
    "Geometry",
    "GeometryReport",
    "NonFiniteError",
    "Regression",
    "Report",
    "StateError",
    "TokenMetrics",
    "cuda_built",
    "from_state",
    "inspect_state",
    "read_shard",
    "shard_rows",
    "load_report",
    "metric_names",
    "__version__",
]


def metric_names(which: str = "default", family: str = "regression") -> List[str]:
    """Metric names in report order: ``"default"``, ``"all"`` or ``"opt-in"``, of the
    ``"regression"``, ``"classification"`` or ``"geometry"`` family (classification's default set also depends
    on the task and inputs: see Classification). ``"all"`` lists every name; an evaluator's
    ``metrics="all"`` leaves out the metrics asked for by name only (``auroc_ovo``, whose
    histograms grow with the square of the classes)."""
    table = _families.named(family).metric_table()
    if which == "all":
        return [name for name, _, _ in table]
    if which == "default":
        return [name for name, opt_in, _ in table if not opt_in]
    if which == "opt-in":
        return [name for name, opt_in, _ in table if opt_in]
    raise ValueError(f"which must be 'default', 'all' or 'opt-in', not {which!r}")


def read_shard(path, key=None, row0: int = 0, rows=None):
    """Rows ``[row0, row0 + rows)`` (``rows=None``: to the end) of one tensor of a ``.npy`` or
    ``.safetensors`` shard (``key``: the tensor's name in a ``.safetensors`` file), read by
    gpu-eval's readers with their checks (a truncated or corrupt file raises ``RuntimeError``
    naming it), as a read-only numpy array; bfloat16 comes back as float32 (exactly)."""
    reader = getattr(_core, "read_shard", None)
    if reader is None:
        raise RuntimeError("this gpueval was built without its shard readers "
                           "(GPUEVAL_BUILD_CLI=OFF)")
    import numpy as np

    blob, dtype, shape = reader(str(path), key or "", int(row0), -1 if rows is None else int(rows))
    if dtype == "bfloat16":
        bits = np.frombuffer(blob, dtype=np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(blob, dtype=np.dtype(dtype)).reshape(shape)


def shard_rows(path, key=None) -> int:
    """The rows (leading axis' length) of one tensor of a shard, from its header."""
    _, shape = _core.shard_info(str(path), key or "")
    return int(shape[0]) if shape else 1


def cuda_built() -> bool:
    """Whether this build has the CUDA backend (says nothing about a GPU being present)."""
    return bool(_core.cuda_built)


def inspect_state(state: bytes) -> dict:
    """What a state blob (``Regression.state()``, ``gpu-eval --save-state``) records: the
    metrics it can report, its statistics, axes, nan policy, sample shape, keys, batches and
    pairs. Raises :class:`StateError` for a corrupt, truncated or other-version blob."""
    return _core.inspect_state(bytes(state))


def from_state(state: bytes, metrics=None, device="auto", threads: int = 0):
    """An evaluator of the family a state was made with (Regression, Classification or
    Geometry), holding it."""
    blob = bytes(state)
    return _families.named(_core.state_family(blob)).evaluator.from_state(
        blob, metrics=metrics, device=device, threads=threads)


def load_report(source):
    """A report from a JSON object, JSON text or a path to a JSON file (what ``gpu-eval --format
    json`` and ``to_json()`` write): a Report or a ClassificationReport, by its task."""
    import json
    import os

    if isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("{"):
        with open(source) as f:
            source = json.load(f)
    elif isinstance(source, str):
        source = json.loads(source)
    return _families.report_from_dict(source)
