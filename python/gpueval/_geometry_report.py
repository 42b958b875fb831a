"""The result of Geometry.compute(): the metrics over every vector, per key and the PCK curve, as
Python values."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ._report import SCHEMA, _DictReport, _frozen
from ._report import _json_floats as _floats

_ALIASES = {"epe": "mpjpe", "ade": "mpjpe"}


class GeometryReport(_DictReport):
    """The metrics of a geometry evaluation, as returned by ``Geometry.compute()``.

    A read-only mapping from metric name to its value over every vector: ``r["mpjpe"]`` (also
    ``r["epe"]`` and ``r["ade"]``), ``r["pa_mpjpe"]``, ``r["pck@150"]``. ``dict(r)`` logs them
    all.

    - ``r.per_key``: ``{"count": int64[K], metric: float64[K], ...}``, each metric over the
      vectors of one index of ``key_axis`` (one key without it);
    - ``r.pck_curve``: ``{"thresholds": float64[S], "pck": float64[S]}``, the curve behind
      ``auc_pck`` (None without it).

    ``r.to_dict()`` is the JSON object ``gpu-eval --task geometry --format json`` prints (schema
    ``gpueval.report/1``); ``from_dict`` / ``from_json`` read one back. NaN marks a value that
    is not defined (no vectors, or a non-finite one under ``nan_policy="propagate"``).
    """

    __slots__ = ("_d", "_names", "_index", "_headline")

    def __init__(self) -> None:
        raise TypeError("a GeometryReport comes from Geometry.compute(), "
                        "GeometryReport.from_dict() or from_json()")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GeometryReport":
        """A report from the JSON object ``gpu-eval --format json`` and ``to_dict()`` write."""
        return cls._of(d, copy.deepcopy)

    @classmethod
    def _of(cls, d: Mapping[str, Any], keep: Any) -> "GeometryReport":
        if not isinstance(d, Mapping):
            raise TypeError(f"a report is a dict (the JSON object), not {type(d).__qualname__}")
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a gpueval report: schema is {d.get('schema')!r}, expected "
                             f"{SCHEMA!r}")
        if d.get("task") != "geometry":
            raise ValueError(f"report task {d.get('task')!r} is not 'geometry'")
        r = object.__new__(cls)
        try:
            r._names = tuple(d["metrics"])
            r._index = {n: i for i, n in enumerate(r._names)}
            for alias, name in _ALIASES.items():
                if name in r._index:
                    r._index[alias] = r._index[name]
            r._headline = _floats([d["metrics"][n] for n in r._names])
            for key in ("per_key", "count", "dims"):
                d[key]
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed gpueval report: {type(e).__name__}: {e}") from None
        r._d = keep(dict(d))
        return r

    @classmethod
    def from_json(cls, text: str) -> "GeometryReport":
        return cls._of(json.loads(text), lambda d: d)

    @property
    def per_key(self) -> Dict[str, np.ndarray]:
        """``{"count": int64[K], metric: float64[K], ...}``."""
        out: Dict[str, np.ndarray] = {}
        for name, values in self._d["per_key"].items():
            if name == "axis":
                continue
            out[name] = _frozen(values, np.int64) if name == "count" else _floats(values)
        for alias, name in _ALIASES.items():
            if name in out:
                out[alias] = out[name]
        return out

    @property
    def by_axis(self) -> Optional[Dict[str, Any]]:
        """``{"axis": a, "count": int64[L], metric: float64[L], ...}`` per index of the
        breakdown axis (``by_axis=``); None without one."""
        ba = self._d.get("by_axis")
        if ba is None:
            return None
        out: Dict[str, Any] = {"axis": int(ba["axis"]), "count": _frozen(ba["count"], np.int64)}
        for name, values in ba.items():
            if name not in ("axis", "count"):
                out[name] = _floats(values)
        for alias, name in _ALIASES.items():
            if name in out:
                out[alias] = out[name]
        return out

    @property
    def samples(self) -> Optional[int]:
        """With ``mode_axis``: the samples folded (min_ade's); None otherwise."""
        return None if "samples" not in self._d else int(self._d["samples"])

    @property
    def samples_with_final(self) -> Optional[int]:
        """With ``mode_axis``: the samples with a vector at the time axis' last index (the ones
        min_fde, min_ade_by_fde and miss_rate average over); None otherwise."""
        return None if "samples" not in self._d else int(self._d["samples_with_final"])

    @property
    def key_axis(self) -> Optional[int]:
        axis = self._d["per_key"].get("axis")
        return None if axis is None else int(axis)

    @property
    def pck_curve(self) -> Optional[Dict[str, np.ndarray]]:
        c = self._d.get("pck_curve")
        if c is None:
            return None
        return {"thresholds": _floats(c["thresholds"]), "pck": _floats(c["pck"])}

    def plot(self, kind: str = "auto", metric: Optional[str] = None, ax: Any = None) -> Any:
        """A matplotlib figure of this report, ``(fig, ax)`` (needs ``gpueval[plot]``): kinds
        ``"per_key"`` (one metric per key, bars: the error by joint), ``"by_axis"`` (one metric
        against the breakdown index: the error against the horizon) and ``"pck"`` (the PCK
        curve)."""
        from ._geometry_plot import geometry
        return geometry(self, kind, metric=metric, ax=ax)

    @property
    def count(self) -> int:
        """Vectors folded."""
        return int(self._d["count"])

    @property
    def weight_sum(self) -> float:
        return float(self._d.get("weight_sum", self._d["count"]))

    @property
    def skipped_nonfinite(self) -> int:
        return int(self._d["skipped_nonfinite"])

    @property
    def dims(self) -> int:
        """Components of a vector."""
        return int(self._d["dims"])

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(self._names, self._headline))
        return f"<gpueval.GeometryReport: {self.count} vectors on {self.device}: {shown}>"

    def __str__(self) -> str:
        width = max((len(n) for n in self._names), default=6)
        lines = [f"gpueval geometry report: {self.count} vectors of {self.dims} components, "
                 f"{self.skipped_nonfinite} non-finite skipped, on {self.device}"]
        for n, v in zip(self._names, self._headline):
            lines.append(f"{n:<{width}}  {v:>14.8g}")
        return "\n".join(lines)

    def __reduce__(self):
        return (GeometryReport.from_dict, (self.to_dict(),))
