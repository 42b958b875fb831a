"""gpueval.Regression: exact regression metrics over an epoch, streamed one batch at a time."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

from . import _core, _families, _regression_plot
from ._evaluator import StreamingEvaluator, metric_text, options_text, state_bytes
from ._regression_report import Report


class Regression(StreamingEvaluator):
    """Exact regression metrics over an epoch, streamed one batch at a time.

    Give every batch to ``update`` where it already lives (numpy, PyTorch, CuPy, JAX: anything
    with ``__dlpack__`` or the buffer protocol, any dtype gpueval reads, any strides; nothing is
    copied); ``compute`` returns the epoch's :class:`Report`. Memory does not grow with the
    data: the state is a few statistics per key.

    Args:
        metrics: ``"default"``, ``"all"``, a comma-separated string or a list of names
            (``gpueval.metric_names("all")`` lists them).
        channel_axis: the axis that holds channels, one record each (``-1``, the default: the
            last; ``1`` for ``[N, C, H, W]`` images, read in place), or ``None`` (every value one
            stream).
        by_axis: an axis of the batch tensor (``>= 1``) whose index becomes part of the key, for
            metrics by position (e.g. by forecast step in ``[batch, time, channel]``); ``None``
            for no breakdown.
        nan_policy: ``"skip"`` (drop and count pairs with a NaN or infinite value),
            ``"propagate"`` (fold them in) or ``"error"`` (``compute`` raises
            :class:`NonFiniteError` naming the first batch and element).
        device: ``"auto"`` (the device of the first update's arrays, so one loop runs on a
            laptop and on a GPU node), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Arrays on another
            device are a ``ValueError`` naming both.
        threads: CPU worker threads; 0 means one per hardware thread.
        sample_shape: the shape of one sample (a batch's shape without its first axis). It is
            otherwise taken from the first update; give it to allocate before the first batch
            (needed before capturing an update in a CUDA graph).
        process_group: the torch.distributed group ``compute()`` joins (default: the world
            group, when one is initialised).
        quantile_alpha: the relative accuracy of ``median_absolute_error``, ``abs_error_q90``
            and ``abs_error_q99`` (opt-in metrics from a per-channel sketch of the absolute
            errors; the report's ``quantile_sketch`` states the accuracy reached).

    Not thread-safe in the Python sense either: use one evaluator per thread, or order the
    calls yourself (concurrent calls are serialised, never corrupted).
    """

    def __init__(self, metrics: Union[str, Sequence[str]] = "default",
                 channel_axis: Optional[int] = -1, by_axis: Optional[int] = None,
                 nan_policy: str = "skip", device: Any = "auto", threads: int = 0,
                 sample_shape: Optional[Sequence[int]] = None, process_group: Any = None,
                 quantile_alpha: float = 0.005) -> None:
        if sample_shape is not None:
            sample_shape = [int(d) for d in sample_shape]
        text = metric_text(metrics)
        quantile_alpha = float(quantile_alpha)
        kwargs = dict(metrics=text, channel_axis=channel_axis, by_axis=by_axis,
                      nan_policy=nan_policy, quantile_alpha=quantile_alpha)
        self._names = _core.regression_metrics(
            options_text(self._options_of(dict(kwargs, sample_shape=sample_shape))))
        self._setup(kwargs, device, threads, sample_shape, process_group)

    @staticmethod
    def _options_of(k: Dict[str, Any]) -> Dict[str, Any]:
        return {"metrics": k["metrics"],
                "channel_axis": "none" if k["channel_axis"] is None else k["channel_axis"],
                "by_axis": k["by_axis"], "nan_policy": k["nan_policy"],
                "quantile_alpha": k["quantile_alpha"], "sample_shape": k["sample_shape"]}

    def _task(self) -> str:
        return "regression"

    def _options(self) -> Dict[str, Any]:
        return self._options_of(self._kwargs)

    def _report(self, core: Any, stream: int, device_label: Optional[str]) -> Report:
        return Report._from_core(core.compute(stream, device_label))

    def _spec_for_ranks(self) -> Dict[str, Any]:
        k = self._kwargs
        return {"family": "regression", "metrics": list(self._names),
                "channel_axis": k["channel_axis"], "by_axis": k["by_axis"],
                "nan_policy": k["nan_policy"], "quantile_alpha": k["quantile_alpha"]}

    # The methods below are StreamingEvaluator's, with the regression report in their types.
    def update(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
               stream: Any = None) -> "Regression":
        return super().update(pred, target, mask, weight, stream)  # type: ignore[return-value]

    update.__doc__ = StreamingEvaluator.update.__doc__

    def compute(self, stream: Any = None, sync: Optional[bool] = None) -> Report:
        return super().compute(stream, sync)

    compute.__doc__ = StreamingEvaluator.compute.__doc__

    def __call__(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
                 stream: Any = None) -> Report:
        return super().__call__(pred, target, mask, weight, stream)

    __call__.__doc__ = StreamingEvaluator.__call__.__doc__

    @classmethod
    def from_state(cls, state: Any, metrics: Union[None, str, Sequence[str]] = None,
                   device: Any = "auto", threads: int = 0) -> "Regression":
        """An evaluator holding a saved state (``state()``, ``gpu-eval --save-state``), with the
        spec the state was made with. ``metrics`` defaults to the default set plus the opt-in
        metrics whose statistics the state holds; any metrics whose statistics it holds work."""
        blob = state_bytes(state)
        info = _core.inspect_state(blob)
        ev = cls(metrics=info["metrics"] if metrics is None else metrics,
                 channel_axis=info["channel_axis"], by_axis=info["by_axis"],
                 nan_policy=info["nan_policy"], device=device, threads=threads,
                 sample_shape=info["sample_shape"], quantile_alpha=info["quantile_alpha"])
        return ev.merge(blob)  # type: ignore[return-value]

    @property
    def spec(self) -> Dict[str, Any]:
        """The constructor's arguments, normalised (metrics as a list of names)."""
        k = dict(self._kwargs)
        k["metrics"] = self.metrics
        return k

    @property
    def metrics(self) -> list:
        """The metrics this evaluator reports, in report order."""
        return list(self._names)

    def __repr__(self) -> str:
        k = self._kwargs
        return (f"gpueval.Regression(metrics={self.metrics}, channel_axis={k['channel_axis']}, "
                f"by_axis={k['by_axis']}, nan_policy={k['nan_policy']!r}, "
                f"device={self.device!r}, batches={self.batches})")


_families.register(_families.FamilyParts("regression", Regression, Report, _regression_plot,
                                         _core.metric_table))
