"""The distributed examples end to end: eval_shards.py on three gloo ranks started as torchrun
starts them (the env:// rendezvous variables), and fan_out.sh's shell loop of gpu-eval parts and
one merge; both equal a single gpu-eval run over the same shards."""

import json
import os
import socket
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "distributed")


@pytest.fixture
def shards(tmp_path, cli):
    data = tmp_path / "data"
    subprocess.run([cli, "synth", "--out", str(data), "--shards", "5", "--shape", "9,30,4",
                    "--mask", "--seed", "11"], check=True, capture_output=True)
    files = {role: sorted(str(p) for p in data.glob(f"{role}_*.npy"))
             for role in ("pred", "target", "mask")}
    whole = subprocess.run([cli, "--pred", *files["pred"], "--target", *files["target"],
                            "--mask", *files["mask"], "--by-axis", "1", "--device", "cpu",
                            "--format", "json", "--no-progress"],
                           check=True, capture_output=True, text=True).stdout
    return data, files, json.loads(whole)


def _close(got, want):
    assert got["count"] == want["count"]
    assert got["spec"] == want["spec"]
    for name, value in want["metrics"].items():
        assert got["metrics"][name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
        for j, v in enumerate(want["by_axis"][name]):
            assert got["by_axis"][name][j] == pytest.approx(v, rel=1e-12, abs=1e-15), (name, j)


def test_eval_shards_on_three_ranks(tmp_path, shards):
    pytest.importorskip("torch.distributed")
    _, files, whole = shards
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "report.json"
    procs = []
    for rank in range(3):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                   WORLD_SIZE="3", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="3",
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(EXAMPLES, "eval_shards.py"), "--pred", *files["pred"],
             "--target", *files["target"], "--mask", *files["mask"], "--by-axis", "1",
             "--rows", "4", "--json", str(out)], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    logs = [p.communicate(timeout=120) for p in procs]
    for p, (o, e) in zip(procs, logs):
        assert p.returncode == 0, e
    assert "r2" in logs[0][0]  # rank 0 prints the report
    got = json.loads(out.read_text())
    assert got["device"].startswith("3 ranks: cpu (")
    _close(got, whole)


def test_fan_out_shell_loop_then_merge(shards, cli):
    data, _, whole = shards
    env = dict(os.environ, GPU_EVAL=cli, FORMAT="json")
    runs = [subprocess.run([os.path.join(EXAMPLES, "fan_out.sh"), str(data), "3", "--by-axis",
                            "1", "--device", "cpu"], env=env, check=True, capture_output=True,
                           text=True).stdout for _ in range(2)]
    assert runs[0] == runs[1]  # the same report, bit for bit
    got = json.loads(runs[0])
    assert got["device"] == "merge of 3 states"
    _close(got, whole)
