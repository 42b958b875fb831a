"""Inputs: every dtype gpueval reads, from numpy and torch, with any strides, without a copy;
tensors that require grad; masks; and the exception every bad input raises."""

import gc
import sys
import weakref

import numpy as np
import pytest
from conftest import batch_pairs

import gpueval

torch = pytest.importorskip("torch")


def _report(p, t, mask=None, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("threads", 2)
    return gpueval.Regression(metrics="all", **kw).update(p, t, mask).compute()


def _same(a, b):
    """Bitwise equality of two reports' values (NaN equal to NaN)."""
    assert a.metric_names == b.metric_names
    for name in a:
        np.testing.assert_array_equal(a.per_channel[name], b.per_channel[name], err_msg=name)
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert a.count == b.count


@pytest.fixture
def pair(rng):
    p, t = batch_pairs(rng, (24, 30, 6), offset=1.5, scale=1.0)
    return np.abs(p), np.abs(t)


NUMPY_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                np.uint8]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
def test_numpy_dtypes_read_exactly(pair, dtype):
    p, t = pair
    scale = 1 if np.issubdtype(dtype, np.floating) else 20
    p, t = (p * scale).astype(dtype), (t * scale).astype(dtype)
    # Every value converts exactly to float64, so the result is that of the float64 copy.
    _same(_report(p, t), _report(p.astype(np.float64), t.astype(np.float64)))


TORCH_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8,
                torch.int16, torch.int32, torch.int64, torch.uint8]


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_torch_dtypes_read_exactly(pair, dtype):
    p, t = (torch.from_numpy(a) for a in pair)
    if not dtype.is_floating_point:
        p, t = p * 20, t * 20
    p, t = p.to(dtype), t.to(dtype)
    _same(_report(p, t), _report(p.double().numpy(), t.double().numpy()))


def test_mixed_dtypes_bf16_predictions_f32_targets(pair):
    p, t = (torch.from_numpy(a) for a in pair)
    pb = p.to(torch.bfloat16)
    _same(_report(pb, t), _report(pb.double().numpy(), t.double().numpy()))


def test_bool_targets_and_predictions(rng):
    t = rng.random((50, 4)) < 0.5
    p = rng.random((50, 4)) < 0.5
    _same(_report(p, t), _report(p.astype(np.float64), t.astype(np.float64)))


def test_strided_views_without_copies(pair):
    p, t = pair
    base = _report
    # Sliced rows and columns, a reversed axis, a transposed view, a broadcast (zero stride).
    views = {
        "sliced": (p[::2, 3:, ::2], t[::2, 3:, ::2]),
        "reversed": (p[:, ::-1], t[:, ::-1]),
        "transposed": (p.transpose(1, 0, 2), t.transpose(1, 0, 2)),
        "last_axis_strided": (p.transpose(0, 2, 1), t.transpose(0, 2, 1)),
        "broadcast": (np.broadcast_to(p[:1], p.shape), np.broadcast_to(t[:1], t.shape)),
    }
    for name, (vp, vt) in views.items():
        assert not vp.flags.c_contiguous or name == "broadcast"
        _same(base(vp, vt), base(np.ascontiguousarray(vp, np.float64),
                                 np.ascontiguousarray(vt, np.float64)))
    tp, tt = torch.from_numpy(p), torch.from_numpy(t)
    _same(base(tp.transpose(0, 2), tt.transpose(0, 2)),
          base(np.ascontiguousarray(p.transpose(2, 1, 0), np.float64),
               np.ascontiguousarray(t.transpose(2, 1, 0), np.float64)))


def test_misaligned_data(pair):
    p, t = pair
    buf = bytearray(p.nbytes + 1)
    mis = np.frombuffer(buf, dtype=np.float32, count=p.size, offset=1).reshape(p.shape)
    mis[...] = p
    assert mis.ctypes.data % 4 == 1
    _same(_report(mis, t), _report(p.astype(np.float64), t.astype(np.float64)))


def test_read_only_memory_maps(tmp_path, pair):
    p, t = pair
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    mp = np.load(tmp_path / "p.npy", mmap_mode="r")
    mt = np.load(tmp_path / "t.npy", mmap_mode="r")
    assert not mp.flags.writeable
    _same(_report(mp[3:17], mt[3:17]), _report(p[3:17].astype(np.float64),
                                              t[3:17].astype(np.float64)))


