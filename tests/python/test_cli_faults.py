"""gpu-eval under faults: a shard truncated while the run reads it (mapped or read) ends the
run with exit status 3 naming the file, never with a signal (SIGBUS from a mapped page the file
no longer has); a run killed at any moment resumes from its checkpoint to the same bits; a
resumption refuses changed inputs; a write that fails (a full disk) leaves the previous
checkpoint or state whole."""
import json
import os
import resource
import signal
import subprocess
import threading
import time

import numpy as np
import pytest


@pytest.mark.parametrize("read", ["map", "pread"])
def test_a_shard_truncated_during_the_run_is_named(cli, tmp_path, read):
    rng = np.random.default_rng(0)
    rows = 1600
    t = rng.standard_normal((rows, 500, 20)).astype(np.float32)  # 64 MB
    np.save(tmp_path / "t.npy", t)
    outcomes = []
    for delay in (0.0, 0.01, 0.02, 0.03, 0.05, 0.08):  # before the run, inside it, after it
        p = tmp_path / f"p{delay}.npy"
        np.save(p, t + 0.1)
        proc = subprocess.Popen([cli, "--pred", str(p), "--target", str(tmp_path / "t.npy"),
                                 "--read", read, "--window-mib", "4", "--threads", "2",
                                 "--format", "json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(delay, lambda: os.truncate(p, 4096))
        timer.start()
        out, err = proc.communicate(timeout=120)
        timer.join()
        assert proc.returncode >= 0, f"gpu-eval ended by signal {-proc.returncode}: {err}"
        if proc.returncode != 0:
            assert proc.returncode == 3, err
            assert str(p) in err, err
        outcomes.append(proc.returncode)
    # The earliest truncation lands before the run's end (here often inside it: "the file shrank
    # while rows ... were read" for map, "file ended early" for pread).
    assert 3 in outcomes, outcomes


def _report(text):
    d = json.loads(text)
    for k in ("elapsed_s", "bytes_read", "device"):
        d.pop(k, None)
    return d


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(1)
    files = []
    for i in range(3):
        t = (rng.standard_normal((300, 500, 20)) * 3 + 50).astype(np.float32)  # 12 MB
        np.save(d / f"p{i}.npy", t + rng.standard_normal(t.shape).astype(np.float32))
        np.save(d / f"t{i}.npy", t)
        np.save(d / f"m{i}.npy", rng.random((300, 500)) < 0.9)
        files.append(i)
    args = ["--pred", *[str(d / f"p{i}.npy") for i in files],
            "--target", *[str(d / f"t{i}.npy") for i in files],
            "--mask", *[str(d / f"m{i}.npy") for i in files],
            "--metrics", "all", "--window-mib", "1", "--threads", "2", "--format", "json"]
    return d, args


def test_killed_runs_resume_to_the_same_bits(cli, shards):
    """SIGKILL at 24 moments of a run that checkpoints after every window (some land in a
    checkpoint's write); each resumed from its checkpoint (or started again when none was
    written yet) prints bitwise the uninterrupted run's report."""
    d, args = shards
    want = _report(subprocess.run([cli, *args], check=True, capture_output=True,
                                  text=True).stdout)
    start = time.perf_counter()
    subprocess.run([cli, *args, "--checkpoint", str(d / "timed.ck"), "--checkpoint-every", "0",
                    "--format", "none", "--save-state", str(d / "timed.state")], check=True)
    length = time.perf_counter() - start
    rng = np.random.default_rng(2)
    resumed = 0
    for k in range(24):
        ck = d / f"run{k}.ck"
        proc = subprocess.Popen([cli, *args, "--checkpoint", str(ck), "--checkpoint-every", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 1.0) * length)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        again = [cli, *args, "--checkpoint", str(ck), "--checkpoint-every", "0"]
        if ck.exists():
            again += ["--resume", str(ck)]
            resumed += 1
        out = subprocess.run(again, check=True, capture_output=True, text=True).stdout
        assert _report(out) == want, f"kill point {k}"
    print(f"kill and resume: {resumed} of 24 resumed from a checkpoint, run {length:.2f} s")
    assert resumed >= 12, resumed  # most kills land after the first checkpoint


def test_resume_refuses_changed_inputs(cli, shards, tmp_path):
    d, args = shards
    ck = tmp_path / "ck"
    subprocess.run([cli, *args, "--checkpoint", str(ck), "--checkpoint-every", "0"], check=True,
                   capture_output=True)
    p1 = d / "p1.npy"
    os.utime(p1, ns=(p1.stat().st_atime_ns, p1.stat().st_mtime_ns + 1000))
    run = subprocess.run([cli, *args, "--resume", str(ck)], capture_output=True, text=True)
    assert run.returncode == 3 and "the inputs changed since the checkpoint" in run.stderr, \
        run.stderr
    assert str(p1) in run.stderr
    bad = tmp_path / "bad.ck"
    bad.write_bytes(ck.read_bytes()[:100])
    run = subprocess.run([cli, *args, "--resume", str(bad)], capture_output=True, text=True)
    assert run.returncode == 3 and str(bad) in run.stderr, run.stderr


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_leaves_the_previous_files_whole(cli, shards, tmp_path):
    """A write that fails (here: RLIMIT_FSIZE, as a full disk fails it) ends gpu-eval with exit
    3 naming the file, and the checkpoint or state it was replacing is unchanged."""
    d, args = shards
    ck, state = tmp_path / "ck", tmp_path / "state"
    subprocess.run([cli, *args, "--checkpoint", str(ck), "--checkpoint-every", "0",
                    "--format", "none", "--save-state", str(state)], check=True)
    before = ck.read_bytes(), state.read_bytes()
    for extra in (["--checkpoint", str(ck), "--checkpoint-every", "0"],
                  ["--format", "none", "--save-state", str(state)]):
        run = subprocess.run([cli, *args, *extra], capture_output=True, text=True,
                             preexec_fn=_limit_file_size(1000))
        assert run.returncode == 3, (run.returncode, run.stderr)
        assert "is unchanged" in run.stderr and ("ck" in run.stderr or "state" in run.stderr)
    assert (ck.read_bytes(), state.read_bytes()) == before


def _copy_shards(d, tmp_path):
    for role in "ptm":
        for i in range(3):
            (tmp_path / f"{role}{i}.npy").write_bytes((d / f"{role}{i}.npy").read_bytes())
    return [str(tmp_path / f"{role}{i}.npy") for role in "ptm" for i in range(3)]


def _args(args, d, to):
    return [str(to / os.path.basename(a)) if a.startswith(str(d)) else a for a in args]


def test_skip_file_lists_a_bad_shard_and_evaluates_the_rest(cli, shards, tmp_path):
    """--on-error skip-file: a shard that cannot be read is listed in the JSON and the table
    (files, reason), the metrics are the other shards' bit for bit, and the exit status is 6; the
    default run ends with 3 naming the file; without a fault the report is the default run's."""
    d, args = shards
    _copy_shards(d, tmp_path)
    args = _args(args, d, tmp_path)
    clean = subprocess.run([cli, *args, "--on-error", "skip-file"], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report.pop("skipped") == []
    want = _report(subprocess.run([cli, *args], check=True, capture_output=True, text=True).stdout)
    assert _report(json.dumps(report)) == want

    bad = tmp_path / "t1.npy"
    bad.write_bytes(b"not a shard")
    run = subprocess.run([cli, *args, "--on-error", "skip-file"], capture_output=True, text=True)
    assert run.returncode == 6, run.stderr
    report = json.loads(run.stdout)
    skipped = report.pop("skipped")
    assert [s["files"] for s in skipped] == [[str(tmp_path / f"{r}1.npy") for r in "ptm"]]
    assert str(bad) in skipped[0]["reason"] and str(bad) in run.stderr
    others = [a for a in args if not a.endswith("1.npy")]
    assert _report(json.dumps(report)) == _report(subprocess.run(
        [cli, *others], check=True, capture_output=True, text=True).stdout)

    table = subprocess.run([cli, *args, "--on-error", "skip-file", "--format", "table"],
                           capture_output=True, text=True)
    assert table.returncode == 6
    assert "skipped 1 shard (--on-error skip-file)" in table.stdout
    assert f"{tmp_path / 'p1.npy'}, {bad}, {tmp_path / 'm1.npy'}: {bad}" in table.stdout

    fail = subprocess.run([cli, *args], capture_output=True, text=True)
    assert fail.returncode == 3 and str(bad) in fail.stderr, fail.stderr
    usage = subprocess.run([cli, *args, "--on-error", "ignore"], capture_output=True, text=True)
    assert usage.returncode == 2 and "--on-error must be fail or skip-file" in usage.stderr


def test_skip_file_leaves_out_a_shard_truncated_during_the_run(cli, shards, tmp_path):
    """A shard truncated at moments across the run: the report is the whole run's (exit 0, the
    truncation came after its last read) or, exit 6, bitwise the run without that shard: never
    a mixture, never a signal."""
    d, args = shards
    args = _args(args, d, tmp_path)
    whole = _report(subprocess.run([cli, *_args(shards[1], d, d)], check=True,
                                   capture_output=True, text=True).stdout)
    others = _report(subprocess.run([cli, *[a for a in shards[1] if not a.endswith("1.npy")]],
                                    check=True, capture_output=True, text=True).stdout)
    outcomes = []
    for delay in (0.0, 0.02, 0.04, 0.06, 0.1, 0.3):
        _copy_shards(d, tmp_path)
        proc = subprocess.Popen([cli, *args, "--on-error", "skip-file", "--read", "map"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(delay, lambda: os.truncate(tmp_path / "p1.npy", 4096))
        timer.start()
        out, err = proc.communicate(timeout=120)
        timer.join()
        assert proc.returncode in (0, 6), (proc.returncode, err)
        report = json.loads(out)
        skipped = report.pop("skipped")
        assert _report(json.dumps(report)) == (others if skipped else whole), (delay, err)
        assert len(skipped) == (proc.returncode == 6)
        outcomes.append(proc.returncode)
    print("outcomes", outcomes)
    assert 6 in outcomes, outcomes
