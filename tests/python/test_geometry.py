"""gpueval.Geometry against NumPy float64 implementations of each published definition:
VideoPose3D's common/loss.py (mpjpe, p_mpjpe with its reflection fix, n_mpjpe), RAFT's
evaluate.py (EPE, 1/3/5-pixel accuracy, KITTI's Fl-all outliers over valid pixels) and
Argoverse's ADE; masks, weights, every dtype, uneven and empty batches, degenerate samples,
states and gpu-eval."""

import json
import os
import pickle
import subprocess

import numpy as np
import pytest

import gpueval

RTOL = 1e-12


# ---- the references ---------------------------------------------------------------------------

def mpjpe(p, t):
    return np.linalg.norm(p - t, axis=-1)


def p_mpjpe(predicted, target):
    """VideoPose3D common/loss.py p_mpjpe, per vector (samples along axis 0, [N, J, D])."""
    muX = np.mean(target, axis=1, keepdims=True)
    muY = np.mean(predicted, axis=1, keepdims=True)
    X0, Y0 = target - muX, predicted - muY
    normX = np.sqrt(np.sum(X0 ** 2, axis=(1, 2), keepdims=True))
    normY = np.sqrt(np.sum(Y0 ** 2, axis=(1, 2), keepdims=True))
    X0, Y0 = X0 / normX, Y0 / normY
    H = np.matmul(X0.transpose(0, 2, 1), Y0)
    U, s, Vt = np.linalg.svd(H)
    V = Vt.transpose(0, 2, 1)
    R = np.matmul(V, U.transpose(0, 2, 1))
    sign_detR = np.sign(np.expand_dims(np.linalg.det(R), axis=1))
    V[:, :, -1] *= sign_detR
    s[:, -1] *= sign_detR.flatten()
    R = np.matmul(V, U.transpose(0, 2, 1))
    tr = np.expand_dims(np.sum(s, axis=1, keepdims=True), axis=2)
    a = tr * normX / normY
    t = muX - a * np.matmul(muY, R)
    return np.linalg.norm(a * np.matmul(predicted, R) + t - target, axis=-1)


def n_mpjpe(predicted, target):
    """VideoPose3D common/loss.py n_mpjpe, per vector."""
    norm_predicted = np.mean(np.sum(predicted ** 2, axis=-1, keepdims=True), axis=-2,
                             keepdims=True)
    norm_target = np.mean(np.sum(target * predicted, axis=-1, keepdims=True), axis=-2,
                          keepdims=True)
    return np.linalg.norm(norm_target / norm_predicted * predicted - target, axis=-1)


def reference(p, t, pck=(), auc_max=150.0, auc_steps=31):
    """Every metric over [N, J, D] float64 poses, as dict of name -> (value, per-joint)."""
    e = mpjpe(p, t)
    pa, na = p_mpjpe(p.copy(), t.copy()), n_mpjpe(p, t)
    mag = np.linalg.norm(t, axis=-1)
    grid = np.linspace(0, auc_max, auc_steps)
    out = {"mpjpe": e, "pa_mpjpe": pa, "n_mpjpe": na,
           "px1": (e < 1.0), "px3": (e < 3.0), "px5": (e < 5.0),
           "outlier_rate": (e > 3.0) & (e / np.where(mag > 0, mag, 1e-300) > 0.05)}
    for th in pck:
        out[f"pck@{th:g}"] = e < th
    res = {k: (v.mean(), v.mean(axis=0)) for k, v in out.items()}
    res["rmse_vec"] = (np.sqrt((e ** 2).mean()), np.sqrt((e ** 2).mean(axis=0)))
    res["auc_pck"] = (np.mean([(e < g).mean() for g in grid]),
                      np.mean([(e < g).mean(axis=0) for g in grid], axis=0))
    return res


def close(got, want, rtol=RTOL):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert np.allclose(got, want, rtol=rtol, atol=rtol * np.max(np.abs(want), initial=1e-300)), \
        (got, want, np.max(np.abs(got - want)))


