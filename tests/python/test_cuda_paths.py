"""The CUDA side of the Python layer that runs without a GPU: devices read from DLPack,
stream handles, and exports that name the update's stream (nanobind's own import names none).
The CUDA evaluation itself runs in scripts/gpu-check."""

import numpy as np
import pytest

import gpueval
from gpueval import _arrays


class FakeCudaArray:
    """Speaks DLPack like a CUDA array of a framework this test cannot have here."""

    def __init__(self, device_type=2, index=0):
        self.device = (device_type, index)
        self.streams = []

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        return "capsule"


def test_devices_come_from_dlpack():
    assert _arrays.device_of(np.zeros(3), "pred") == "cpu"
    assert _arrays.device_of(FakeCudaArray(2, 3), "pred") == "cuda:3"
    assert _arrays.device_of(FakeCudaArray(13, 1), "pred") == "cuda:1"  # managed memory
    assert _arrays.device_of(FakeCudaArray(3, 0), "pred") == "cpu"  # pinned host memory
    assert _arrays.device_of(memoryview(b"abcd"), "pred") == "cpu"
    with pytest.raises(ValueError, match="DLPack device type 7"):
        _arrays.device_of(FakeCudaArray(7, 0), "pred")
    with pytest.raises(TypeError, match="pred must be an array"):
        _arrays.device_of([1.0], "pred")


def test_stream_handles():
    class TorchLike:
        cuda_stream = 1234

    class CupyLike:
        ptr = 99

    assert _arrays.stream_handle(None) is None
    assert _arrays.stream_handle(7) == 7
    assert _arrays.stream_handle(np.uint64(8)) == 8
    assert _arrays.stream_handle(TorchLike()) == 1234
    assert _arrays.stream_handle(CupyLike()) == 99
    with pytest.raises(TypeError):
        _arrays.stream_handle(True)
    with pytest.raises(TypeError):
        _arrays.stream_handle(object())
    with pytest.raises(ValueError):
        _arrays.stream_handle(-1)
    # DLPack spells the legacy default stream 1 (0 is reserved); never 2 for it.
    assert _arrays.dlpack_stream(0) == 1
    assert _arrays.dlpack_stream(1234) == 1234
    assert _arrays.current_stream("jaxlib", 0) == 0


def test_cuda_arrays_are_exported_on_the_update_stream():
    x = FakeCudaArray()
    assert _arrays.cuda_export(x, 0) == "capsule"
    assert _arrays.cuda_export(x, 5555) == "capsule"
    assert x.streams == [1, 5555]
    host = np.zeros(4)
    assert _arrays.cuda_export(host, 5555) is host  # the engine names the device mismatch


def test_auto_device_follows_the_first_batch_to_cuda():
    ev = gpueval.Regression()
    assert ev.device == "auto"
    # A CUDA array resolves the device; without a usable GPU that is a clear CudaError.
    if gpueval.cuda_built():
        try:
            import torch

            if torch.cuda.is_available():
                pytest.skip("a GPU is present: scripts/gpu-check covers this")
        except ImportError:
            pass
        with pytest.raises(gpueval.CudaError, match="cuda:0 is not usable"):
            ev.update(FakeCudaArray(), FakeCudaArray())
    ev2 = gpueval.Regression()
    ev2.update(np.ones((2, 3)), np.ones((2, 3)))
    assert ev2.device.startswith("cpu")
