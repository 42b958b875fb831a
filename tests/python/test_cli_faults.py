"""gpu-eval when a shard changes under it: a file truncated while the run reads it (mapped or
read) ends the run with exit status 3 and a message naming the file, never with a signal
(SIGBUS from a mapped page the file no longer has)."""
import os
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