def poses(rng, n, j, d, reflect=False):
    t = 100 * rng.standard_normal((n, j, d))
    p = 1.1 * t + 5 + 10 * rng.standard_normal(t.shape)
    if reflect:
        p[::5] = -p[::5]  # a mirror image (3-D point reflection: det -1): no reflection allowed
    return p, t


# ---- values -------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [2, 3])
def test_poses_per_joint_match_videopose3d(rng, d):
    p, t = poses(rng, 600, 17, d, reflect=d == 3)
    ev = gpueval.Geometry(key_axis=1, pck_thresholds=[50, 150], device="cpu")
    for a, b in ((0, 1), (1, 1), (1, 250), (250, 600)):  # uneven and empty batches
        ev.update(p[a:b], t[a:b])
    r = ev.compute()
    ref = reference(p, t, pck=(50, 150))
    assert set(r) == set(ref) and r.count == 600 * 17
    worst = {}
    for name, (value, per_joint) in ref.items():
        close(r[name], value)
        close(r.per_key[name], per_joint)
        worst[name] = abs(r[name] - value) / abs(value) if value else abs(r[name])
    assert max(worst.values()) < 1e-13, worst
    assert r["epe"] == r["ade"] == r["mpjpe"]
    assert list(r.per_key["count"]) == [600] * 17


def test_motion_pa_aligns_each_row_as_one_sample(rng):
    # [N, T, J, 3]: the sample of pa_mpjpe and n_mpjpe is the row (every frame's joints), the
    # key the joint.
    p, t = poses(rng, 40, 6 * 20, 3)
    p4, t4 = p.reshape(40, 6, 20, 3), t.reshape(40, 6, 20, 3)
    r = gpueval.Geometry(key_axis=2, device="cpu")(p4, t4)
    ref = reference(p, t)
    for name in ("mpjpe", "pa_mpjpe", "n_mpjpe", "rmse_vec"):
        close(r[name], ref[name][0])
        close(r.per_key[name], ref[name][1].reshape(6, 20).mean(axis=0) if name != "rmse_vec"
              else np.sqrt((mpjpe(p4, t4) ** 2).mean(axis=(0, 1))))


def argoverse(pred, gt, miss_threshold=2.0):
    """Argoverse's get_displacement_errors_and_miss_rate per sample ([N, K, T, 2] against
    [N, T, 2]): the mode with the least FDE (the first on a tie), its ADE, and the least ADE."""
    fde = np.linalg.norm(pred[:, :, -1] - gt[:, None, -1], axis=-1)  # [N, K]
    ade = np.linalg.norm(pred - gt[:, None], axis=-1).mean(axis=-1)  # [N, K]
    best = np.argmin(fde, axis=1)
    rows = np.arange(len(gt))
    return {"min_ade": ade.min(axis=1).mean(), "min_fde": fde[rows, best].mean(),
            "min_ade_by_fde": ade[rows, best].mean(),
            "miss_rate": (fde[rows, best] > miss_threshold).mean()}


