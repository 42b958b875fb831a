"""gpueval.ray on a local Ray instance: a dataset evaluated with map_batches on the workers and
the states merged on the driver gives bitwise the report of one process over the same rows in
the same order, for each family, with a mask, a weight and a family's own input."""
import time

import numpy as np
import pytest

import gpueval

ray = pytest.importorskip("ray")
import gpueval.ray  # noqa: E402

ROWS, BLOCKS, BATCH = 512, 4, 32  # blocks of 128 rows: batches never cross a block


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def dataset(columns):
    rows = [{k: v[i] for k, v in columns.items()} for i in range(ROWS)]
    return ray.data.from_items(rows, override_num_blocks=BLOCKS)


def single_process(make, columns, pred, target, mask=None, weight=None, inputs=None):
    ev = make()
    for lo in range(0, ROWS, BATCH):
        sl = slice(lo, lo + BATCH)
        extra = {k: columns[c][sl] for k, c in (inputs or {}).items()}
        ev.update(columns[pred][sl], columns[target][sl],
                  mask=None if mask is None else columns[mask][sl],
                  weight=None if weight is None else columns[weight][sl], **extra)
    return ev.compute()


def check(make, columns, **names):
    start = time.perf_counter()
    want = single_process(make, columns, **names)
    single = time.perf_counter() - start
    start = time.perf_counter()
    got = gpueval.ray.evaluate(dataset(columns), make, batch_size=BATCH, **names)
    distributed = time.perf_counter() - start
    a, b = got.to_dict(), want.to_dict()
    for d in (a, b):
        d.pop("device", None)
    assert a == b
    print(f"{type(want).__name__}: ray {distributed:.2f} s, one process {single:.3f} s "
          f"({ROWS} rows, {ROWS // BATCH} batches)")
    return got


def test_regression_with_a_mask_and_weights(local_ray):
    rng = np.random.default_rng(0)
    t = (rng.standard_normal((ROWS, 50, 3)) * 3 + 100).astype(np.float32)
    cols = {"p": t + rng.standard_normal(t.shape).astype(np.float32), "t": t,
            "m": rng.random((ROWS, 50)) < 0.8, "w": rng.random(ROWS)}
    r = check(lambda: gpueval.Regression(metrics="all", device="cpu", threads=1), cols,
              pred="p", target="t", mask="m")
    assert r.count == int(cols["m"].sum()) * 3
    check(lambda: gpueval.Regression(device="cpu", threads=1), cols, pred="p", target="t",
          weight="w")


def test_classification_with_a_mask(local_ray):
    rng = np.random.default_rng(1)
    cols = {"logits": rng.standard_normal((ROWS, 7)).astype(np.float32),
            "label": rng.integers(0, 7, ROWS), "keep": rng.random(ROWS) < 0.9}
    r = check(lambda: gpueval.Classification("multiclass", num_classes=7, scores="logits",
                                             device="cpu", threads=1),
              cols, pred="logits", target="label", mask="keep")
    assert r.count == int(cols["keep"].sum())


def test_geometry_with_a_normalizer(local_ray):
    rng = np.random.default_rng(2)
    t = 100 * rng.standard_normal((ROWS, 16, 2))
    cols = {"p": t + 10 * rng.standard_normal(t.shape), "t": t,
            "head": 20 + 60 * rng.random(ROWS), "visible": rng.random((ROWS, 16)) < 0.85}
    check(lambda: gpueval.Geometry(pck_thresholds=[0.1, 0.5], key_axis=1, device="cpu",
                                   threads=1),
          cols, pred="p", target="t", mask="visible", inputs={"normalizer": "head"})


def test_a_missing_column_is_named(local_ray):
    cols = {"pred": np.zeros((ROWS, 3)), "t": np.zeros((ROWS, 3))}
    with pytest.raises(Exception, match="no column 'target'"):
        gpueval.ray.evaluate(dataset(cols), lambda: gpueval.Regression(device="cpu"))


def write_safetensors(path, tensors):
    """A .safetensors file by its specification: a little-endian u64 header length, the JSON
    header, then the tensors' bytes."""
    import json
    import struct

    names = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("bool"): "BOOL",
             np.dtype("int64"): "I64"}
    header, offset, blobs = {}, 0, []
    for key, a in tensors.items():
        a = np.ascontiguousarray(a)
        header[key] = {"dtype": names[a.dtype], "shape": list(a.shape),
                       "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_shards_through_the_readers(local_ray, tmp_path):
    rng = np.random.default_rng(3)
    preds, targets, shards = [], [], []
    for i, rows in enumerate((100, 60, 130)):
        logits = rng.standard_normal((rows, 5)).astype(np.float32)
        label = rng.integers(0, 5, rows)
        np.save(tmp_path / f"pred{i}.npy", logits)
        np.save(tmp_path / f"target{i}.npy", label)
        write_safetensors(tmp_path / f"shard{i}.safetensors", {"logits": logits, "label": label})
        preds.append(logits)
        targets.append(label)
    # The readers give the files' arrays, rows by window.
    got = gpueval.read_shard(tmp_path / "shard1.safetensors", "logits", 10, 20)
    assert np.array_equal(got, preds[1][10:30])
    assert gpueval.shard_rows(tmp_path / "pred2.npy") == 130
    make = lambda: gpueval.Classification("multiclass", num_classes=5, scores="logits",  # noqa
                                          device="cpu", threads=1)
    want = make().update(np.concatenate(preds), np.concatenate(targets)).compute().to_dict()
    npy = gpueval.ray.read_shards({"pred": [tmp_path / f"pred{i}.npy" for i in range(3)],
                                   "target": [tmp_path / f"target{i}.npy" for i in range(3)]},
                                  rows=32)
    safe = [tmp_path / f"shard{i}.safetensors" for i in range(3)]
    st = gpueval.ray.read_shards({"pred": safe, "target": safe},
                                 keys={"pred": "logits", "target": "label"}, rows=50)
    for ds in (npy, st):
        got = gpueval.ray.evaluate(ds, make, batch_size=16).to_dict()
        assert {k: v for k, v in got.items() if k != "device"} == \
            {k: v for k, v in want.items() if k != "device"}
    # Shards of one set that differ in rows are named, not cut to the shorter.
    with pytest.raises(Exception, match="differ in rows"):
        gpueval.ray.evaluate(gpueval.ray.read_shards(
            {"pred": [tmp_path / "pred0.npy"], "target": [tmp_path / "target1.npy"]}), make)
    # A truncated shard is named, not read as numbers.
    data = (tmp_path / "pred0.npy").read_bytes()
    (tmp_path / "bad.npy").write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match="bad.npy"):
        gpueval.read_shard(tmp_path / "bad.npy")