def test_requires_grad_is_read_and_no_graph_is_kept(pair):
    p, t = (torch.from_numpy(a) for a in pair)
    w = torch.ones(1, requires_grad=True)
    pred = p * w  # part of an autograd graph
    ev = gpueval.Regression(metrics="all", device="cpu")
    ev.update(pred, t)
    ev(pred, t)  # forward too
    assert pred.requires_grad and pred.grad_fn is not None
    ref = weakref.ref(pred)  # the tensor holds its graph
    del pred
    gc.collect()
    assert ref() is None, "gpueval kept the tensor, and with it the autograd graph, alive"
    twice = _report(np.concatenate([pair[0]] * 2), np.concatenate([pair[1]] * 2))
    got = ev.compute()
    for name in got:
        assert got[name] == pytest.approx(twice[name], rel=1e-12, abs=1e-15), name


def test_inputs_are_not_kept(pair):
    p, t = pair
    tp = torch.from_numpy(p)
    before = (sys.getrefcount(p), sys.getrefcount(t), sys.getrefcount(tp))
    ev = gpueval.Regression(device="cpu")
    for _ in range(3):
        ev.update(p, t).update(tp, t)
        ev(tp, t)
    gc.collect()
    assert (sys.getrefcount(p), sys.getrefcount(t), sys.getrefcount(tp)) == before


@pytest.mark.parametrize("mask_dtype", [np.bool_, np.uint8, np.int32, np.int64])
def test_mask_dtypes_and_prefix_shapes(pair, rng, mask_dtype):
    p, t = pair
    full = rng.random(p.shape) < 0.7
    rows = rng.random(p.shape[:2]) < 0.7
    for keep in (full, rows):
        got = _report(p, t, keep.astype(mask_dtype))
        sel = keep if keep.ndim == 3 else np.broadcast_to(keep[..., None], p.shape)
        # The masked-out pairs, replaced by a copy of kept ones, would change the result:
        # compare with an evaluation of the kept pairs only, one channel at a time.
        for c in range(p.shape[-1]):
            col = _report(p[..., c][sel[..., c]].reshape(-1, 1).astype(np.float64),
                          t[..., c][sel[..., c]].reshape(-1, 1).astype(np.float64))
            for name in ("mse", "mae", "max_error", "bias"):
                np.testing.assert_allclose(got.per_channel[name][c], col[name], rtol=1e-12)
        assert got.count == int(sel.sum())
    tm = torch.from_numpy(rows)
    _same(_report(torch.from_numpy(p), torch.from_numpy(t), tm), _report(p, t, rows))


def test_masks_of_any_layout_equal_their_contiguous_copies(rng):
    """The case a planted bug survived: a mask that is not contiguous in memory must be read as
    it is, not ignored."""
    p = rng.standard_normal((32, 10, 4))
    t = p + rng.standard_normal((32, 10, 4))
    m = (rng.random((32, 20)) < 0.5)[:, ::2]
    assert not m.flags.c_contiguous
    want = _report(p, t, np.ascontiguousarray(m))
    assert want.count == int(m.sum()) * 4
    _same(_report(p, t, m), want)
    _same(_report(p, t, torch.from_numpy(np.ascontiguousarray(m)).t().contiguous().t()), want)
    full = (rng.random((32, 10, 8)) < 0.5)[..., ::2]  # a full-shape mask, stepped
    _same(_report(p, t, full), _report(p, t, np.ascontiguousarray(full)))
    row = rng.random((1, 10)) < 0.5  # broadcast over the batch axis: stride 0
    _same(_report(p, t, np.broadcast_to(row, (32, 10))),
          _report(p, t, np.ascontiguousarray(np.broadcast_to(row, (32, 10)))))


# ---- bad inputs -----------------------------------------------------------------------------

def _error(exc, fn):
    with pytest.raises(exc) as info:
        fn()
    return str(info.value)


def test_objects_that_are_not_arrays_are_type_errors(pair):
    p, t = pair
    ev = gpueval.Regression(device="cpu")
    msg = _error(TypeError, lambda: ev.update(p.tolist(), t))
    assert "pred must be an array" in msg and "builtins.list" in msg
    msg = _error(TypeError, lambda: ev.update(p, "target"))
    assert "target must be an array" in msg
    msg = _error(TypeError, lambda: ev.update(p, t, mask=[1, 0]))
    assert "mask must be an array" in msg
    auto = gpueval.Regression()
    assert "pred must be an array" in _error(TypeError, lambda: auto.update(3.0, t))
    assert "stream must be a CUDA stream" in _error(
        TypeError, lambda: ev.update(p, t, stream="default"))