def test_trajectory_modes_match_argoverse(rng):
    gt = np.cumsum(rng.standard_normal((200, 30, 2)), axis=1)
    pred = gt[:, None] + np.cumsum(0.3 * rng.standard_normal((200, 6, 30, 2)), axis=2)
    ev = gpueval.Geometry(mode_axis=1, time_axis=1, device="cpu")
    for a, b in ((0, 77), (77, 77), (77, 200)):
        ev.update(pred[a:b], gt[a:b])
    r = ev.compute()
    want = argoverse(pred, gt)
    assert r.metric_names == ["min_ade", "min_fde", "min_ade_by_fde", "miss_rate"]
    for name, value in want.items():
        close(r[name], value)
    assert r.samples == r.samples_with_final == 200 and r.count == 200 * 30
    # A miss threshold of 0.5 and float32 inputs.
    p32, g32 = pred.astype(np.float32), gt.astype(np.float32)
    r32 = gpueval.Geometry(mode_axis=1, time_axis=1, miss_threshold=0.5, device="cpu")(p32, g32)
    close(r32["miss_rate"], argoverse(p32.astype(np.float64), g32.astype(np.float64), 0.5)[
        "miss_rate"])
    # Samples whose final step is masked out: they count for min_ade only.
    keep = np.ones((200, 30), dtype=bool)
    keep[:50, -1] = False
    rm = gpueval.Geometry(mode_axis=1, time_axis=1, device="cpu")(pred, gt, mask=keep)
    assert rm.samples == 200 and rm.samples_with_final == 150
    close(rm["min_fde"], argoverse(pred[50:], gt[50:])["min_fde"])
    with pytest.raises(ValueError, match="mode_axis must be 1"):
        gpueval.Geometry(mode_axis=2, time_axis=1)
    with pytest.raises(ValueError, match="needs time_axis"):
        gpueval.Geometry(mode_axis=1, metrics="min_fde")
    with pytest.raises(ValueError, match="is a vector's metric"):
        gpueval.Geometry(mode_axis=1, time_axis=1, metrics="mpjpe")
    with pytest.raises(ValueError, match=r"pred is \[N, K\]"):
        gpueval.Geometry(mode_axis=1, time_axis=1, device="cpu")(pred[:, 0], gt)


def test_fde_and_the_error_against_the_horizon(rng):
    # [N, T, J, 3] motion: fde at the last frame, per joint; the error by frame (by_axis 1).
    t = rng.standard_normal((40, 10, 5, 3))
    p = t + np.linspace(0.1, 1.0, 10)[None, :, None, None] * rng.standard_normal(t.shape)
    r = gpueval.Geometry(time_axis=1, by_axis=1, key_axis=2, metrics="mpjpe,fde,px1",
                         device="cpu")(p, t)
    e = mpjpe(p, t)  # [N, T, J]
    close(r["fde"], e[:, -1].mean())
    close(r.per_key["fde"], e[:, -1].mean(axis=0))
    close(r.by_axis["mpjpe"], e.mean(axis=(0, 2)))
    close(r.by_axis["px1"], (e < 1).mean(axis=(0, 2)))
    assert list(r.by_axis["count"]) == [40 * 5] * 10 and r.by_axis["axis"] == 1
    assert np.isnan(r.by_axis["fde"][:-1]).all()  # no final vector but at the last index
    close(r.by_axis["fde"][-1], e[:, -1].mean())
    assert gpueval.load_report(r.to_json()).by_axis["axis"] == 1


def test_sample_axes_align_each_frame(rng):
    # [N, T, J, 3] with sample_axes=[2]: each frame's joints aligned on their own, as
    # VideoPose3D aligns [N * T, J, 3]; the error by frame and per joint alongside.
    p, t = poses(rng, 30 * 8, 17, 3)
    p4, t4 = p.reshape(30, 8, 17, 3), t.reshape(30, 8, 17, 3)
    keep = rng.random((30, 8, 17)) < 0.9
    r = gpueval.Geometry(sample_axes=[2], by_axis=1, key_axis=2, metrics="pa_mpjpe,n_mpjpe",
                         device="cpu")(p4, t4, mask=keep)
    flat = gpueval.Geometry(metrics="pa_mpjpe,n_mpjpe", device="cpu")(
        p, t, mask=keep.reshape(240, 17))
    assert dict(r) == dict(flat)  # the same samples, the same exact sums
    assert r.by_axis["pa_mpjpe"].shape == (8,)
    # Over the frames (axis 1) per joint instead: a sample is a joint's track.
    tracks = gpueval.Geometry(sample_axes=[1], metrics="pa_mpjpe", device="cpu")(p4, t4)
    want = p_mpjpe(p4.transpose(0, 2, 1, 3).reshape(-1, 8, 3).copy(),
                   t4.transpose(0, 2, 1, 3).reshape(-1, 8, 3).copy()).mean()
    close(tracks["pa_mpjpe"], want)
    # Errors name a vector by its index in C order, whatever order the samples read them in.
    bad = p4.copy()
    bad[3, 2, 4, 0] = np.nan
    with pytest.raises(gpueval.NonFiniteError, match=r"row 3, vector 38 of the row"):
        gpueval.Geometry(sample_axes=[1], nan_policy="error", device="cpu")(bad, t4)
    with pytest.raises(ValueError, match="sample_axes lists axis 2 twice"):
        gpueval.Geometry(sample_axes=[2, 2], device="cpu")(p4, t4)


