"""What every family's evaluator does in Python: the device (taken from the first batch when
"auto"), CUDA streams, the batch loop, states, checkpoints, pickling and the join of the ranks of
a torch.distributed job. A family says only what its task and options are (the engine's generic
evaluator takes them as text), how to read its report, and what its spec is."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np

from . import _arrays, _core, _distributed
from ._core import StateError

_DEVICE = re.compile(r"^(auto|cpu|cuda(?::(\d+))?)$")


def metric_text(metrics: Union[str, Iterable[str]]) -> str:
    """A metric list as the engine takes it: "default", "all" or comma-separated names."""
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


def option_text(value: Any) -> Optional[str]:
    """An option's value as the engine reads it (gpueval/family.hpp's Options): None is absent,
    booleans true/false, shapes "500,20" ("()" for an empty one), floats that round-trip."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(int(d)) for d in value) if value else "()"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def options_text(options: Dict[str, Any]) -> Dict[str, str]:
    """Options for the engine: every value as option_text, absent ones left out."""
    out = {}
    for name, value in options.items():
        text = option_text(value)
        if text is not None:
            out[name] = text
    return out


def device_text(device: Any) -> str:
    text = device if isinstance(device, str) else str(device)  # torch.device, cupy.cuda.Device
    m = _DEVICE.match(text)
    if m is None:
        raise ValueError(f"unknown device {text!r}; use 'auto' (the device of the first "
                         "update's arrays), 'cpu', 'cuda' or 'cuda:N'")
    if text == "cuda":
        return "cuda:0"
    return text


def state_bytes(state: Any) -> bytes:
    if isinstance(state, StreamingEvaluator):
        return state.state()
    if isinstance(state, bytes):
        return state
    if isinstance(state, (bytearray, memoryview)):
        return bytes(state)
    if isinstance(state, np.ndarray) and state.dtype == np.uint8 and state.ndim == 1:
        return state.tobytes()
    raise TypeError("a state is bytes (from state()), a 1-d uint8 numpy array or an evaluator, "
                    f"not {type(state).__qualname__}")


