"""The result of Regression.compute(): every requested metric at every aggregation, as Python
values."""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._report import SCHEMA, _frozen, _json_float, _json_floats, _MetricMapping


class Report(_MetricMapping):
    """The metrics of an evaluation, as returned by ``Regression.compute()``.

    A report is a read-only mapping from metric name to its headline value (the uniform average
    over channels; ``max_error`` is the overall max), so ``r["r2"]`` is a float and ``dict(r)``
    logs every headline at once. The other aggregations are dicts whose per-key values are
    read-only numpy arrays:

    - ``r.flat``: every value as one stream (``{"mse": 0.1, ...}``);
    - ``r.per_channel``: ``{"count": int64[C], "mse": float64[C], ...}``;
    - ``r.by_axis``: ``{"axis": a, "count": int64[L], "mse": float64[L], ...}`` with a breakdown
      axis, ``{}`` without one;
    - ``r.variance_weighted``: ``r2`` and ``explained_variance`` weighted by target variance.

    ``r.to_dict()`` is exactly the JSON object ``gpu-eval --format json`` prints (schema
    ``gpueval.report/1``, non-finite values as ``None``); ``r.to_json()`` its text;
    ``Report.from_dict`` / ``Report.from_json`` read one back. NaN stands for a value that is
    not defined (a key with no pairs, a degenerate denominator: see the README's metric table).
    """

    __slots__ = ("_names", "_index", "_headline", "_flat", "_vw", "_per_channel",
                 "_per_channel_count", "_by_axis", "_by_axis_count", "_by_axis_index",
                 "_by_axis_pc", "_info",
                 "_core", "_dict")

    def __init__(self) -> None:
        raise TypeError("a Report comes from Regression.compute(), Report.from_dict() or "
                        "Report.from_json()")

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def _from_core(cls, core: Any) -> "Report":
        r = object.__new__(cls)
        r._names = tuple(core.metrics)
        r._index = {n: i for i, n in enumerate(r._names)}
        r._headline = _frozen(core.headline, np.float64)
        r._flat = _frozen(core.flat, np.float64)
        r._vw = {}
        for name in r._names:
            if name == "r2":
                r._vw[name] = float(core.variance_weighted_r2)
            elif name == "explained_variance":
                r._vw[name] = float(core.variance_weighted_explained_variance)
        r._per_channel = _frozen(core.per_channel, np.float64)
        r._per_channel_count = _frozen(core.per_channel_count, np.int64)
        r._by_axis_index = core.by_axis_index
        by_axis = core.by_axis
        r._by_axis = None if by_axis is None else _frozen(by_axis, np.float64)
        r._by_axis_count = _frozen(core.by_axis_count, np.int64)
        pc = core.by_axis_per_channel
        r._by_axis_pc = None if pc is None else _frozen(
            pc.reshape(len(r._names), len(r._by_axis_count), core.channels), np.float64)
        r._core = core  # its JSON is made only when asked for
        r._dict = None
        r._info = {
            "schema": SCHEMA, "version": core.version, "task": "regression",
            "device": core.device,
            "spec": {"metrics": list(r._names), "channel_axis": core.channel_axis,
                     "by_axis": core.by_axis_index, "nan_policy": core.nan_policy,
                     "quantile_alpha": core.quantile_alpha},
            "quantile_sketch": None if core.quantile_bits == 0 else {
                "relative_accuracy": core.quantile_accuracy,
                "mantissa_bits": core.quantile_bits},
            "count": core.count, "weight_sum": core.weight_sum,
            "skipped_nonfinite": core.skipped_nonfinite, "channels": core.channels, "elapsed_s": core.elapsed_s,
            "bytes_read": core.bytes_read,
        }
        return r

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Report":
        """A report from the JSON object ``gpu-eval --format json`` and ``to_dict()`` write."""
        if not isinstance(d, Mapping):
            raise TypeError(f"a report is a dict (the JSON object), not {type(d).__qualname__}")
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a gpueval report: schema is {d.get('schema')!r}, expected "
                             f"{SCHEMA!r}")
        if d.get("task") != "regression":
            raise ValueError(f"report task {d.get('task')!r} is not one this gpueval reads "
                             "('regression')")
        try:
            names = tuple(d["spec"]["metrics"])
            r = object.__new__(cls)
            r._names = names
            r._index = {n: i for i, n in enumerate(names)}
            r._headline = _json_floats([d["metrics"][n] for n in names])
            r._flat = _json_floats([d["flat"][n] for n in names])
            r._vw = {n: _json_float(v) for n, v in d["variance_weighted"].items()}
            pc = d["per_channel"]
            r._per_channel = _frozen(
                np.array([_json_floats(pc[n]) for n in names], dtype=np.float64).reshape(
                    len(names), len(pc["count"])), np.float64)
            r._per_channel_count = _frozen(pc["count"], np.int64)
            ba = d["by_axis"]
            r._by_axis_pc = None
            if ba is None:
                r._by_axis_index = None
                r._by_axis = None
                r._by_axis_count = _frozen([], np.int64)
            else:
                r._by_axis_index = int(ba["axis"])
                r._by_axis = _frozen(
                    np.array([_json_floats(ba[n]) for n in names], dtype=np.float64).reshape(
                        len(names), len(ba["count"])), np.float64)
                r._by_axis_count = _frozen(ba["count"], np.int64)
                pc = ba.get("per_channel")  # reports before it was added have none
                if pc:
                    r._by_axis_pc = _frozen(np.array(
                        [[_json_floats(row) for row in pc[n]] for n in names],
                        dtype=np.float64).reshape(len(names), len(ba["count"]),
                                                  len(d["per_channel"]["count"])), np.float64)
            r._info = {k: d[k] for k in ("schema", "version", "task", "device", "spec", "count",
                                         "skipped_nonfinite", "channels", "elapsed_s",
                                         "bytes_read")}
            r._info["quantile_sketch"] = d.get("quantile_sketch")
            # present only when the evaluation was weighted; otherwise the count
            r._info["weight_sum"] = float(d.get("weight_sum", d["count"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed gpueval report: {type(e).__name__}: {e}") from None
        r._core = None
        r._dict = copy.deepcopy(dict(d))
        return r

    @classmethod
    def from_json(cls, text: str) -> "Report":
        """A report from JSON text (``gpu-eval --format json``, ``to_json()``)."""
        return cls.from_dict(json.loads(text))

    # ---- aggregations (the mapping itself, the headline values, is _MetricMapping's) ---------

    @property
    def headline(self) -> Dict[str, float]:
        """Headline values (the mapping itself, as a dict)."""
        return {n: float(v) for n, v in zip(self._names, self._headline)}

    @property
    def flat(self) -> Dict[str, float]:
        """Every value as one stream (all channels and breakdown indices pooled)."""
        return {n: float(v) for n, v in zip(self._names, self._flat)}

    @property
    def variance_weighted(self) -> Dict[str, float]:
        """``r2`` and ``explained_variance`` averaged over channels with weights ``m2_t``, as
        scikit-learn's ``multioutput="variance_weighted"`` (those requested)."""
        return dict(self._vw)

    @property
    def per_channel(self) -> Dict[str, np.ndarray]:
        """``{"count": int64[C], metric: float64[C], ...}``."""
        out: Dict[str, np.ndarray] = {"count": self._per_channel_count}
        for i, n in enumerate(self._names):
            out[n] = self._per_channel[i]
        return out

    @property
    def by_axis(self) -> Dict[str, Any]:
        """``{"axis": a, "count": int64[L], metric: float64[L], ...}``: the headline restricted to
        each index of the breakdown axis; ``{}`` without a breakdown."""
        if self._by_axis is None:
            return {}
        out: Dict[str, Any] = {"axis": self._by_axis_index, "count": self._by_axis_count}
        for i, n in enumerate(self._names):
            out[n] = self._by_axis[i]
        return out

    @property
    def by_axis_per_channel(self) -> Optional[Dict[str, np.ndarray]]:
        """``{metric: float64[L, C]}``: each channel's metric restricted to each index of the
        breakdown axis (``by_axis`` is their mean over channels); None without a breakdown."""
        if self._by_axis_pc is None:
            return None
        return {n: self._by_axis_pc[i] for i, n in enumerate(self._names)}

    def plot(self, kind: str = "auto", metric: Optional[str] = None, per_channel: bool = False,
             channels: Optional[Sequence[int]] = None, ax: Any = None) -> Tuple[Any, Any]:
        """A matplotlib figure of this report, ``(fig, ax)`` (needs ``gpueval[plot]``).

        ``kind``: ``"channels"`` (``metric`` per channel, bars, with the headline),
        ``"by_axis"`` (``metric`` against the breakdown index; ``per_channel=True`` adds every
        channel's curve, or those in ``channels``), ``"heatmap"`` (``metric`` per index and
        channel), or ``"auto"`` (``by_axis`` with a breakdown, ``channels`` otherwise).
        ``metric`` defaults to rmse (or mse, mae, the first). ``ax``: draw into these axes."""
        from ._regression_plot import regression
        return regression(self, kind, metric, per_channel, channels, ax)

    @property
    def by_axis_index(self) -> Optional[int]:
        """The breakdown axis (an axis of the batch tensor), or None."""
        return self._by_axis_index

    @property
    def count(self) -> int:
        """Pairs folded, all keys (weighted: the pairs with a weight > 0)."""
        return int(self._info["count"])

    @property
    def weight_sum(self) -> float:
        """The pairs' weights summed (``update(..., weight=)``): ``count`` when unweighted."""
        return float(self._info["weight_sum"])

    @property
    def skipped_nonfinite(self) -> int:
        """Pairs dropped under ``nan_policy="skip"`` because a value was NaN or infinite."""
        return int(self._info["skipped_nonfinite"])

    @property
    def channels(self) -> int:
        return int(self._info["channels"])

    @property
    def device(self) -> str:
        """Where the evaluation ran: ``"cpu (8 threads)"``, ``"cuda:0"``."""
        return str(self._info["device"])

    @property
    def task(self) -> str:
        return str(self._info["task"])

    @property
    def quantile_sketch(self) -> Optional[Dict[str, Any]]:
        """With error quantiles (``median_absolute_error``, ``abs_error_q90``,
        ``abs_error_q99``): ``{"relative_accuracy": a, "mantissa_bits": b}``, every quantile
        within a of the exact one, relatively (for absolute errors from 2^-64 to 2^64; smaller
        ones count as 0). Their ``by_axis`` values are NaN: the sketch is per channel. None
        otherwise."""
        q = self._info.get("quantile_sketch")
        return None if q is None else dict(q)

    @property
    def spec(self) -> Dict[str, Any]:
        """The spec that produced the report, as in the JSON."""
        return copy.deepcopy(self._info["spec"])

    @property
    def version(self) -> str:
        """The gpueval version that computed the report."""
        return str(self._info["version"])

    # ---- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object of schema ``gpueval.report/1``: exactly what ``gpu-eval --format
        json`` prints for the same data (non-finite values as None)."""
        if self._dict is None:
            self._dict = json.loads(self._core.to_json())
        return copy.deepcopy(self._dict)

    def to_json(self, indent: Optional[int] = None) -> str:
        """The report as JSON text (every value round-trips)."""
        if self._core is not None and indent is None:
            return self._core.to_json()
        return json.dumps(self.to_dict(), indent=indent)

    # ---- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(self._names, self._headline))
        return f"<gpueval.Report {self.task}: {self.count} pairs on {self.device}: {shown}>"

    def __str__(self) -> str:
        width = max(len(n) for n in self._names) if self._names else 6
        lines = [f"gpueval {self.task} report: {self.count} pairs, {self.channels} channel(s), "
                 f"{self.skipped_nonfinite} skipped, on {self.device}",
                 f"{'metric':<{width}}  {'headline':>14}  {'flat':>14}"]
        for n, h, f in zip(self._names, self._headline, self._flat):
            lines.append(f"{n:<{width}}  {h:>14.8g}  {f:>14.8g}")
        return "\n".join(lines)

    def __reduce__(self):
        return (Report.from_dict, (self.to_dict(),))
