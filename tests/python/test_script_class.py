#!/usr/bin/python3
"""The TorchScript class from Python gives the same numbers as the C++ API: the same tensors,
saved as .npy and evaluated by gpu-eval (the C++ API), must give the same JSON values bit for
bit; and merging the states of several evaluators (as ranks would after an all-gather) must
match one evaluator over all the data.

    test_script_class.py LIBGPUEVAL_TORCH GPU_EVAL
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch


def main():
    lib, cli = sys.argv[1], sys.argv[2]
    torch.classes.load_library(lib)
    torch.manual_seed(3)
    t = torch.randn(12, 40, 5, dtype=torch.float32) * 3 + 100
    p = t + 0.2 * torch.randn_like(t)
    ev = torch.classes.gpueval.Evaluator("all", "-1", 1, "skip", "cpu", 2)
    ev.update(p, t, None)
    got = json.loads(ev.compute_json())

    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "p.npy"), p.numpy())
        np.save(os.path.join(d, "t.npy"), t.numpy())
        out = subprocess.run([cli, "--pred", os.path.join(d, "p.npy"), "--target",
                              os.path.join(d, "t.npy"), "--metrics", "all", "--by-axis", "1",
                              "--format", "json", "--device", "cpu", "--threads", "2"],
                             check=True, capture_output=True, text=True).stdout
    want = json.loads(out)
    want_reg = want
    for scope in ("metrics", "flat", "per_channel", "by_axis", "variance_weighted"):
        assert got[scope] == want[scope], (scope, got[scope], want[scope])
    assert got["count"] == want["count"] == 12 * 40 * 5

    # Dict results: tensors under metric names.
    d = ev.compute()
    assert d["per_channel/mse"].shape == (5,)
    assert float(d["mse"]) == got["metrics"]["mse"]

    # Four "ranks", each with a slice of the batch; gather the uint8 states and merge.
    ranks = [torch.classes.gpueval.Evaluator("all", "-1", 1, "skip", "cpu", 1) for _ in range(4)]
    for r, (ps, ts) in enumerate(zip(p.chunk(4), t.chunk(4))):
        ranks[r].update(ps, ts, None)
    states = [r.state() for r in ranks]  # torch.distributed.all_gather_object would carry these
    merged = torch.classes.gpueval.Evaluator("all", "-1", 1, "skip", "cpu", 1)
    for s in states:
        merged.merge(s)
    m = json.loads(merged.compute_json())
    for name, value in got["metrics"].items():
        if value is None:
            assert m["metrics"][name] is None, name
        else:
            assert math.isclose(m["metrics"][name], value, rel_tol=1e-9, abs_tol=1e-9), name

    # Errors surface as RuntimeError with gpueval's message.
    try:
        ev.update(p, t[:, :, :4], None)
        raise AssertionError("no error")
    except RuntimeError as e:
        assert "pred has shape [12, 40, 5] but target has shape [12, 40, 4]" in str(e), str(e)
    # The classification class: the same JSON as gpu-eval --task multiclass on the same files.
    logits = torch.randn(30, 4, 7)
    labels = torch.randint(0, 4, (30, 7))
    clf = torch.classes.gpueval.Classifier("multiclass", 4, "all", "logits", 0.5, 1, 2, None, 15,
                                           1.0, "skip", "cpu", 2)
    clf.update(logits, labels, None)
    got = json.loads(clf.compute_json())
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "p.npy"), logits.numpy())
        np.save(os.path.join(d, "t.npy"), labels.numpy())
        out = subprocess.run([cli, "--pred", os.path.join(d, "p.npy"), "--target",
                              os.path.join(d, "t.npy"), "--task", "multiclass", "--num-classes",
                              "4", "--scores", "logits", "--top-k", "2", "--metrics", "all",
                              "--format", "json", "--device", "cpu"],
                             check=True, capture_output=True, text=True).stdout
    want = json.loads(out)
    for scope in ("metrics", "per_class", "confusion_matrix", "calibration"):
        assert got[scope] == want[scope], scope
    assert clf.compute()["confusion_matrix"].shape == (4, 4)
    # torch.classes.gpueval.Metrics: any family by task and options, the same numbers as the
    # family's own class.
    any_clf = torch.classes.gpueval.Metrics(
        "multiclass", {"num_classes": "4", "metrics": "all", "scores": "logits", "top_k": "2"},
        "cpu", 2)
    any_clf.update(logits, labels, None)
    assert json.loads(any_clf.compute_json())["metrics"] == got["metrics"]
    any_reg = torch.classes.gpueval.Metrics("regression", {"metrics": "all", "by_axis": "1"},
                                            "cpu", 1)
    any_reg.update(p, t, None)
    assert json.loads(any_reg.compute_json())["per_channel"] == want_reg["per_channel"]
    try:
        torch.classes.gpueval.Metrics("multiclass", {"num_classes": "4", "thresold": "0.3"},
                                      "cpu", 1)
        raise AssertionError("no error")
    except RuntimeError as e:
        assert "thresold" in str(e) and "threshold" in str(e), str(e)
    # Sample weights: update_weighted (TorchScript methods take no defaults); a 0/1 weight is the
    # mask, to the bit.
    keep = torch.rand(12) > 0.3
    masked = torch.classes.gpueval.Evaluator("default", "-1", None, "skip", "cpu", 1)
    masked.update(p, t, keep)
    weighted = torch.classes.gpueval.Evaluator("default", "-1", None, "skip", "cpu", 1)
    weighted.update_weighted(p, t, None, keep.to(torch.float32))
    assert weighted.compute_json() == masked.compute_json()
    # The geometry class: poses [N, J, 3] per joint, the same numbers as the Python package's
    # engine (gpu-eval's JSON through Metrics), visibility masks of [N, J].
    t3 = torch.randn(20, 17, 3, dtype=torch.float64)
    p3 = 1.1 * t3 + 0.1 * torch.randn(20, 17, 3, dtype=torch.float64)
    visible = torch.rand(20, 17) > 0.2
    geo = torch.classes.gpueval.Geometry("default", -1, 1, "0.1,0.5", "skip", "cpu", 2)
    geo.update(p3, t3, visible)
    gm = geo.compute()
    assert gm["per_key/mpjpe"].shape == (17,) and "pa_mpjpe" in gm and "pck@0.5" in gm
    any_geo = torch.classes.gpueval.Metrics(
        "geometry", {"key_axis": "1", "pck_thresholds": "0.1,0.5"}, "cpu", 1)
    any_geo.update(p3, t3, visible)
    assert json.loads(any_geo.compute_json())["metrics"] == json.loads(geo.compute_json())["metrics"]
    e = (p3 - t3).norm(dim=-1)[visible]
    assert math.isclose(float(gm["mpjpe"]), float(e.mean()), rel_tol=1e-12)
    # PCKh: a family's own input by name through update_with (a head size per pose).
    head = 0.5 + torch.rand(20, dtype=torch.float64)
    pckh = torch.classes.gpueval.Geometry("mpjpe,pck", -1, 1, "0.1,0.5", "skip", "cpu", 1)
    pckh.update_with(p3, t3, visible, None, {"normalizer": head})
    relative = ((p3 - t3).norm(dim=-1) / head[:, None])[visible]
    assert float(pckh.compute()["pck@0.5"]) == float((relative < 0.5).double().mean())
    try:
        pckh.update(p3, t3, visible)
        raise AssertionError("an update without the normalizer was taken")
    except RuntimeError as err:
        assert "pass normalizer= to every update" in str(err), err
    print("torch script class: 12 checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
