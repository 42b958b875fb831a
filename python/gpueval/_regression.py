"""gpueval.Regression: exact regression metrics over an epoch, streamed one batch at a time."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Optional, Sequence, Union

import numpy as np

from . import _arrays, _core, _distributed
from ._core import StateError
from ._report import Report

_DEVICE = re.compile(r"^(auto|cpu|cuda(?::(\d+))?)$")


def _metric_text(metrics: Union[str, Iterable[str]]) -> str:
    if isinstance(metrics, str):
        return metrics
    try:
        names = list(metrics)
    except TypeError:
        raise TypeError("metrics must be a name, a comma-separated list, 'default', 'all' or a "
                        f"list of names, not {type(metrics).__qualname__}") from None
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"metric names are strings, not {type(n).__qualname__} ({n!r})")
    return ",".join(names)


def _device_text(device: Any) -> str:
    text = device if isinstance(device, str) else str(device)  # torch.device, cupy.cuda.Device
    m = _DEVICE.match(text)
    if m is None:
        raise ValueError(f"unknown device {text!r}; use 'auto' (the device of the first "
                         "update's arrays), 'cpu', 'cuda' or 'cuda:N'")
    if text == "cuda":
        return "cuda:0"
    return text


def _state_bytes(state: Any) -> bytes:
    if isinstance(state, Regression):
        return state.state()
    if isinstance(state, bytes):
        return state
    if isinstance(state, (bytearray, memoryview)):
        return bytes(state)
    if isinstance(state, np.ndarray) and state.dtype == np.uint8 and state.ndim == 1:
        return state.tobytes()
    raise TypeError("a state is bytes (from state()), a 1-d uint8 numpy array or a Regression, "
                    f"not {type(state).__qualname__}")


class Regression:
    """Exact regression metrics over an epoch, streamed one batch at a time.

    Give every batch to ``update`` where it already lives (numpy, PyTorch, CuPy, JAX: anything
    with ``__dlpack__`` or the buffer protocol, any dtype gpueval reads, any strides; nothing is
    copied); ``compute`` returns the epoch's :class:`Report`. Memory does not grow with the
    data: the state is a few statistics per key.

    Args:
        metrics: ``"default"``, ``"all"``, a comma-separated string or a list of names
            (``gpueval.metric_names("all")`` lists them).
        channel_axis: ``-1`` (the last axis holds channels, one record each) or ``None`` (every
            value one stream).
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

    Not thread-safe in the Python sense either: use one evaluator per thread, or order the
    calls yourself (concurrent calls are serialised, never corrupted).
    """

    def __init__(self, metrics: Union[str, Sequence[str]] = "default",
                 channel_axis: Optional[int] = -1, by_axis: Optional[int] = None,
                 nan_policy: str = "skip", device: Any = "auto", threads: int = 0,
                 sample_shape: Optional[Sequence[int]] = None, process_group: Any = None) -> None:
        if sample_shape is not None:
            sample_shape = [int(d) for d in sample_shape]
        self._kwargs: Dict[str, Any] = dict(
            metrics=_metric_text(metrics), channel_axis=channel_axis, by_axis=by_axis,
            nan_policy=nan_policy, device=_device_text(device), threads=int(threads),
            sample_shape=sample_shape)
        self._names = _core.check_spec(self._kwargs["metrics"], channel_axis, by_axis,
                                       nan_policy, sample_shape)
        if self._kwargs["threads"] < 0:
            raise ValueError(f"threads must be 0 (one per hardware thread) or more, not {threads}")
        self._ev: Optional[Any] = None  # _core.Evaluator, made on the resolved device
        self._batch_ev: Optional[Any] = None  # for __call__: this batch alone
        self._cuda_index = -1  # the evaluator's CUDA device, -1 on the CPU
        self._framework = ""  # of the arrays last seen, for the current CUDA stream
        self._fixed = False  # the device is known (pinned, or taken from an update)
        self._merged = False  # a state was merged in since construction or reset()
        self._group = process_group  # not pickled: a group belongs to its process
        if self._kwargs["device"] != "auto":
            self._make(self._kwargs["device"])
            self._fixed = True

    # ---- the device ------------------------------------------------------------------------

    def _make(self, device: str) -> None:
        k = self._kwargs
        self._ev = _core.Evaluator(k["metrics"], k["channel_axis"], k["by_axis"],
                                   k["nan_policy"], device, k["threads"], k["sample_shape"])
        self._cuda_index = int(device.split(":")[1]) if device.startswith("cuda") else -1
        self._batch_ev = None

    def _host(self) -> Any:
        """The evaluator, on the CPU while an automatic device is not yet known."""
        if self._ev is None:
            self._make("cpu")
        return self._ev

    def _resolve(self, pred: Any) -> None:
        """device='auto': the first update's arrays decide. States merged before it move along."""
        device = _arrays.device_of(pred, "pred")
        if self._ev is None:
            self._make(device)
        elif device != "cpu":
            carried = self._ev.state(0) if self._merged else None
            self._make(device)
            if carried is not None:
                self._ev.merge(carried, 0)
        self._fixed = True

    def _stream(self, stream: Any) -> int:
        handle = _arrays.stream_handle(stream)
        if handle is not None:
            return handle
        if self._cuda_index < 0:
            return 0
        return _arrays.current_stream(self._framework, self._cuda_index)

    # ---- the batch loop --------------------------------------------------------------------

    def _update_on(self, ev: Any, pred: Any, target: Any, mask: Any, stream: Any) -> None:
        if self._cuda_index < 0:
            handle = 0 if stream is None else _arrays.stream_handle(stream)  # checked, unused
            p = _arrays.host_array(pred)
            t = _arrays.host_array(target)
            m = None if mask is None else _arrays.host_array(mask)
        else:
            self._framework = _arrays.framework(pred)
            handle = self._stream(stream)
            p = _arrays.cuda_export(pred, handle)
            t = _arrays.cuda_export(target, handle)
            m = None if mask is None else _arrays.cuda_export(mask, handle)
        try:
            ev.update(p, t, m, handle)
        except TypeError:
            _arrays.explain_import_failure({"pred": pred, "target": target, "mask": mask})
            raise

    def update(self, pred: Any, target: Any, mask: Any = None, stream: Any = None) -> "Regression":
        """Folds one batch in and returns ``self``.

        ``pred`` and ``target`` have the same shape ``[batch, ...]`` (their dtypes may differ:
        bfloat16 predictions with float32 targets are fine). ``mask`` (optional) is bool or an
        integer type with the tensor's shape or a prefix of it; nonzero means include (the
        opposite of numpy.ma). A tensor that requires grad is read as it is: gpueval keeps no
        reference to it or its graph.

        On a CUDA device the update is enqueued on ``stream`` (an integer handle, a
        ``torch.cuda.Stream`` or a CuPy stream; default: the arrays' framework's current stream
        on the evaluator's device) and returns without waiting: no host synchronisation, so it
        can be captured in a CUDA graph. The arrays' producer is asked (through
        ``__dlpack__(stream=...)``) to order its pending work before it. Keep the arrays alive
        until that stream has run the update (PyTorch's caching allocator does this for you on
        the current stream).
        """
        if not self._fixed:
            self._resolve(pred)
        self._update_on(self._ev, pred, target, mask, stream)
        return self

    def __call__(self, pred: Any, target: Any, mask: Any = None, stream: Any = None) -> Report:
        """Folds the batch in, like ``update``, and returns the metrics of this batch alone
        (TorchMetrics' ``forward``). Costs a second pass over the batch and a synchronisation."""
        self.update(pred, target, mask, stream)
        if self._batch_ev is None:
            k = self._kwargs
            device = "cpu" if self._cuda_index < 0 else f"cuda:{self._cuda_index}"
            self._batch_ev = _core.Evaluator(k["metrics"], k["channel_axis"], k["by_axis"],
                                             k["nan_policy"], device, k["threads"],
                                             k["sample_shape"])
        self._batch_ev.reset()
        self._update_on(self._batch_ev, pred, target, mask, stream)
        return Report._from_core(self._batch_ev.compute(self._stream(stream)))

    def compute(self, stream: Any = None, sync: Optional[bool] = None) -> Report:
        """The metrics of every batch since construction or ``reset()`` (and of merged states).

        The only synchronisation point. Raises :class:`NonFiniteError` under
        ``nan_policy="error"`` when a non-finite value was seen, and ``ValueError`` before any
        batch when the sample shape is unknown.

        In a ``torch.distributed`` job with more than one rank, ``compute()`` returns the
        metrics of every rank's batches together, and is then a collective: **every rank must
        call it** (as with TorchMetrics). Each rank's state is gathered (one collective for the
        sizes, one for the bytes) and merged in rank order, so every rank gets bitwise the same
        report; this evaluator's own state is not changed. A rank that saw no batch contributes
        nothing; ranks whose evaluators differ all raise ``ValueError`` naming the difference.
        ``sync=False`` gives this rank's metrics alone; ``sync=True`` insists on joining.
        """
        if sync is None:
            sync = _distributed.world_size(self._group) > 1
        if not sync:
            return Report._from_core(self._host().compute(self._stream(stream)))
        return self._compute_joined(stream)

    def _has_state(self) -> bool:
        return self._ev is not None and bool(self._ev.batches or self._merged or
                                             self._kwargs["sample_shape"] is not None)

    def _compute_joined(self, stream: Any) -> Report:
        if _distributed._dist() is None:
            raise RuntimeError("compute(sync=True) joins the ranks of a torch.distributed job, "
                               "but no process group is initialised")
        k = self._kwargs
        header: Dict[str, Any] = {
            "spec": {"metrics": list(self._names), "channel_axis": k["channel_axis"],
                     "by_axis": k["by_axis"], "nan_policy": k["nan_policy"]},
            "device": self.device}
        state = None
        try:
            if self._has_state():
                state = self.state(stream)
        except Exception as e:  # told to every rank after the gather, so none waits
            header["error"] = f"{type(e).__name__}: {e}"
        parts = _distributed.gather(header, state, self._group)
        _distributed.check(parts)
        joined = _core.Evaluator(k["metrics"], k["channel_axis"], k["by_axis"], k["nan_policy"],
                                 "cpu", 1, None)
        contributed = 0
        for rank, (_, blob) in enumerate(parts):
            if blob is None:
                continue
            try:
                joined.merge(blob, 0)
            except StateError as e:
                raise StateError(f"gpueval: rank {rank}'s state does not join rank 0's: "
                                 f"{e}") from None
            contributed += 1
        if contributed == 0:
            raise ValueError(f"compute() before any update on all {len(parts)} ranks: the "
                             "sample shape is unknown; give batches or set sample_shape")
        return Report._from_core(joined.compute(0, _distributed.device_label(parts)))

    def reset(self) -> "Regression":
        """Forgets every batch; keeps the spec, the device and the sample shape."""
        if self._ev is not None:
            self._ev.reset()
        self._merged = False
        return self

    # ---- states: checkpoints, ranks, offline shards ------------------------------------------

    def state(self, stream: Any = None) -> bytes:
        """The epoch state as a versioned, checksummed blob of a few hundred bytes per key (the
        format ``gpu-eval --save-state`` writes). Merge it into another evaluator of the same
        spec, or rebuild one with :meth:`from_state`."""
        return self._host().state(self._stream(stream))

    def merge(self, state: Any, stream: Any = None) -> "Regression":
        """Folds in another evaluation: a blob from ``state()``, or another ``Regression``. The
        result is that of one evaluator that saw both evaluators' batches (within the accuracy
        rule, 1e-9). Raises :class:`StateError` for a blob that is corrupt, truncated, of another
        version or of another spec (naming the difference)."""
        blob = _state_bytes(state)
        self._host().merge(blob, self._stream(stream))
        self._merged = True
        return self

    @classmethod
    def from_state(cls, state: Any, metrics: Union[None, str, Sequence[str]] = None,
                   device: Any = "auto", threads: int = 0) -> "Regression":
        """An evaluator holding a saved state (``state()``, ``gpu-eval --save-state``), with the
        spec the state was made with. ``metrics`` defaults to the default set plus the opt-in
        metrics whose statistics the state holds."""
        blob = _state_bytes(state)
        info = _core.inspect_state(blob)
        ev = cls(metrics=info["metrics"] if metrics is None else metrics,
                 channel_axis=info["channel_axis"], by_axis=info["by_axis"],
                 nan_policy=info["nan_policy"], device=device, threads=threads,
                 sample_shape=info["sample_shape"])
        return ev.merge(blob)

    def state_dict(self) -> Dict[str, Any]:
        """A checkpoint: ``{"state": bytes or None, "spec": {...}}`` (``torch.save`` takes it)."""
        return {"state": self.state() if self._has_state() else None, "spec": self.spec}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> "Regression":
        """Replaces this evaluator's state with a checkpoint's (from ``state_dict()``)."""
        if not isinstance(state_dict, dict) or "state" not in state_dict:
            raise TypeError("load_state_dict takes the dict state_dict() returned")
        self.reset()
        if state_dict["state"] is not None:
            self.merge(state_dict["state"])
        return self

    def __getstate__(self) -> Dict[str, Any]:
        return {"kwargs": dict(self._kwargs), "state": self.state_dict()["state"]}

    def __setstate__(self, d: Dict[str, Any]) -> None:
        self.__init__(**d["kwargs"])
        if d["state"] is not None:
            self.merge(d["state"])

    # ---- description -------------------------------------------------------------------------

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

    @property
    def device(self) -> str:
        """Where the evaluator runs: ``"cpu (8 threads)"``, ``"cuda:0"``, or ``"auto"`` before
        the first update decides."""
        if not self._fixed:
            return "auto"
        return self._ev.device

    @property
    def batches(self) -> int:
        """Batches folded since construction or ``reset()``."""
        return 0 if self._ev is None else int(self._ev.batches)

    def __repr__(self) -> str:
        k = self._kwargs
        return (f"gpueval.Regression(metrics={self.metrics}, channel_axis={k['channel_axis']}, "
                f"by_axis={k['by_axis']}, nan_policy={k['nan_policy']!r}, "
                f"device={self.device!r}, batches={self.batches})")