class StreamingEvaluator:
    """The shared behaviour of gpueval's evaluators (every family's evaluator derives from it)."""

    # ---- what a family provides --------------------------------------------------------------

    def _task(self) -> str:
        """The task the family's evaluator is made for (one of its tasks)."""
        raise NotImplementedError

    def _options(self) -> Dict[str, Any]:
        """The family's options by name (values of any type option_text writes; None: absent)."""
        raise NotImplementedError

    def _new_core(self, device: str) -> Any:
        """The C++ evaluator on `device` ("cpu", "cuda:N")."""
        return _core.Evaluator(self._task(), options_text(self._options()), device,
                               self._kwargs["threads"])

    def _report(self, core: Any, stream: int, device_label: Optional[str]) -> Any:
        """The family's report from its C++ evaluator's compute()."""
        raise NotImplementedError

    def _spec_for_ranks(self) -> Dict[str, Any]:
        """What ranks compare before joining their states: the spec, as plain values."""
        raise NotImplementedError

    # ---- construction --------------------------------------------------------------------------

    def _setup(self, kwargs: Dict[str, Any], device: Any, threads: int,
               sample_shape: Any, process_group: Any) -> None:
        """Called by the family's __init__: checks the options with the engine (ValueError naming
        the one it refuses), then makes the evaluator when the device is given."""
        if int(threads) < 0:
            raise ValueError(f"threads must be 0 (one per hardware thread) or more, not {threads}")
        self._kwargs: Dict[str, Any] = dict(kwargs, device=device_text(device),
                                            threads=int(threads), sample_shape=sample_shape)
        self._ev: Optional[Any] = None  # the C++ evaluator, made on the resolved device
        self._batch_ev: Optional[Any] = None  # for __call__: this batch alone
        self._cuda_index = -1  # the evaluator's CUDA device, -1 on the CPU
        self._framework = ""  # of the arrays last seen, for the current CUDA stream
        self._fixed = False  # the device is known (pinned, or taken from an update)
        self._merged = False  # a state was merged in since construction or reset()
        self._group = process_group  # not pickled: a group belongs to its process
        _core.check_options(self._task(), options_text(self._options()))
        if self._kwargs["device"] != "auto":
            self._make(self._kwargs["device"])
            self._fixed = True

    def _make(self, device: str) -> None:
        self._ev = self._new_core(device)
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

    # ---- the batch loop ------------------------------------------------------------------------

    def _update_on(self, ev: Any, pred: Any, target: Any, mask: Any, weight: Any,
                   stream: Any, inputs: Optional[Dict[str, Any]] = None) -> None:
        named = [(k, v) for k, v in (inputs or {}).items() if v is not None]
        if self._cuda_index < 0:
            handle = 0 if stream is None else _arrays.stream_handle(stream)  # checked, unused
            p = _arrays.host_array(pred)
            t = _arrays.host_array(target)
            m = None if mask is None else _arrays.host_array(mask)
            w = None if weight is None else _arrays.host_array(weight)
            extra = [(k, _arrays.host_array(v)) for k, v in named]
        else:
            self._framework = _arrays.framework(pred)
            handle = self._stream(stream)
            p = _arrays.cuda_export(pred, handle)
            t = _arrays.cuda_export(target, handle)
            m = None if mask is None else _arrays.cuda_export(mask, handle)
            w = None if weight is None else _arrays.cuda_export(weight, handle)
            extra = [(k, _arrays.cuda_export(v, handle)) for k, v in named]
        try:
            if extra:
                ev.update(p, t, m, w, handle, extra)
            else:
                ev.update(p, t, m, w, handle)
        except TypeError:
            _arrays.explain_import_failure({"pred": pred, "target": target, "mask": mask,
                                            "weight": weight, **dict(named)})
            raise

    def _fold(self, pred: Any, target: Any, mask: Any, weight: Any, stream: Any,
              inputs: Optional[Dict[str, Any]] = None) -> None:
        """update() with the family's own inputs (``inputs``: name to array; None: absent)."""
        if not self._fixed:
            self._resolve(pred)
        self._update_on(self._ev, pred, target, mask, weight, stream, inputs)

    def _fold_and_report(self, pred: Any, target: Any, mask: Any, weight: Any, stream: Any,
                         inputs: Optional[Dict[str, Any]] = None) -> Any:
        """__call__() with the family's own inputs."""
        self._fold(pred, target, mask, weight, stream, inputs)
        if self._batch_ev is None:
            device = "cpu" if self._cuda_index < 0 else f"cuda:{self._cuda_index}"
            self._batch_ev = self._new_core(device)
        self._batch_ev.reset(self._stream(stream))
        self._update_on(self._batch_ev, pred, target, mask, weight, stream, inputs)
        return self._report(self._batch_ev, self._stream(stream), None)

    def update(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
               stream: Any = None) -> "StreamingEvaluator":
        """Folds one batch in and returns ``self``.

        Arrays are read where they are, without a copy: numpy, PyTorch, CuPy, JAX, anything with
        ``__dlpack__`` or the buffer protocol, any dtype gpueval reads, any strides. ``mask``
        (optional) is bool or an integer type with the target's shape or a prefix of it;
        nonzero means include (the opposite of numpy.ma). ``weight`` (optional; where the family weighs samples) is a
        float array of the same shapes as a mask, finite and >= 0: every metric becomes its
        weighted form, as scikit-learn's ``sample_weight`` (a 0/1 weight gives exactly the mask's
        numbers; a negative or non-finite weight raises ``ValueError`` naming it). A tensor that
        requires grad is read as it is: gpueval keeps no reference to it or its graph.

        On a CUDA device the update is enqueued on ``stream`` (an integer handle, a
        ``torch.cuda.Stream`` or a CuPy stream; default: the arrays' framework's current stream
        on the evaluator's device) and returns without waiting: no host synchronisation, so it
        can be captured in a CUDA graph. The arrays' producer is asked (through
        ``__dlpack__(stream=...)``) to order its pending work before it, and gpueval holds a
        reference to the arrays until the device has run the update (a producer on another
        stream may not reuse their memory before). An update captured into a CUDA graph reads
        its arrays at every replay: keep those alive as long as the graph.
        """
        self._fold(pred, target, mask, weight, stream)
        return self

    def __call__(self, pred: Any, target: Any, mask: Any = None, weight: Any = None,
                 stream: Any = None) -> Any:
        """Folds the batch in, like ``update``, and returns the report of this batch alone
        (TorchMetrics' ``forward``). Costs a second pass over the batch and a synchronisation."""
        return self._fold_and_report(pred, target, mask, weight, stream)

    def compute(self, stream: Any = None, sync: Optional[bool] = None) -> Any:
        """The metrics of every batch since construction or ``reset()`` (and of merged states).

        The only synchronisation point. Raises :class:`NonFiniteError` under
        ``nan_policy="error"`` when an invalid value was seen, and ``ValueError`` when no batch
        was folded or merged since construction or ``reset()`` (the same error both ways: a
        report of nothing would pass for an epoch's metrics; a batch of zero rows is data).

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
            return self._report(self._host(), self._stream(stream), None)
        return self._compute_joined(stream)

    def _has_state(self) -> bool:
        return self._ev is not None and bool(self._ev.batches or self._merged or
                                             self._kwargs["sample_shape"] is not None)

    def _compute_joined(self, stream: Any) -> Any:
        if _distributed._dist() is None:
            raise RuntimeError("compute(sync=True) joins the ranks of a torch.distributed job, "
                               "but no process group is initialised")
        header: Dict[str, Any] = {"spec": self._spec_for_ranks(), "device": self.device}
        state = None
        try:
            if self._has_state():
                state = self.state(stream)
        except Exception as e:  # told to every rank after the gather, so none waits
            header["error"] = f"{type(e).__name__}: {e}"
        try:
            parts = _distributed.gather(header, state, self._group)
        except RuntimeError as e:  # the backend's: a rank that ended, a timeout
            raise RuntimeError(
                f"gpueval: compute() joins every rank's state, and the process group failed "
                f"before all had sent theirs (a rank that ended, or did not call compute() "
                f"within the group's timeout?): {e}") from e
        _distributed.check(parts)
        joined = self._new_core("cpu")
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
                             "inputs are unknown; give batches or set sample_shape")
        return self._report(joined, 0, _distributed.device_label(parts))

    def reset(self, stream: Any = None) -> "StreamingEvaluator":
        """Forgets every batch; keeps the spec, the device and the inputs' shape.

        On CUDA the reset is enqueued on ``stream`` (default: the current stream of the last
        update's framework) and returns without waiting; later updates and ``compute()`` on any
        stream are ordered after it on the device."""
        if self._ev is not None:
            self._ev.reset(self._stream(stream))
        self._merged = False
        return self

    # ---- states: checkpoints, ranks, offline shards ------------------------------------------

    def state(self, stream: Any = None) -> bytes:
        """The epoch state as a versioned, checksummed blob (the format ``gpu-eval
        --save-state`` writes). Merge it into another evaluator of the same spec, or rebuild one
        with ``from_state``."""
        return self._host().state(self._stream(stream))

    def merge(self, state: Any, stream: Any = None) -> "StreamingEvaluator":
        """Folds in another evaluation: a blob from ``state()``, or another evaluator. The result
        is that of one evaluator that saw both evaluators' batches. Raises :class:`StateError`
        for a blob that is corrupt, truncated, of another version or of another spec (naming the
        difference)."""
        blob = state_bytes(state)
        self._host().merge(blob, self._stream(stream))
        self._merged = True
        return self

    def state_dict(self) -> Dict[str, Any]:
        """A checkpoint: ``{"state": bytes or None, "spec": {...}}`` (``torch.save`` takes it)."""
        return {"state": self.state() if self._has_state() else None, "spec": self.spec}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> "StreamingEvaluator":
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
        """The constructor's arguments, normalised."""
        return dict(self._kwargs)

    @property
    def device(self) -> str:
        """Where the evaluator runs: ``"cpu (8 threads)"``, ``"cuda:0 (...)"``, or ``"auto"``
        before the first update decides."""
        if not self._fixed:
            return "auto"
        return self._ev.device

    @property
    def batches(self) -> int:
        """Batches folded since construction or ``reset()`` (those of merged states included)."""
        return 0 if self._ev is None else int(self._ev.batches)