def test_flow_matches_raft_and_kitti(rng):
    n, h, w = 3, 24, 32
    gt = 8 * rng.standard_normal((n, 2, h, w))
    pr = gt + 2.5 * rng.standard_normal(gt.shape)
    valid = rng.random((n, h, w)) < 0.8
    ev = gpueval.Geometry(vector_axis=1, metrics="epe,px1,px3,px5,outlier_rate", device="cpu")
    r = ev(pr.astype(np.float32), gt.astype(np.float32), mask=valid)
    p32, g32 = pr.astype(np.float32).astype(np.float64), gt.astype(np.float32).astype(np.float64)
    epe = np.sqrt(np.sum((p32 - g32) ** 2, axis=1))  # RAFT: over the flow axis
    mag = np.sqrt(np.sum(g32 ** 2, axis=1))
    e, m = epe[valid], mag[valid]
    close(r["epe"], e.mean())
    close(r["px1"], (e < 1).mean())
    close(r["px3"], (e < 3).mean())
    close(r["px5"], (e < 5).mean())
    close(r["outlier_rate"], ((e > 3.0) & ((e / m) > 0.05)).mean())
    assert r.count == int(valid.sum())
    # The same vectors channel-last: the same bits.
    last = gpueval.Geometry(metrics="epe,px1,px3,px5,outlier_rate", device="cpu")(
        np.moveaxis(pr, 1, -1).astype(np.float32), np.moveaxis(gt, 1, -1).astype(np.float32),
        mask=valid)
    assert dict(last) == dict(r)


def test_trajectories_ade(rng):
    # Argoverse's ADE: the mean displacement over the horizon; [N, 30, 2].
    gt = np.cumsum(rng.standard_normal((50, 30, 2)), axis=1)
    pr = gt + rng.standard_normal(gt.shape)
    r = gpueval.Geometry(metrics="ade", device="cpu")(pr, gt)
    close(r["ade"], np.mean(np.linalg.norm(pr - gt, axis=-1)))


def test_error_quantiles_within_the_sketch_accuracy(rng):
    p, t = poses(rng, 300, 17, 3)
    ev = gpueval.Geometry(metrics="mpjpe,median_error,error_q90,error_q99", device="cpu")
    for a, b in ((0, 100), (100, 300)):
        ev.update(p[a:b], t[a:b])
    r = ev.compute()
    e = mpjpe(p, t).ravel()
    for name, q in (("median_error", 0.5), ("error_q90", 0.9), ("error_q99", 0.99)):
        want = np.quantile(e, q)
        assert abs(r[name] - want) <= 0.0040 * want, (name, r[name], want)
    assert r.to_dict()["quantile_accuracy"] < 0.004
    assert np.isnan(r.per_key["median_error"]).all()
    merged = gpueval.from_state(ev.state()).compute()
    assert dict(merged) == dict(r)
    with pytest.raises(ValueError, match="not weighted"):
        ev.update(p, t, weight=np.ones((300, 17)))


