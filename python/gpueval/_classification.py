"""gpueval.Classification: exact classification metrics over an epoch, streamed one batch at a
time, from integer counts."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from . import _classification_plot, _core, _families
from ._classification_report import ClassificationReport
from ._evaluator import StreamingEvaluator, metric_text, state_bytes


class Classification(StreamingEvaluator):
    """Exact classification metrics over an epoch, streamed one batch at a time.

    Every statistic is an integer count (the confusion matrix, per-class counts, top-k hits,
    calibration bins) or an exact fixed-point sum (log loss, Brier score, confidences), so the
    result is the same, bit for bit, whatever the batch split, thread count or device.

    Args:
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        num_classes: the number of classes (multiclass) or labels (multilabel); binary: 2 or
            None.
        metrics: ``"default"`` (every metric the task and inputs support but the opt-in ones),
            ``"all"``, a comma-separated string or a list of names
            (``gpueval.metric_names("all", family="classification")``).
        scores: ``"probabilities"`` or ``"logits"`` (a sigmoid, or a softmax over the class
            axis, in double).
        pred: ``"auto"`` (float predictions are scores, integer and bool ones labels;
            multiclass scores have the class axis the targets lack), ``"scores"`` or
            ``"labels"``.
        threshold: binary and multilabel: a probability above it is a positive.
        class_axis: the class axis of multiclass scores (``[N, C, ...]``, as TorchMetrics), or
            the label axis of multilabel predictions and targets.
        top_k: multiclass scores: also report ``top_k_accuracy`` (the target among the k
            highest scores).
        ignore_index: targets equal to it are dropped and counted.
        bins: calibration bins (equal width on [0, 1]) for ``ece`` and ``mce``.
        beta: the F-beta score's beta (``fbeta`` is reported by default when beta != 1).
        zero_division: the value of a ratio whose denominator is 0 (precision, recall,
            F-scores, specificity, jaccard, a weighted average over no support): ``0`` (the
            default, as scikit-learn's ``"warn"``), ``1`` or ``"nan"`` (``float("nan")`` too);
            NaN values are left out of the macro and weighted averages, as scikit-learn does.
        pos_label: binary: the positive class, ``0`` or ``1`` (the default). The scores stay
            those of class 1; with ``0``, precision, recall, the F-scores, specificity and
            jaccard are class 0's and ``average_precision`` ranks by the negated score (AUROC,
            accuracy, MCC and the proper scores do not change; no ROC and PR curves).
        class_names: one name per class (label, for multilabel), in index order. They name
            the classes in the report (``r.class_names``, ``r.by_class(metric)``) and its plots,
            and string targets and label predictions (numpy string or object arrays, lists of
            str) are mapped to indices through them on the host (a CUDA evaluator takes
            indices). ``num_classes`` defaults to their number.
        labels: multiclass and multilabel: the class indices the macro, weighted and micro
            averages take (scikit-learn's ``labels``: a subset, or classes the data may not
            contain). Default: multiclass, the classes in the targets or the predictions;
            multilabel, every label. The per-class values cover every class either way.
        histogram_budget: bytes the ``auroc`` / ``average_precision`` histograms may take (two
            per class; default 256 MiB): 16-bit scores use 16 bits per histogram and are exact,
            wider ones as many bits as fit, at most 24, with a reported bound on the error.
        nan_policy: what a NaN or infinite target, label or score does: ``"skip"`` (dropped
            and counted), ``"propagate"`` (every metric NaN) or ``"error"`` (``compute`` raises
            :class:`NonFiniteError` naming the first one).
        invalid: what a finite value that cannot be what the spec says does (a probability
            outside [0, 1], a multiclass probability row that does not sum to 1 within 1e-3 plus
            the dtype's epsilon, a target or label outside the classes):
            ``"error"`` (the default: ``compute`` raises :class:`NonFiniteError`, a
            ``ValueError``, naming the first one and the fix, e.g. ``scores="logits"``) or
            ``"skip"`` (dropped and counted in ``skipped_invalid``).
        num_labels: TorchMetrics' name for ``num_classes`` of a multilabel task.
        confusion_matrix: binary and multiclass: whether the record holds the C x C confusion
            matrix (``r.confusion_matrix``); ``None`` (the default) while C <= 1024. Without it
            the record holds three counts per class, up to 2^18 classes, and every other metric
            is the same, bit for bit (weighted linear and quadratic kappas need the matrix).
        by_axis: binary and multiclass: a breakdown axis of the targets (1 or later, negative
            from the end), e.g. ``1`` for the positions of ``[batch, time]`` tokens. The report's
            ``r.by_axis`` then holds, per index of that axis, the samples counted and the
            per-sample metrics among the reported ones (``accuracy``, ``top_k_accuracy``,
            ``log_loss``, ``nll``, ``perplexity``, ``bits_per_token``, ``brier``): loss and
            accuracy by sequence position. ``r.plot("by_axis")`` draws them.
        validate_args: TorchMetrics' switch: ``False`` is ``invalid="skip"`` (invalid values
            are dropped and counted instead of raising), ``True`` is ``invalid="error"``.
            Shapes, dtypes and devices are checked either way: a batch whose shape cannot be
            what the spec says has no right number to give.
        device, threads, sample_shape, process_group: as for :class:`Regression`
            (``sample_shape`` is the targets' shape without the batch axis).
    """

    def __init__(self, task: str = "binary", num_classes: Optional[int] = None,
                 metrics: Union[str, Sequence[str]] = "default", scores: str = "probabilities",
                 pred: str = "auto", threshold: float = 0.5, class_axis: int = 1,
                 top_k: Optional[int] = None, ignore_index: Optional[int] = None,
                 bins: int = 15, beta: float = 1.0, nan_policy: str = "skip",
                 device: Any = "auto", threads: int = 0,
                 sample_shape: Optional[Sequence[int]] = None, process_group: Any = None,
                 histogram_budget: int = 256 << 20, invalid: Optional[str] = None,
                 num_labels: Optional[int] = None, zero_division: Any = 0,
                 labels: Optional[Sequence[int]] = None, pos_label: int = 1,
                 class_names: Optional[Sequence[str]] = None,
                 validate_args: Optional[bool] = None,
                 confusion_matrix: Optional[bool] = None,
                 by_axis: Optional[int] = None) -> None:
        tasks = _families.tasks_by_family()["classification"]
        if task not in tasks:
            raise ValueError(f"unknown classification task {task!r}; use {', '.join(tasks[:-1])} "
                             f"or {tasks[-1]}")
        if num_labels is not None:
            if task != "multilabel":
                raise ValueError(f"num_labels is for task='multilabel'; task {task!r} takes "
                                 "num_classes")
            if num_classes is not None and int(num_classes) != int(num_labels):
                raise ValueError(f"num_labels={num_labels} and num_classes={num_classes} "
                                 "disagree; give one")
            num_classes = num_labels
        if validate_args is not None:
            implied = "error" if validate_args else "skip"
            if invalid is not None and invalid != implied:
                raise ValueError(f"validate_args={validate_args} means invalid={implied!r}, but "
                                 f"invalid={invalid!r} was given; give one of them")
            invalid = implied
        invalid = "error" if invalid is None else invalid
        names = None
        if class_names is not None:
            names = [str(n) for n in class_names]
            if any("," in n for n in names):
                raise ValueError("class names may not contain commas (the option's separator): "
                                 f"{[n for n in names if ',' in n]}")
            if num_classes is None and task != "binary":
                num_classes = len(names)
        if sample_shape is not None:
            sample_shape = [int(d) for d in sample_shape]
        zd = _zero_division_text(zero_division)
        if labels is not None:
            if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
                raise ValueError(f"labels is a sequence of class indices, not {labels!r}")
            labels = [int(x) for x in labels]
            if any(x < 0 for x in labels):
                raise ValueError(f"labels {labels} holds a negative class index")
            labels = labels or None
        kwargs = dict(task=task, num_classes=0 if num_classes is None else int(num_classes),
                      metrics=metric_text(metrics), scores=scores, pred=pred,
                      threshold=float(threshold), class_axis=int(class_axis),
                      top_k=0 if top_k is None else int(top_k),
                      ignore_index=None if ignore_index is None else int(ignore_index),
                      bins=int(bins), beta=float(beta), nan_policy=nan_policy,
                      invalid=invalid, histogram_budget=int(histogram_budget),
                      zero_division=zd, labels=labels, pos_label=int(pos_label),
                      class_names=None if names is None else ",".join(names),
                      confusion_matrix="auto" if confusion_matrix is None else
                      ("on" if confusion_matrix else "off"),
                      by_axis=None if by_axis is None else int(by_axis))
        self._setup(kwargs, device, threads, sample_shape, process_group)
        self._kwargs["num_classes"] = num_classes
        self._kwargs["top_k"] = top_k
        self._name_index = None if names is None else {n: i for i, n in enumerate(names)}

    def _indices(self, values: Any, role: str) -> Any:
        """String class names as int64 class indices (class_names); anything else as it is."""
        if isinstance(values, (list, tuple)) and (
                (values and isinstance(values[0], str)) or
                (not values and self._name_index is not None)):
            values = np.asarray(values, dtype=object)
        kind = getattr(getattr(values, "dtype", None), "kind", None)
        if not isinstance(values, np.ndarray) or kind not in ("U", "S", "O"):
            return values
        if self._name_index is None:
            raise ValueError(f"{role} holds strings, but this evaluator has no class_names; give "
                             "class_names=[...] (one per class, in index order) or class indices")
        if self._cuda_index >= 0:
            raise ValueError(f"{role} holds class names, which are mapped on the host; this "
                             "evaluator runs on a CUDA device: pass class indices")
        uniques, inverse = np.unique(values, return_inverse=True)
        lookup = []
        for u in uniques:
            key = u.decode() if isinstance(u, bytes) else str(u)
            if key not in self._name_index:
                raise ValueError(f"{role} holds {key!r}, which is not in class_names "
                                 f"{list(self._name_index)}")
            lookup.append(self._name_index[key])
        return np.asarray(lookup, dtype=np.int64)[inverse].reshape(values.shape)

    def _core_kwargs(self) -> Dict[str, Any]:
        k = dict(self._kwargs)
        k["num_classes"] = 0 if k["num_classes"] is None else k["num_classes"]
        k["top_k"] = 0 if k["top_k"] is None else k["top_k"]
        return k

    def _task(self) -> str:
        return str(self._kwargs["task"])

    def _options(self) -> Dict[str, Any]:
        k = self._core_kwargs()
        return {key: k[key] for key in (
            "num_classes", "metrics", "scores", "pred", "threshold", "class_axis", "top_k",
            "ignore_index", "bins", "beta", "nan_policy", "invalid", "sample_shape",
            "histogram_budget", "zero_division", "labels", "pos_label", "class_names",
            "confusion_matrix", "by_axis")}

    def _report(self, core: Any, stream: int,
                device_label: Optional[str]) -> ClassificationReport:
        return ClassificationReport._from_engine(*core.compute(stream, device_label))

    def _spec_for_ranks(self) -> Dict[str, Any]:
        k = self._core_kwargs()
        return {"family": "classification", **{key: k[key] for key in (
            "task", "num_classes", "metrics", "scores", "pred", "threshold", "class_axis",
            "top_k", "ignore_index", "bins", "beta", "nan_policy", "invalid", "histogram_budget",
            "confusion_matrix", "by_axis",
            "zero_division", "labels", "pos_label", "class_names")}}

    def update(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
               stream: Any = None) -> "Classification":
        pred, target = self._indices(pred, "pred"), self._indices(target, "target")
        return super().update(pred, target, mask, weight, stream)  # type: ignore[return-value]

    update.__doc__ = StreamingEvaluator.update.__doc__

    def compute(self, stream: Any = None, sync: Optional[bool] = None) -> ClassificationReport:
        return super().compute(stream, sync)

    compute.__doc__ = StreamingEvaluator.compute.__doc__

    def __call__(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
                 stream: Any = None) -> ClassificationReport:
        pred, target = self._indices(pred, "pred"), self._indices(target, "target")
        return super().__call__(pred, target, mask, weight, stream)

    __call__.__doc__ = StreamingEvaluator.__call__.__doc__

    @classmethod
    def from_state(cls, state: Any, metrics: Union[None, str, Sequence[str]] = None,
                   device: Any = "auto", threads: int = 0,
                   **report_options: Any) -> "Classification":
        """An evaluator holding a saved state (``state()``, ``gpu-eval --save-state``), with the
        spec the state was made with. The options that only shape the report and so are not in
        a state can be given: ``beta`` (a state with ``fbeta_samples`` sums has its own, the
        default here), ``zero_division``, ``labels``, ``pos_label``, ``class_names``."""
        allowed = {"beta", "zero_division", "labels", "pos_label", "class_names"}
        unknown = sorted(set(report_options) - allowed)
        if unknown:
            raise TypeError(f"from_state() takes the report's options {sorted(allowed)}; the "
                            f"state fixes the others, not {unknown}")
        blob = state_bytes(state)
        info = _core.inspect_classification_state(blob)
        report_options.setdefault("beta", info["beta"])  # fbeta_samples' sums fix theirs
        ev = cls(**report_options, task=info["task"], num_classes=info["num_classes"],
                 metrics="default" if metrics is None else metrics, scores=info["scores"],
                 pred=info["pred"], threshold=info["threshold"], class_axis=info["class_axis"],
                 top_k=info["top_k"] or None, ignore_index=info["ignore_index"],
                 bins=info["bins"], nan_policy=info["nan_policy"], invalid=info["invalid"],
                 device=device,
                 threads=threads, sample_shape=info["sample_shape"] or None,
                 histogram_budget=info["histogram_budget"],
                 confusion_matrix=info["confusion_matrix"], by_axis=info["by_axis"])
        return ev.merge(blob)  # type: ignore[return-value]

    def __repr__(self) -> str:
        k = self._kwargs
        return (f"gpueval.Classification(task={k['task']!r}, num_classes={k['num_classes']}, "
                f"metrics={k['metrics']!r}, scores={k['scores']!r}, top_k={k['top_k']}, "
                f"invalid={k['invalid']!r}, device={self.device!r}, batches={self.batches})")


def _zero_division_text(value: Any) -> str:
    """zero_division as the engine reads it: "0", "1" or "nan"."""
    if isinstance(value, str):
        if value in ("0", "1", "nan"):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:
            return "nan"
        if value in (0, 1):
            return str(int(value))
    raise ValueError(f"zero_division must be 0, 1 or 'nan' (scikit-learn's values), not {value!r}")


_families.register(_families.FamilyParts("classification", Classification, ClassificationReport,
                                         _classification_plot, _core.classification_metric_table))
