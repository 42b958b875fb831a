"""How arrays reach the engine: their device, the CUDA stream an update runs on, and a DLPack
export ordered on that stream.

Host arrays go to the extension as they are (nanobind imports them through ``__dlpack__`` or
the buffer protocol, without a copy). CUDA arrays are exported here with
``__dlpack__(stream=...)``, naming the stream the update is enqueued on, so that the producer
orders its pending work before ours without a host synchronisation (nanobind's own import
passes no stream).
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np

# DLPack device types (dlpack.h).
_DL_CPU = 1
_DL_CUDA = 2
_DL_CUDA_HOST = 3
_DL_CUDA_MANAGED = 13

_ARRAY_HINT = ("an array: numpy, torch, CuPy, JAX or anything with __dlpack__ or the buffer "
               "protocol")


def is_array(x: Any) -> bool:
    """Whether the extension can import `x` without a copy (it may still refuse its dtype)."""
    if isinstance(x, np.ndarray):
        return True
    if hasattr(type(x), "__dlpack__"):
        return True
    try:
        memoryview(x)
    except TypeError:
        return False
    return True


def device_of(x: Any, name: str) -> str:
    """'cpu' or 'cuda:N' for an array; TypeError for an object that is not one."""
    if isinstance(x, np.ndarray):
        return "cpu"
    dev = getattr(type(x), "__dlpack_device__", None)
    if dev is not None:
        kind, index = dev(x)
        kind = int(kind)
        if kind in (_DL_CPU, _DL_CUDA_HOST):
            return "cpu"
        if kind in (_DL_CUDA, _DL_CUDA_MANAGED):
            return f"cuda:{int(index)}"
        raise ValueError(f"{name} lives on DLPack device type {kind}; gpueval reads arrays on "
                         "the CPU and on CUDA devices")
    if is_array(x):
        return "cpu"
    raise TypeError(f"{name} must be {_ARRAY_HINT}, not {type(x).__module__}."
                    f"{type(x).__qualname__}")


def _torch_view(x: Any) -> Any:
    """A torch tensor as DLPack exports it: detached from autograd (torch refuses to export a
    tensor that requires grad; detach() is a view, and gpueval keeps no reference to the graph),
    and bool viewed as uint8 (torch before 2.1 cannot export bool). Both are views: no copy."""
    if x.requires_grad:
        x = x.detach()
    torch = sys.modules["torch"]
    if x.dtype is torch.bool:
        x = x.view(torch.uint8)
    return x


def host_array(x: Any) -> Any:
    """`x` as the extension takes it on the CPU."""
    if type(x) is np.ndarray:
        return x
    if type(x).__module__.startswith("torch"):
        return _torch_view(x)
    return x


def framework(x: Any) -> str:
    """The top-level package of an array's type: 'torch', 'cupy', 'jaxlib', 'numpy', ..."""
    return type(x).__module__.split(".", 1)[0]


def stream_handle(stream: Any) -> Optional[int]:
    """A CUDA stream as an integer handle (cudaStream_t): an int, a torch.cuda.Stream
    (``cuda_stream``) or a CuPy stream (``ptr``). None stays None."""
    if stream is None:
        return None
    if isinstance(stream, (int, np.integer)) and not isinstance(stream, bool):
        handle = int(stream)
    else:
        handle = None
        for attr in ("cuda_stream", "ptr"):
            value = getattr(stream, attr, None)
            if isinstance(value, int):
                handle = value
                break
        if handle is None:
            raise TypeError("stream must be a CUDA stream: an integer handle, a torch.cuda.Stream "
                            f"or a cupy.cuda.Stream, not {type(stream).__qualname__}")
    if handle < 0:
        raise ValueError(f"stream handle {handle} is negative")
    return handle


def current_stream(framework: str, device_index: int) -> int:
    """The stream a framework is enqueueing on now, for arrays of that framework: torch's
    current stream on the device, CuPy's current stream; the legacy default stream (0)
    otherwise."""
    if framework == "torch":
        import torch

        return int(torch.cuda.current_stream(device_index).cuda_stream)
    if framework == "cupy":
        import cupy

        with cupy.cuda.Device(device_index):
            return int(cupy.cuda.get_current_stream().ptr)
    return 0


def dlpack_stream(handle: int) -> int:
    """The value of ``__dlpack__``'s stream argument for a stream handle: DLPack spells the
    legacy default stream 1 (0 is reserved)."""
    return 1 if handle == 0 else handle


def cuda_export(x: Any, stream: int) -> Any:
    """A CUDA array as a DLPack capsule ordered on `stream` (the producer makes its pending work
    visible to that stream); host arrays as they are, for the engine to name the mismatch."""
    dev = getattr(type(x), "__dlpack_device__", None)
    if dev is None or int(dev(x)[0]) not in (_DL_CUDA, _DL_CUDA_MANAGED):
        return host_array(x)
    if type(x).__module__.startswith("torch"):
        x = _torch_view(x)
    return x.__dlpack__(stream=dlpack_stream(stream))


def explain_import_failure(arrays: dict) -> None:
    """Raises the error that says why the extension refused one of `arrays` (name -> object),
    after a TypeError from its argument conversion: TypeError for an object that is not an
    array, ValueError for an array its producer will not export as it is (a non-native byte
    order, say). Returns when none can be blamed."""
    for name, x in arrays.items():
        if x is None:
            continue
        if not is_array(x):
            raise TypeError(f"{name} must be {_ARRAY_HINT}, not {type(x).__module__}."
                            f"{type(x).__qualname__}") from None
        export = getattr(x, "__dlpack__", None)
        if export is not None:
            try:
                export()
            except Exception as e:  # the producer's own reason: byte order, strides, ...
                raise ValueError(f"{name} ({type(x).__qualname__}) cannot be read without a "
                                 f"copy: {e}") from None