def test_weights_and_masks(rng):
    p, t = poses(rng, 80, 17, 3)
    w = rng.random((80, 17)) * (rng.random((80, 17)) < 0.9)
    r = gpueval.Geometry(metrics="mpjpe,rmse_vec,pck", pck_thresholds=[20], device="cpu")(
        p, t, weight=w)
    e = mpjpe(p, t)
    close(r["mpjpe"], np.sum(w * e) / np.sum(w))
    close(r["rmse_vec"], np.sqrt(np.sum(w * e ** 2) / np.sum(w)))
    close(r["pck@20"], np.sum(w * (e < 20)) / np.sum(w))
    close(r.weight_sum, w.sum())
    # A weight of 0 or 1 is the mask it equals, bit for bit, pa_mpjpe's alignment included.
    keep = rng.random((80, 17)) < 0.7
    a = gpueval.Geometry(device="cpu")(p, t, mask=keep)
    b = gpueval.Geometry(device="cpu")(p, t, weight=keep.astype(np.float32))
    assert dict(a) == dict(b)
    # The masked joints are left out of each sample's alignment: the same as aligning the
    # visible joints alone (one sample at a time here).
    total = count = 0
    for i in range(5):
        one = gpueval.Geometry(metrics="pa_mpjpe", device="cpu")(p[i:i + 1][:, keep[i]],
                                                                 t[i:i + 1][:, keep[i]])
        total, count = total + one["pa_mpjpe"] * one.count, count + one.count
    masked = gpueval.Geometry(metrics="pa_mpjpe", device="cpu")(p[:5], t[:5], mask=keep[:5])
    close(masked["pa_mpjpe"], total / count, 1e-14)
    with pytest.raises(ValueError, match="weight of vector"):
        gpueval.Geometry(device="cpu")(p, t, weight=-w)


def pckh(pred, gt, head, visible, thresholds):
    """MPII's PCKh as mmpose's keypoint_pck_accuracy computes it over [N, J, 2] keypoints:
    each visible joint's distance divided by its person's head size, under each threshold."""
    dist = np.sqrt(((pred - gt) ** 2).sum(-1)) / head[:, None]
    return {f"pck@{th:g}": (dist < th)[visible].mean() for th in thresholds}


def test_pckh_normalizer_matches_mpii(rng):
    p, t = poses(rng, 300, 16, 2)
    head = 20 + 60 * rng.random(300)
    visible = rng.random((300, 16)) < 0.85
    want = pckh(p, t, head, visible, (0.1, 0.5))
    ev = gpueval.Geometry(metrics="mpjpe,pck,auc_pck", pck_thresholds=[0.1, 0.5], auc_max=0.5,
                          auc_steps=11, key_axis=1, device="cpu")
    for lo, hi in ((0, 120), (120, 300)):
        ev.update(p[lo:hi], t[lo:hi], mask=visible[lo:hi], normalizer=head[lo:hi])
    r = ev.compute()
    assert r["pck@0.1"] == want["pck@0.1"] and r["pck@0.5"] == want["pck@0.5"]
    grid = np.linspace(0, 0.5, 11)
    dist = np.sqrt(((p - t) ** 2).sum(-1)) / head[:, None]
    close(r["auc_pck"], np.mean([(dist < g)[visible].mean() for g in grid]))
    close(r["mpjpe"], mpjpe(p, t)[visible].mean())  # the errors themselves
    assert r.to_dict()["spec"]["pck_normalized"] is True
    # Per joint, from torch tensors, in the forward (__call__) form too.
    torch = pytest.importorskip("torch")
    once = gpueval.Geometry(metrics="pck", pck_thresholds=[0.5], key_axis=1, device="cpu")(
        torch.from_numpy(p), torch.from_numpy(t), mask=torch.from_numpy(visible),
        normalizer=torch.from_numpy(head))
    per_joint = [(dist[:, j] < 0.5)[visible[:, j]].mean() for j in range(16)]
    close(once.per_key["pck@0.5"], per_joint)
    # Every update or none; finite and > 0; a metric it scales.
    with pytest.raises(ValueError, match="pass normalizer= to every update"):
        ev.update(p, t)
    with pytest.raises(ValueError, match="normalizer of vector 16 is 0"):
        gpueval.Geometry(pck_thresholds=[0.5], device="cpu").update(
            p, t, normalizer=np.where(np.arange(300) == 1, 0.0, head))
    with pytest.raises(ValueError, match="neither pck nor auc_pck"):
        gpueval.Geometry(metrics="mpjpe", device="cpu").update(p, t, normalizer=head)
    with pytest.raises(ValueError, match="takes no input 'normalizer'"):
        # The shared path any family's own inputs take (geometry's update passes normalizer=).
        gpueval.Regression(device="cpu")._fold(p, t, None, None, None, {"normalizer": head})
    # States carry the choice: a normalized state does not merge into a plain evaluator.
    plain = gpueval.Geometry(metrics="mpjpe,pck,auc_pck", pck_thresholds=[0.1, 0.5],
                             auc_max=0.5, auc_steps=11, key_axis=1, device="cpu").update(p, t)
    with pytest.raises(ValueError, match="pck_normalized"):
        plain.merge(ev.state())


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "bfloat16"])
def test_every_dtype(rng, dtype):
    p, t = poses(rng, 30, 17, 3)
    if dtype == "bfloat16":
        torch = pytest.importorskip("torch")
        pp = torch.tensor(p / 100).to(torch.bfloat16)
        tt = torch.tensor(t / 100).to(torch.bfloat16)
        p64, t64 = pp.double().numpy(), tt.double().numpy()
    else:
        pp, tt = (p / 100).astype(dtype), (t / 100).astype(dtype)
        p64, t64 = pp.astype(np.float64), tt.astype(np.float64)
    r = gpueval.Geometry(device="cpu")(pp, tt)
    ref = reference(p64, t64)
    for name in ("mpjpe", "pa_mpjpe", "n_mpjpe", "rmse_vec"):
        close(r[name], ref[name][0])


