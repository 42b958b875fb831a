"""gpueval.Geometry: errors of vectors (pose joints, optical flow, trajectories) over an epoch,
streamed one batch at a time."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _core, _families, _geometry_plot
from ._evaluator import StreamingEvaluator, metric_text, state_bytes
from ._geometry_report import GeometryReport


def _thresholds(values: Union[None, float, Sequence[float]]) -> Optional[List[float]]:
    """pck_thresholds as a list of floats (None: none)."""
    if values is None:
        return None
    if isinstance(values, (int, float)):
        values = [values]
    out = [float(v) for v in values]
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"pck_thresholds must be finite, not {v}")
    return out or None


class Geometry(StreamingEvaluator):
    """Exact errors of vectors over an epoch, streamed one batch at a time: pose estimation
    (MPJPE, PA-MPJPE, N-MPJPE, PCK and its AUC), optical flow (EPE, 1/3/5-pixel accuracy,
    KITTI's outlier rate) and trajectories (ADE). Each vector's error is ``|p - t|`` along
    ``vector_axis``; every statistic is an exact sum, so the report is the same bits for any
    batch split, thread count or merge order.

    Args:
        metrics: ``"default"`` (every metric the inputs support: ``pa_mpjpe`` for vectors of
            2 or 3 components, ``pck@T`` when ``pck_thresholds`` are given), a comma-separated
            string or a list of names (``gpueval.metric_names("all", "geometry")``).
        vector_axis: the axis of a vector's components (``-1``: ``[N, J, 3]`` poses; ``1``:
            ``[N, 2, H, W]`` flow, read in place). ``None`` (the default): the last axis when it
            has at most 4 components, else a ``ValueError`` that asks for the axis (a flow field
            read along its width would give plausible, wrong errors).
        key_axis: an axis whose index has its own metrics (the joint axis ``1`` of
            ``[N, J, 3]``: ``r.per_key["mpjpe"]`` is the error by joint), or ``None``.
        time_axis: the targets' time axis: ``fde`` is the mean error at its last index (and
            with modes ``min_fde``, ``min_ade_by_fde``, ``miss_rate``).
        mode_axis: ``1`` when the predictions hold K hypotheses, ``[N, K, ...]`` against targets
            ``[N, ...]`` (trajectory forecasting): the metrics become each sample's best mode's,
            ``min_ade`` (the least ADE over the modes), ``min_fde`` (the least FDE),
            ``min_ade_by_fde`` (the ADE of the mode with the least FDE: Argoverse's minADE) and
            ``miss_rate`` (least FDE over ``miss_threshold``); a sample is a batch row.
        by_axis: an axis of the targets: every vector metric per index (``r.by_axis``: the
            error against the horizon of motion prediction), or ``None``.
        sample_axes: the axes of the targets whose vectors form one sample for ``pa_mpjpe``
            and ``n_mpjpe`` (``[2]`` for the joints of ``[N, T, J, 3]``: each frame aligned on
            its own); default: every axis but the batch and vector axes (a batch row).
        miss_threshold: ``miss_rate``'s threshold on a sample's least FDE (Argoverse: 2.0 m).
        quantile_alpha: the relative accuracy of ``median_error``, ``error_q90`` and
            ``error_q99`` (opt-in: a sketch of every vector's error over the epoch, 128 KiB at
            the default; not weighted).
        pck_thresholds: thresholds of ``pck`` (reported as ``pck@T``), e.g. ``[150]`` for 3DPCK
            in millimetres.
        auc_max, auc_steps: ``auc_pck`` is the mean of the PCK curve at ``auc_steps``
            thresholds from 0 to ``auc_max`` (150 mm in 31 steps, Mehta et al. 2017).
        outlier_abs, outlier_rel: ``outlier_rate`` counts errors over both ``outlier_abs`` and
            ``outlier_rel`` times the target vector's length (KITTI 2015's 3 px and 5%).
        pck_normalized: ``True`` when every update passes a ``normalizer`` (PCKh: ``pck`` and
            ``auc_pck`` compare each error divided by it); ``None`` (the default): decided by the
            first update, which later ones must follow.
        nan_policy: ``"skip"`` (leave out and count vectors with a NaN or infinite component),
            ``"propagate"`` (their keys' metrics are NaN) or ``"error"``.
        device, threads, sample_shape, process_group: as for :class:`Regression`.

    ``pa_mpjpe`` and ``n_mpjpe`` align each sample (a batch row: all its vectors) to its target
    before the errors are taken, as VideoPose3D's ``p_mpjpe`` and ``n_mpjpe``: the similarity
    transform of least squares (scale, rotation without reflection, translation), or the scale
    alone. Masked vectors (``mask`` or ``weight`` 0) are left out of the alignment too.
    """

    def __init__(self, metrics: Union[str, Sequence[str]] = "default", vector_axis: Optional[int] = None,
                 key_axis: Optional[int] = None, time_axis: Optional[int] = None,
                 mode_axis: Optional[int] = None, by_axis: Optional[int] = None,
                 sample_axes: Optional[Sequence[int]] = None,
                 miss_threshold: float = 2.0, quantile_alpha: float = 0.005,
                 pck_thresholds: Union[None, float, Sequence[float]] = None, auc_max: float = 150.0,
                 auc_steps: int = 31, outlier_abs: float = 3.0, outlier_rel: float = 0.05,
                 pck_normalized: Optional[bool] = None, nan_policy: str = "skip", device: Any = "auto", threads: int = 0,
                 sample_shape: Optional[Sequence[int]] = None, process_group: Any = None) -> None:
        if sample_shape is not None:
            sample_shape = [int(d) for d in sample_shape]
        def axis(a: Optional[int]) -> Optional[int]:
            return None if a is None else int(a)

        kwargs = dict(metrics=metric_text(metrics), vector_axis=axis(vector_axis),
                      key_axis=axis(key_axis), time_axis=axis(time_axis),
                      mode_axis=axis(mode_axis), by_axis=axis(by_axis),
                      sample_axes=None if sample_axes is None else [int(a) for a in sample_axes],
                      miss_threshold=float(miss_threshold),
                      quantile_alpha=float(quantile_alpha),
                      pck_thresholds=_thresholds(pck_thresholds), auc_max=float(auc_max),
                      auc_steps=int(auc_steps), outlier_abs=float(outlier_abs),
                      outlier_rel=float(outlier_rel),
                      pck_normalized=None if pck_normalized is None else bool(pck_normalized),
                      nan_policy=nan_policy)
        self._setup(kwargs, device, threads, sample_shape, process_group)

    def _task(self) -> str:
        return "geometry"

    def _options(self) -> Dict[str, Any]:
        k = self._kwargs
        return {"metrics": k["metrics"], "vector_axis": k["vector_axis"],
                **{name: "none" if k[name] is None else k[name]
                   for name in ("key_axis", "time_axis", "mode_axis", "by_axis")},
                "miss_threshold": k["miss_threshold"], "quantile_alpha": k["quantile_alpha"],
                "sample_axes": k["sample_axes"] or None,
                "pck_thresholds": (None if k["pck_thresholds"] is None else
                                   ",".join(repr(v) for v in k["pck_thresholds"])),
                "auc_max": k["auc_max"],
                "auc_steps": k["auc_steps"], "outlier_abs": k["outlier_abs"],
                "outlier_rel": k["outlier_rel"], "nan_policy": k["nan_policy"],
                "pck_normalized": (None if k["pck_normalized"] is None else
                                   str(k["pck_normalized"]).lower()),
                "sample_shape": k["sample_shape"]}

    def _report(self, core: Any, stream: int, device_label: Optional[str]) -> GeometryReport:
        return GeometryReport.from_json(core.compute(stream, device_label))

    def _spec_for_ranks(self) -> Dict[str, Any]:
        return {"family": "geometry",
                **{k: v for k, v in self._kwargs.items()
                   if k not in ("device", "threads", "sample_shape")}}

    def update(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
               normalizer: Any = None, stream: Any = None) -> "Geometry":
        """Folds one batch: ``pred`` and ``target`` of one shape with the vector axis (with
        ``mode_axis``, ``pred`` has the K modes after the batch axis); ``mask`` (visibility,
        nonzero = include) and ``weight`` of the targets' shape without the vector axis, or a
        prefix of it (``[N]``: whole samples). ``normalizer`` (PCKh): a float array of the same
        shapes, finite and > 0 (the head size per sample, ``[N]``): ``pck@T`` and ``auc_pck``
        count a vector whose error divided by its normalizer is under T; the other metrics are
        unchanged. Pass it to every update or to none (``ValueError`` otherwise)."""
        self._fold(pred, target, mask, weight, stream, {"normalizer": normalizer})
        return self

    def compute(self, stream: Any = None, sync: Optional[bool] = None) -> GeometryReport:
        return super().compute(stream, sync)

    compute.__doc__ = StreamingEvaluator.compute.__doc__

    def __call__(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
                 normalizer: Any = None, stream: Any = None) -> GeometryReport:
        return self._fold_and_report(pred, target, mask, weight, stream,
                                     {"normalizer": normalizer})

    __call__.__doc__ = StreamingEvaluator.__call__.__doc__

    @classmethod
    def from_state(cls, state: Any, metrics: Union[None, str, Sequence[str]] = None,
                   device: Any = "auto", threads: int = 0) -> "Geometry":
        """An evaluator holding a saved state (``state()``, ``gpu-eval --save-state``), with the
        spec the state was made with (a geometry state reports the metrics it was made with)."""
        blob = state_bytes(state)
        info = _core.inspect_geometry_state(blob)
        if metrics is not None and metric_text(metrics) not in ("default",
                                                                ",".join(info["metrics"])):
            raise ValueError(f"a geometry state reports the metrics it was made with "
                             f"({', '.join(info['metrics'])}), not {metrics!r}")
        ev = cls(metrics=info["metrics"], vector_axis=info["vector_axis"],
                 key_axis=info["key_axis"], time_axis=info["time_axis"],
                 mode_axis=info["mode_axis"], by_axis=info["by_axis"],
                 sample_axes=info["sample_axes"] or None,
                 miss_threshold=info["miss_threshold"], quantile_alpha=info["quantile_alpha"],
                 pck_thresholds=info["pck_thresholds"] or None,
                 auc_max=info["auc_max"], auc_steps=info["auc_steps"],
                 outlier_abs=info["outlier_abs"], outlier_rel=info["outlier_rel"],
                 nan_policy=info["nan_policy"], device=device, threads=threads,
                 sample_shape=info["sample_shape"] or None)
        return ev.merge(blob)  # type: ignore[return-value]

    def __repr__(self) -> str:
        k = self._kwargs
        return (f"gpueval.Geometry(metrics={k['metrics']!r}, vector_axis={k['vector_axis']}, "
                f"key_axis={k['key_axis']}, device={self.device!r}, batches={self.batches})")


_families.register(_families.FamilyParts("geometry", Geometry, GeometryReport, _geometry_plot,
                                         _core.geometry_metric_table))
