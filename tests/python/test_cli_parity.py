"""The package and the gpu-eval command are one engine: the same data gives the same JSON,
bit for bit."""

import json
import subprocess

import numpy as np
import pytest
from conftest import batch_pairs

import gpueval

SCOPES = ("metrics", "flat", "variance_weighted", "per_channel", "by_axis", "count",
          "skipped_nonfinite", "channels", "spec", "schema", "task", "version")


@pytest.mark.parametrize("masked", [False, True])
def test_same_json_as_gpu_eval(tmp_path, rng, cli, masked):
    preds, targets, masks = [], [], []
    for i in range(3):
        p, t = batch_pairs(rng, (40, 25, 4), offset=100.0, scale=5.0)
        p[i, 3, 1] = np.nan  # skipped and counted by both
        m = rng.random((40, 25)) < 0.8
        m[i, 3] = True
        for name, a, keep in (("p", p, preds), ("t", t, targets), ("m", m, masks)):
            np.save(tmp_path / f"{name}{i}.npy", a)
            keep.append(np.load(tmp_path / f"{name}{i}.npy", mmap_mode="r"))
    ev = gpueval.Regression(metrics="all", by_axis=1, device="cpu", threads=2)
    for p, t, m in zip(preds, targets, masks):
        ev.update(p, t, m if masked else None)
    got = ev.compute().to_dict()

    args = [cli, "--metrics", "all", "--by-axis", "1", "--device", "cpu", "--threads", "2",
            "--format", "json", "--no-progress",
            "--pred", *[str(tmp_path / f"p{i}.npy") for i in range(3)],
            "--target", *[str(tmp_path / f"t{i}.npy") for i in range(3)]]
    if masked:
        args += ["--mask", *[str(tmp_path / f"m{i}.npy") for i in range(3)]]
    want = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    for scope in SCOPES:
        assert got[scope] == want[scope], scope
    assert got["skipped_nonfinite"] == 3


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_classification_same_json_as_gpu_eval(tmp_path, rng, cli, task):
    classes = 2 if task == "binary" else 5
    preds, targets = [], []
    for i in range(3):
        if task == "binary":
            p = rng.random((40, 6)).astype(np.float32)
            t = (rng.random((40, 6)) < p).astype(np.int64)
        elif task == "multiclass":
            p = rng.standard_normal((40, classes, 6)).astype(np.float32)
            t = rng.integers(0, classes, (40, 6))
        else:
            p = rng.standard_normal((40, classes)).astype(np.float32)
            t = (rng.random((40, classes)) < 0.4).astype(np.int64)
        np.save(tmp_path / f"p{i}.npy", p)
        np.save(tmp_path / f"t{i}.npy", t)
        preds.append(p)
        targets.append(t)
    scores = "probabilities" if task == "binary" else "logits"
    ev = gpueval.Classification(task, num_classes=classes, scores=scores, metrics="all",
                                device="cpu", threads=2)
    for p, t in zip(preds, targets):
        ev.update(p, t)
    got = ev.compute().to_dict()
    out = subprocess.run(
        [cli, "--task", task, "--num-classes", str(classes), "--scores", scores, "--metrics",
         "all", "--device", "cpu", "--format", "json", "--no-progress",
         "--pred", *[str(tmp_path / f"p{i}.npy") for i in range(3)],
         "--target", *[str(tmp_path / f"t{i}.npy") for i in range(3)]],
        check=True, capture_output=True, text=True).stdout
    want = json.loads(out)
    for scope in ("metrics", "per_class", "confusion_matrix", "calibration", "count", "spec",
                  "task", "classes"):
        assert got[scope] == want[scope], scope