def test_arrays_gpueval_cannot_read_are_value_errors(pair):
    p, t = pair
    ev = gpueval.Regression(device="cpu")
    cases = [
        ((p, t[:, :, :5]), "differ in shape"),
        ((p.astype(np.complex64), t), "pred has dtype complex64"),
        ((p, t.astype(np.uint16)), "target has dtype uint16"),
        ((p, t, p), "mask has dtype float32"),
        ((p, t, np.ones(p.shape[:2][::-1], bool)), "does not fit pred"),
        ((p[0, 0, 0], t[0, 0, 0]), "rank 0"),
        ((p.reshape(1, 1, 1, 1, 1, 1, 1, 1, 1, -1), t.reshape(1, 1, 1, 1, 1, 1, 1, 1, 1, -1)),
         "at most 8"),
    ]
    for args, expect in cases:
        msg = _error(ValueError, lambda: ev.update(*args))
        assert expect in msg, (expect, msg)
    ev.update(p, t)
    msg = _error(ValueError, lambda: ev.update(p[:, :10], t[:, :10]))
    assert "sample shape [10, 6], but this evaluator's is [30, 6]" in msg
    big_endian = p.astype(">f4")
    msg = _error(ValueError, lambda: ev.update(big_endian, t))
    assert "pred (ndarray) cannot be read without a copy" in msg and "byte order" in msg


def test_bad_specs_are_value_errors():
    cases = [
        (dict(metrics="mse,nope"), "unknown metric 'nope'"),
        (dict(metrics=["mse", "mse"]), "listed twice"),
        (dict(metrics=""), "empty entry"),
        (dict(channel_axis=0), "channel_axis 0 is the batch axis"),
        (dict(channel_axis=4, sample_shape=(3, 5)), "channel_axis 4 is not a sample axis"),
        (dict(by_axis=0), "by_axis"),
        (dict(nan_policy="ignore"), "ignore"),
        (dict(device="gpu"), "unknown device 'gpu'"),
        (dict(threads=-1), "threads"),
        (dict(sample_shape=(5, 0, 3), by_axis=2), ""),
    ]
    for kw, expect in cases:
        try:
            gpueval.Regression(**kw)
        except ValueError as e:
            assert expect in str(e), (kw, str(e))
        else:
            assert kw.get("sample_shape"), f"{kw} was accepted"
    with pytest.raises(TypeError, match="metric names are strings"):
        gpueval.Regression(metrics=["mse", 3])


def test_nan_policies(pair):
    p, t = pair
    p = p.copy()
    p[2, 5, 1] = np.nan
    p[3, 0, 0] = np.inf
    skip = _report(p, t)
    assert skip.skipped_nonfinite == 2 and skip.count == p.size - 2
    prop = _report(p, t, nan_policy="propagate")
    assert np.isnan(prop["mse"]) and prop.skipped_nonfinite == 0
    ev = gpueval.Regression(nan_policy="error", device="cpu")
    ev.update(t, t).update(p, t)
    with pytest.raises(gpueval.NonFiniteError) as info:
        ev.compute()
    assert info.value.batch == 1 and info.value.element == (2 * 30 + 5) * 6 + 1
    assert "batch 1" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_compute_before_any_batch_says_why():
    ev = gpueval.Regression()
    msg = _error(ValueError, ev.compute)
    assert "compute() with no data" in msg and "update()" in msg
    # the same rule when the spec knows the shape; an empty batch is data
    fixed = gpueval.Regression(sample_shape=(3,), device="cpu")
    assert _error(ValueError, fixed.compute) == msg
    assert fixed.update(np.ones((0, 3)), np.ones((0, 3))).compute().count == 0


def test_cuda_without_a_usable_device_is_a_clear_error():
    if not gpueval.cuda_built():
        msg = _error(gpueval.CudaError, lambda: gpueval.Regression(device="cuda"))
        assert "cuda" in msg
        return
    try:
        import torch as _t
        if _t.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    msg = _error(gpueval.CudaError, lambda: gpueval.Regression(device="cuda:0"))
    assert "cuda:0 is not usable" in msg
    assert isinstance(gpueval.CudaError("x"), RuntimeError)
