"""The result of Classification.compute(): the metrics, per class, the confusion matrix and the
calibration bins, as Python values."""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from ._report import SCHEMA, _DictReport, _frozen
from ._report import _json_floats as _floats

TASKS = ("binary", "multiclass", "multilabel")


def _json_list(values: Any) -> Any:
    """A curve as the JSON's list: the engine's float64 array (non-finite values as None), or a
    list read from JSON as it is."""
    if isinstance(values, np.ndarray):
        return [x if math.isfinite(x) else None for x in values.tolist()]
    return list(values)


class ClassificationReport(_DictReport):
    """The metrics of a classification evaluation, as returned by
    ``Classification.compute()``.

    A read-only mapping from metric name to value: ``r["accuracy"]``, and for multiclass and
    multilabel tasks ``r["f1_macro"]``, ``r["precision_micro"]``, ``r["recall_weighted"]``
    (binary tasks report the positive class as ``r["f1"]``). ``dict(r)`` logs them all.

    - ``r.per_class``: ``{"support": int64[C], "f1": float64[C], ...}`` (multilabel adds the
      label counts ``tp``, ``fp``, ``fn``, ``tn``);
    - ``r.confusion_matrix``: int64 ``[C, C]``, rows are targets (binary and multiclass), else
      None;
    - ``r.calibration``: ``{"bins": B, "count": int64[B], "confidence": float64[B],
      "accuracy": float64[B]}`` for scores (binary and multiclass), else None.

    - ``r.by_axis``: with a breakdown axis (``by_axis=``), ``{"axis": a, "count": int64[L],
      "accuracy": float64[L], "perplexity": float64[L], ...}``, each metric per index of the
      axis (NaN where no sample was counted), else None.

    With sample weights (``r.weighted``), the counts above are the weight sums the metrics come
    from, as float64 (scikit-learn's ``confusion_matrix(..., sample_weight=w)``); ``r.count``
    stays the number of samples and ``r.weight_sum`` is their weight.

    ``r.to_dict()`` is the JSON object ``gpu-eval --format json`` prints (schema
    ``gpueval.report/1``, with ``task`` set), ``Report``-style ``from_dict`` / ``from_json``
    read one back. NaN marks a value that is not defined (no samples, say).
    """

    __slots__ = ("_d", "_names", "_index", "_headline")

    def __init__(self) -> None:
        raise TypeError("a ClassificationReport comes from Classification.compute(), "
                        "ClassificationReport.from_dict() or from_json()")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ClassificationReport":
        """A report from the JSON object ``gpu-eval --format json`` and ``to_dict()`` write."""
        return cls._of(d, copy.deepcopy)

    @classmethod
    def _of(cls, d: Mapping[str, Any], keep: Any) -> "ClassificationReport":
        """from_dict, keeping ``keep(dict(d))``: a copy of a caller's dict, or a freshly parsed
        one as it is."""
        if not isinstance(d, Mapping):
            raise TypeError(f"a report is a dict (the JSON object), not {type(d).__qualname__}")
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a gpueval report: schema is {d.get('schema')!r}, expected "
                             f"{SCHEMA!r}")
        if d.get("task") not in TASKS:
            raise ValueError(f"report task {d.get('task')!r} is not a classification task "
                             f"({', '.join(TASKS)})")
        r = object.__new__(cls)
        try:
            r._names = tuple(d["metrics"])
            r._index = {n: i for i, n in enumerate(r._names)}
            r._headline = _floats([d["metrics"][n] for n in r._names])
            for key in ("per_class", "confusion_matrix", "calibration", "count", "classes"):
                d[key]
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed gpueval report: {type(e).__name__}: {e}") from None
        r._d = keep(dict(d))
        return r

    @classmethod
    def from_json(cls, text: str) -> "ClassificationReport":
        return cls._of(json.loads(text), lambda d: d)  # nobody else holds the parsed dict

    @classmethod
    def _from_engine(cls, text: str, curves: Mapping[str, np.ndarray]) -> "ClassificationReport":
        """The engine's report: its JSON without the curves, and the curves as float64 arrays
        (kept as they are; to_dict() writes them as lists)."""
        d = json.loads(text)
        for curve, x, y in (("roc", "fpr", "tpr"), ("pr", "recall", "precision")):
            if f"{curve}_{x}" in curves:
                d[curve] = {x: curves[f"{curve}_{x}"], y: curves[f"{curve}_{y}"],
                            "threshold": curves[f"{curve}_threshold"]}
        return cls._of(d, lambda kept: kept)

    # ---- sections (the mapping itself is _MetricMapping's) ----------------------------------

    @property
    def per_class(self) -> Dict[str, np.ndarray]:
        """``{"support": int64[C], metric: float64[C], ...}``."""
        out: Dict[str, np.ndarray] = {}
        for name, values in self._d["per_class"].items():
            if name in ("support", "tp", "fp", "fn", "tn"):
                out[name] = _frozen(values, self._count_dtype)
            else:
                out[name] = _floats(values)
        return out

    @property
    def by_axis(self) -> Optional[Dict[str, Any]]:
        """``{"axis": a, "count": int64[L] (weighted: float64 weight sums), metric: float64[L],
        ...}`` per index of the breakdown axis; None without one (``by_axis=``)."""
        ba = self._d.get("by_axis")
        if ba is None:
            return None
        out: Dict[str, Any] = {"axis": int(ba["axis"]),
                               "count": _frozen(ba["count"], self._count_dtype)}
        for name, values in ba.items():
            if name not in ("axis", "count"):
                out[name] = _floats(values)
        return out

    @property
    def confusion_matrix(self) -> Optional[np.ndarray]:
        """int64 [C, C] (weighted: float64 weight sums), rows are targets and columns
        predictions; None for multilabel."""
        m = self._d["confusion_matrix"]
        return None if m is None else _frozen(m, self._count_dtype)

    @property
    def weighted(self) -> bool:
        """Whether sample weights were given: the counts are then weight sums."""
        return "weight_sum" in self._d

    @property
    def weight_sum(self) -> float:
        """The folded samples' weight sum (``count`` when unweighted)."""
        return float(self._d.get("weight_sum", self._d["count"]))

    @property
    def _count_dtype(self) -> Any:
        return np.float64 if self.weighted else np.int64

    @property
    def class_names(self) -> Optional[Tuple[str, ...]]:
        """The spec's class names (index order), or None."""
        names = self._d["spec"].get("class_names")
        return None if names is None else tuple(names)

    def by_class(self, metric: str) -> Dict[Any, float]:
        """A per-class metric keyed by class name (``class_names``) or index:
        ``r.by_class("f1")["cat"]``."""
        values = self.per_class[metric]
        keys = self.class_names or tuple(range(len(values)))
        return {k: (int(v) if values.dtype.kind in "iu" else float(v))
                for k, v in zip(keys, values)}

    def normalized_confusion_matrix(self, normalize: str = "true") -> Optional[np.ndarray]:
        """The confusion matrix as float64 fractions, as scikit-learn's ``confusion_matrix(...,
        normalize=)``: ``"true"`` divides each row by its targets, ``"pred"`` each column by its
        predictions, ``"all"`` by every sample; an empty row or column gives 0. None for
        multilabel."""
        if normalize not in ("true", "pred", "all"):
            raise ValueError(f"normalize must be 'true', 'pred' or 'all' (scikit-learn's "
                             f"values), not {normalize!r}")
        cm = self.confusion_matrix
        if cm is None:
            return None
        m = cm.astype(np.float64)
        total = (m.sum(axis=1, keepdims=True) if normalize == "true" else
                 m.sum(axis=0, keepdims=True) if normalize == "pred" else m.sum())
        out = np.divide(m, total, out=np.zeros_like(m), where=np.asarray(total) > 0)
        out.flags.writeable = False
        return out

    def value(self, metric: str, average: Optional[str] = None) -> Any:
        """A metric by scikit-learn's and TorchMetrics' ``average=``: ``r.value("f1",
        average="macro")`` is ``r["f1_macro"]``; ``"micro"``, ``"weighted"`` likewise;
        ``"binary"`` (or None on a binary task) the positive class's value ``r["f1"]``;
        ``"none"`` the per-class array (scikit-learn's ``average=None`` is this method's
        default only for per-class metrics of multiclass and multilabel tasks); ``"samples"``
        (multilabel) ``r["f1_samples"]``, reported when the evaluator was asked for it
        (``metrics=[..., "f1_samples"]`` or ``"all"``). Metrics that are not averaged
        (accuracy, mcc, log_loss...) take no ``average``."""
        per_class = self._d.get("per_class", {})
        if average is None:
            if metric in self:
                return self[metric]
            average = "none"
        if average == "binary":
            if self.task != "binary":
                raise ValueError(f"average='binary' is for binary tasks; this one is "
                                 f"{self.task!r}: use 'micro', 'macro', 'weighted' or 'none'")
            return self[metric]
        if average == "none":
            if metric not in per_class:
                raise KeyError(f"no per-class values of {metric!r}; this report has them for: "
                               f"{', '.join(k for k in per_class if k != 'support')}")
            return self.per_class[metric]
        if average == "samples":
            if self.task != "multilabel":
                raise ValueError(f"average='samples' is for multilabel tasks; this one is "
                                 f"{self.task!r}")
            if f"{metric}_samples" not in self:
                raise KeyError(f"{metric}_samples is not in this report: ask the evaluator for "
                               f"it (metrics=[..., {metric + '_samples'!r}] or 'all')")
        elif average not in ("micro", "macro", "weighted"):
            raise ValueError(f"average must be 'binary', 'micro', 'macro', 'weighted', "
                             f"'samples' or 'none', not {average!r}")
        return self[f"{metric}_{average}"]

    @property
    def calibration(self) -> Optional[Dict[str, Any]]:
        """Per equal-width bin on [0, 1]: count, mean confidence, accuracy (NaN when empty)."""
        c = self._d["calibration"]
        if c is None:
            return None
        return {"bins": int(c["bins"]), "count": _frozen(c["count"], self._count_dtype),
                "confidence": _floats(c["confidence"]), "accuracy": _floats(c["accuracy"])}

    @property
    def histogram(self) -> Optional[Dict[str, Any]]:
        """The auroc / average_precision histograms: ``{"key": dtype, "bits": B, "exact": bool}``
        (exact: every distinct score has its own bin and the ``*_bound`` values are 0)."""
        h = self._d.get("histogram")
        return None if h is None else dict(h)

    @property
    def roc(self) -> Optional[Dict[str, np.ndarray]]:
        """Binary tasks with auroc: ``{"fpr", "tpr", "threshold"}``, at most 1,000 points,
        thresholds descending: the first point (0, 0) at +inf (the JSON's null), then the lowest
        score of each histogram bin kept."""
        c = self._d.get("roc")
        if c is None:
            return None
        out = {k: _floats(v) for k, v in c.items()}
        out["threshold"] = out["threshold"].copy()
        out["threshold"][0] = np.inf
        out["threshold"].flags.writeable = False
        return out

    @property
    def pr(self) -> Optional[Dict[str, np.ndarray]]:
        """Binary tasks with average_precision: ``{"recall", "precision", "threshold"}``."""
        c = self._d.get("pr")
        return None if c is None else {k: _floats(v) for k, v in c.items()}

    def plot(self, kind: str = "auto", metric: Optional[str] = None, normalize: Any = False,
             ax: Any = None) -> Tuple[Any, Any]:
        """A matplotlib figure of this report, ``(fig, ax)`` (needs ``gpueval[plot]``).

        ``kind``: ``"confusion_matrix"`` (a heatmap; ``normalize`` as
        :meth:`normalized_confusion_matrix`, ``True`` meaning ``"true"``: rows by their
        targets), ``"calibration"`` (the reliability diagram from the calibration bins),
        ``"roc"`` and ``"pr"`` (binary reports with auroc / average_precision), ``"by_axis"``
        (``metric`` per index of the breakdown axis, with ``by_axis=``),
        ``"per_class"`` (``metric`` per class, f1 by default), or ``"auto"`` (the confusion
        matrix where there is one). ``ax``: draw into these axes."""
        from ._classification_plot import classification
        return classification(self, kind, metric, normalize, ax)

    @property
    def count(self) -> int:
        """Samples folded."""
        return int(self._d["count"])

    @property
    def skipped_invalid(self) -> int:
        """Samples dropped: an invalid target, label or score (NaN included)."""
        return int(self._d["skipped_invalid"])

    @property
    def ignored(self) -> int:
        """Targets equal to ignore_index (labels, for multilabel)."""
        return int(self._d["ignored"])

    @property
    def classes(self) -> int:
        return int(self._d["classes"])

    @property
    def task(self) -> str:
        return str(self._d["task"])

    # ---- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object of schema ``gpueval.report/1``."""
        d = copy.deepcopy(self._d)
        for curve in ("roc", "pr"):  # arrays from the engine, as the JSON's lists
            if d.get(curve) is not None:
                d[curve] = {k: _json_list(v) for k, v in d[curve].items()}
        return d

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(self._names, self._headline))
        return (f"<gpueval.ClassificationReport {self.task}: {self.count} samples on "
                f"{self.device}: {shown}>")

    def __str__(self) -> str:
        width = max((len(n) for n in self._names), default=6)
        lines = [f"gpueval {self.task} report: {self.count} samples, {self.classes} classes, "
                 f"{self.skipped_invalid} invalid, {self.ignored} ignored, on {self.device}"]
        for n, v in zip(self._names, self._headline):
            lines.append(f"{n:<{width}}  {v:>14.8g}")
        return "\n".join(lines)

    def __reduce__(self):
        return (ClassificationReport.from_dict, (self.to_dict(),))