def test_degenerate_samples():
    t = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 2, 0]]])
    collapsed = np.full_like(t, 7.0)  # every predicted joint at one point
    r = gpueval.Geometry(metrics="pa_mpjpe,n_mpjpe", device="cpu")(collapsed, t)
    # scale 0: every joint maps to the targets' centroid
    close(r["pa_mpjpe"], np.linalg.norm(t - t.mean(axis=1), axis=-1).mean())
    point = np.zeros_like(t)  # a target of zero scale: aligned exactly
    assert gpueval.Geometry(metrics="pa_mpjpe", device="cpu")(t, point)["pa_mpjpe"] == 0
    zero = gpueval.Geometry(metrics="n_mpjpe", device="cpu")(np.zeros_like(t), t)
    close(zero["n_mpjpe"], np.linalg.norm(t, axis=-1).mean())  # scale 0
    visible = np.array([[1, 0, 0]], dtype=bool)  # one visible joint: aligned onto its target
    assert gpueval.Geometry(metrics="pa_mpjpe", device="cpu")(
        collapsed + 1, t, mask=visible)["pa_mpjpe"] == 0
    empty = gpueval.Geometry(device="cpu")(np.zeros((0, 3, 3)), np.zeros((0, 3, 3)))
    assert np.isnan(empty["mpjpe"]) and empty.count == 0


def test_nan_policies(rng):
    p, t = poses(rng, 10, 4, 3)
    p[3, 2, 1] = np.nan
    r = gpueval.Geometry(device="cpu", key_axis=1)(p, t)
    assert r.skipped_nonfinite == 1 and r.count == 39
    prop = gpueval.Geometry(device="cpu", key_axis=1, nan_policy="propagate")(p, t)
    assert np.isnan(prop["mpjpe"]) and np.isnan(prop.per_key["mpjpe"][2])
    assert not np.isnan(prop.per_key["mpjpe"][1])
    with pytest.raises(gpueval.NonFiniteError, match=r"row 3, vector 2"):
        gpueval.Geometry(device="cpu", nan_policy="error")(p, t)


def test_errors_name_the_fix(rng):
    p, t = poses(rng, 4, 5, 4)
    with pytest.raises(ValueError, match="without pa_mpjpe"):
        gpueval.Geometry(metrics="pa_mpjpe", device="cpu")(p, t)
    assert "pa_mpjpe" not in gpueval.Geometry(device="cpu")(p, t)  # the default leaves it out
    with pytest.raises(ValueError, match="pck_thresholds"):
        gpueval.Geometry(metrics="pck")
    with pytest.raises(ValueError, match="unknown geometry metric 'mpjpee'"):
        gpueval.Geometry(metrics="mpjpee")
    with pytest.raises(ValueError, match="a mask has pred's shape without the vector axis"):
        gpueval.Geometry(device="cpu")(p, t, mask=np.ones((4, 4), dtype=bool))
    # A flow field given without its vector axis: an error that names it, not errors along W.
    flow = rng.standard_normal((2, 2, 8, 16))
    with pytest.raises(ValueError, match=r"last axis has 16 components.*vector_axis=1"):
        gpueval.Geometry(device="cpu")(flow, flow)
    long = gpueval.Geometry(vector_axis=-1, metrics="mpjpe", device="cpu")(flow + 1, flow)
    close(long["mpjpe"], 4.0)  # |(1, ..., 1)| over 16 components
    with pytest.raises(ValueError, match="float vectors"):
        gpueval.Geometry(device="cpu")(p.astype(np.int32), t.astype(np.int32))


