#!/usr/bin/env python3
"""What a geometry update costs against the code people run per batch, on the CPU, same batches,
one run: poses [256, 17, 3] float32 (VideoPose3D's mpjpe, p_mpjpe and n_mpjpe in NumPy as
published, and p_mpjpe ported to torch) and optical flow [4, 2, 368, 496] float32 with a
validity mask (RAFT's EPE, 1/3/5 px and KITTI's Fl-all in torch, as evaluate.py computes them).
The references only compute the batch's values (the caller keeps lists to average); gpueval
folds the batch into exact epoch sums (every metric at once for poses, per joint too).

    PYTHONPATH=build/python python3 bench/python/geometry.py [--threads 2] [--repeat 30]

Median milliseconds per update. Prints a Markdown table.
"""

import argparse
import statistics
import time

import numpy as np

import gpueval


def median_ms(f, repeat):
    f()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def p_mpjpe_numpy(predicted, target):
    """VideoPose3D common/loss.py p_mpjpe, as published."""
    muX = np.mean(target, axis=1, keepdims=True)
    muY = np.mean(predicted, axis=1, keepdims=True)
    X0, Y0 = target - muX, predicted - muY
    normX = np.sqrt(np.sum(X0 ** 2, axis=(1, 2), keepdims=True))
    normY = np.sqrt(np.sum(Y0 ** 2, axis=(1, 2), keepdims=True))
    X0 /= normX
    Y0 /= normY
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
    return np.mean(np.linalg.norm(a * np.matmul(predicted, R) + t - target, axis=len(target.shape) - 1))


def n_mpjpe_numpy(predicted, target):
    norm_predicted = np.mean(np.sum(predicted ** 2, axis=-1, keepdims=True), axis=-2, keepdims=True)
    norm_target = np.mean(np.sum(target * predicted, axis=-1, keepdims=True), axis=-2, keepdims=True)
    return np.mean(np.linalg.norm(norm_target / norm_predicted * predicted - target, axis=-1))


def p_mpjpe_torch(torch, predicted, target):
    """p_mpjpe ported to torch (float64, as people do to keep the SVD stable)."""
    predicted, target = predicted.double(), target.double()
    muX, muY = target.mean(1, keepdim=True), predicted.mean(1, keepdim=True)
    X0, Y0 = target - muX, predicted - muY
    normX = X0.pow(2).sum((1, 2), keepdim=True).sqrt()
    normY = Y0.pow(2).sum((1, 2), keepdim=True).sqrt()
    X0, Y0 = X0 / normX, Y0 / normY
    U, s, Vh = torch.linalg.svd(X0.transpose(1, 2) @ Y0)
    V = Vh.transpose(1, 2)
    R = V @ U.transpose(1, 2)
    sign = torch.sign(torch.linalg.det(R)).unsqueeze(1)
    V = torch.cat([V[:, :, :-1], V[:, :, -1:] * sign.unsqueeze(2)], 2)
    s = torch.cat([s[:, :-1], s[:, -1:] * sign], 1)
    R = V @ U.transpose(1, 2)
    a = s.sum(1, keepdim=True).unsqueeze(2) * normX / normY
    t = muX - a * (muY @ R)
    return (a * (predicted @ R) + t - target).norm(dim=-1).mean()


def raft_kitti(torch, flow_pr, flow_gt, valid):
    """RAFT evaluate.py's per-batch EPE, 1/3/5 px and KITTI Fl-all over valid pixels."""
    epe = torch.sum((flow_pr - flow_gt) ** 2, dim=1).sqrt()
    mag = torch.sum(flow_gt ** 2, dim=1).sqrt()
    epe, mag = epe.view(-1), mag.view(-1)
    val = valid.view(-1) >= 0.5
    out = ((epe > 3.0) & ((epe / mag) > 0.05)).float()
    e = epe[val]
    return e.mean(), (e < 1).float().mean(), (e < 3).float().mean(), (e < 5).float().mean(), \
        out[val].mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []

    t = (100 * rng.standard_normal((256, 17, 3))).astype(np.float32)
    p = (1.1 * t + 5 + 10 * rng.standard_normal(t.shape)).astype(np.float32)
    pt, tt = torch.from_numpy(p), torch.from_numpy(t)
    ev = gpueval.Geometry(key_axis=1, pck_thresholds=[150], device="cpu", threads=args.threads)
    numpy_ms = median_ms(lambda: (np.mean(np.linalg.norm(p - t, axis=-1)),
                                  p_mpjpe_numpy(p.astype(np.float64), t.astype(np.float64)),
                                  n_mpjpe_numpy(p, t)), args.repeat)
    torch_ms = median_ms(lambda: ((pt - tt).norm(dim=-1).mean(), p_mpjpe_torch(torch, pt, tt)),
                         args.repeat)
    gpueval_ms = median_ms(lambda: ev.update(p, t), args.repeat)
    rows.append(("poses [256, 17, 3] f32", "VideoPose3D NumPy: mpjpe, p_mpjpe, n_mpjpe", numpy_ms,
                 gpueval_ms, "11 metrics, per joint too, exact epoch sums"))
    rows.append(("poses [256, 17, 3] f32", "torch: mpjpe, p_mpjpe (float64 SVD)", torch_ms,
                 gpueval_ms, ""))

    gt = (8 * rng.standard_normal((4, 2, 368, 496))).astype(np.float32)
    pr = (gt + 2.5 * rng.standard_normal(gt.shape)).astype(np.float32)
    valid = rng.random((4, 368, 496)) < 0.8
    g_t, p_t, v_t = torch.from_numpy(gt), torch.from_numpy(pr), torch.from_numpy(valid).float()
    flow = gpueval.Geometry(vector_axis=1, metrics="epe,px1,px3,px5,outlier_rate", device="cpu",
                            threads=args.threads)
    raft_ms = median_ms(lambda: raft_kitti(torch, p_t, g_t, v_t), args.repeat)
    flow_ms = median_ms(lambda: flow.update(pr, gt, mask=valid), args.repeat)
    rows.append(("flow [4, 2, 368, 496] f32", "RAFT torch: epe, 1/3/5 px, Fl-all", raft_ms,
                 flow_ms, "the same five, exact epoch sums"))

    print(f"CPU, {args.threads} threads, torch {torch.__version__}, numpy {np.__version__}, "
          f"median of {args.repeat}\n")
    print("| batch | reference (per batch) | reference ms | gpueval update ms | ratio | gpueval |")
    print("|---|---|---|---|---|---|")
    for batch, ref, ref_ms, g_ms, what in rows:
        print(f"| {batch} | {ref} | {ref_ms:.3f} | {g_ms:.3f} | {ref_ms / g_ms:.2f}x | {what} |")


if __name__ == "__main__":
    main()