# ---- states, reports, gpu-eval -------------------------------------------------------------------

def test_states_merge_exactly_and_round_trip(rng):
    p, t = poses(rng, 90, 17, 3)
    whole = gpueval.Geometry(key_axis=1, pck_thresholds=[50], device="cpu", threads=1)(p, t)
    a = gpueval.Geometry(key_axis=1, pck_thresholds=[50], device="cpu", threads=2)
    b = gpueval.Geometry(key_axis=1, pck_thresholds=[50], device="cpu")
    a.update(p[:31], t[:31])
    b.update(p[31:], t[31:])
    merged = gpueval.from_state(a.state()).merge(b.state()).compute()
    assert isinstance(merged, gpueval.GeometryReport)
    assert dict(merged) == dict(whole)  # bitwise: exact sums
    assert np.array_equal(merged.per_key["pa_mpjpe"], whole.per_key["pa_mpjpe"])
    other = gpueval.Geometry(key_axis=1, device="cpu")
    other.update(p[:3], t[:3])
    with pytest.raises(gpueval.StateError, match="cannot merge: the state was made with metrics"):
        other.merge(a.state())
    again = pickle.loads(pickle.dumps(whole))
    assert dict(again) == dict(whole)
    loaded = gpueval.load_report(whole.to_json())
    assert isinstance(loaded, gpueval.GeometryReport) and dict(loaded) == dict(whole)
    assert loaded.pck_curve["thresholds"][-1] == 150
    restored = pickle.loads(pickle.dumps(a))
    assert dict(restored.compute()) == dict(a.compute())


def test_gpu_eval_matches_python(rng, cli, tmp_path):
    p, t = poses(rng, 64, 17, 3)
    p, t = p.astype(np.float32), t.astype(np.float32)
    files = []
    for k in range(2):
        for name, x in (("pred", p), ("target", t)):
            path = tmp_path / f"{name}_{k}.npy"
            np.save(path, x[32 * k:32 * (k + 1)])
            files.append(str(path))
    out = subprocess.run([cli, "--task", "geometry", "--key-axis", "1", "--pck-thresholds", "50",
                          "--pred", files[0], files[2], "--target", files[1], files[3],
                          "--format", "json", "--device", "cpu"],
                         check=True, capture_output=True, text=True).stdout
    report = gpueval.load_report(json.loads(out))
    mine = gpueval.Geometry(key_axis=1, pck_thresholds=[50], device="cpu")(p, t)
    assert dict(report) == dict(mine)
    assert np.array_equal(report.per_key["mpjpe"], mine.per_key["mpjpe"])


def test_plots(rng):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    p, t = poses(rng, 20, 17, 3)
    r = gpueval.Geometry(key_axis=1, device="cpu")(p, t)
    fig, ax = r.plot("per_key", metric="pa_mpjpe")
    assert len(ax.patches) == 17
    fig, ax = r.plot("pck")
    assert len(ax.lines) == 1
    with pytest.raises(ValueError, match="per_key, by_axis, pck"):
        r.plot("joints")
    motion = gpueval.Geometry(by_axis=1, device="cpu")(p.reshape(20, 17, 1, 3),
                                                      t.reshape(20, 17, 1, 3))
    fig, ax = motion.plot()  # auto: the error against the breakdown index
    assert len(ax.lines[0].get_xdata()) == 17
