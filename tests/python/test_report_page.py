"""gpueval-report: the page's content (every run, the comparison, inline figures, nothing fetched)
from Report objects and from gpu-eval's JSON, the command's errors, and the page in a real
browser: headless Chromium loads it from a file with no console errors and no request leaving
the file, and its screenshot is not blank. Skipped where matplotlib or Chromium is missing."""

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import gpueval

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from gpueval import report as page  # noqa: E402

import browser  # noqa: E402


def regression_runs(rng, runs=2, steps=40, channels=5):
    out = []
    for k in range(runs):
        ev = gpueval.Regression(by_axis=1, device="cpu")
        t = rng.normal(0, 1, (32, steps, channels))
        ev.update(t + rng.normal(0, 1.0 / (k + 1), t.shape), t)
        out.append(ev.compute())
    return out


def binary_run(rng):
    t = (rng.random(4000) < 0.4).astype(np.int64)
    s = np.clip(rng.normal(0.35 + 0.3 * t, 0.2), 0, 1).astype(np.float16)
    return gpueval.Classification("binary", device="cpu").update(s, t).compute()


def figures(text):
    return len(re.findall(r"<figure>", text))


def external_references(text):
    """URLs the page could fetch: src/href attributes and CSS url() that are not in-page."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)
    refs += re.findall(r"url\(([^)]*)\)", text)
    return [r for r in refs if not r.startswith(("#", "data:"))]


def test_page_content(rng):
    runs = regression_runs(rng, runs=3)
    text = page.render(runs, ["epoch 1", "epoch 2", "epoch 3"], title="A <model>")
    assert "<title>A &lt;model&gt;</title>" in text  # escaped
    # Per run: channels, breakdown curve, heatmap; comparison: channels, breakdown, by run.
    assert figures(text) == 3 * 3 + 3
    assert external_references(text) == []
    assert "<script" not in text and "@import" not in text
    for r in runs:
        assert f"{r['rmse']:.6g}" in text
    # Differences from the first run, coloured by direction.
    assert f"{runs[1]['mse'] - runs[0]['mse']:.6g}" in text
    assert "class='better'" in text
    one = page.render([binary_run(rng)])
    assert figures(one) == 4  # confusion matrix, reliability, ROC, PR
    assert "auroc" in one


def test_command_reads_gpu_eval_json(rng, tmp_path, cli):
    data = tmp_path / "data"
    subprocess.run([cli, "synth", "--out", str(data), "--shards", "2", "--shape", "8,30,4"],
                   check=True, capture_output=True)
    out = subprocess.run([cli, "--pred", *sorted(map(str, data.glob("pred_*.npy"))),
                          "--target", *sorted(map(str, data.glob("target_*.npy"))),
                          "--by-axis", "1", "--format", "json", "--device", "cpu"],
                         check=True, capture_output=True, text=True).stdout
    (tmp_path / "cli.json").write_text(out)
    (tmp_path / "py.json").write_text(regression_runs(rng, 1, steps=30, channels=4)[0].to_json())
    html_path = tmp_path / "page.html"
    done = subprocess.run([sys.executable, "-m", "gpueval.report", str(tmp_path / "cli.json"),
                           str(tmp_path / "py.json"), "-o", str(html_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = html_path.read_text()
    assert "<h2>cli</h2>" in text and "<h2>py</h2>" in text and "Comparison" in text
    bad = subprocess.run([sys.executable, "-m", "gpueval.report", str(tmp_path / "nope.json"),
                          "-o", str(html_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.json" in bad.stderr
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something else"}))
    bad = subprocess.run([sys.executable, "-m", "gpueval.report", str(tmp_path / "other.json"),
                          "-o", str(html_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a gpueval report" in bad.stderr


@pytest.mark.skipif(browser.find_chromium() is None,
                    reason="no Chromium (scripts/install-deps with GPUEVAL_DEPS_PLOT=1)")
@pytest.mark.parametrize("family", ["regression", "classification"])
def test_page_in_chromium(rng, tmp_path, family):
    path = tmp_path / "page.html"
    if family == "regression":  # 3 runs: per run 3 figures, the comparison 3
        runs, expected = regression_runs(rng, runs=3), 3 * 3 + 3
    else:  # 2 binary runs: per run 4 figures, the comparison its ROC overlay
        runs, expected = [binary_run(rng), binary_run(rng)], 2 * 4 + 1
    page.write(str(path), runs)
    url = path.as_uri()
    with browser.Chromium(width=1280, height=900) as chrome:
        session, load = chrome.load(url)
        assert load.errors == []
        assert [c for c in load.console if c[0] in ("error", "warning", "assert")] == []
        # Only the file itself, and the figures' inline images: nothing leaves the file.
        assert load.requests[0] == url
        assert all(u == url or u.startswith("data:") for u in load.requests), load.requests
        shown = chrome.evaluate(session, "document.querySelectorAll('figure svg').length")
        assert shown == figures(path.read_text()) == expected
        # Every figure has a drawn size (it rendered, not a broken element).
        sizes = chrome.evaluate(session, "[...document.querySelectorAll('figure svg')]"
                                         ".map(s => s.getBoundingClientRect().height)")
        assert min(sizes) > 100
        png = chrome.screenshot(session)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[1] == 1280 and image.shape[0] > 2000
    ink = (image[..., :3] < 0.9).any(axis=2).mean()  # share of pixels that are not white
    assert ink > 0.02, ink
    assert image[..., :3].std() > 0.05


@pytest.mark.skipif(browser.find_chromium() is None,
                    reason="no Chromium (scripts/install-deps with GPUEVAL_DEPS_PLOT=1)")
def test_the_browser_check_sees_requests_and_errors(tmp_path):
    # The checks above pass because the page is clean, not because they cannot fail.
    path = tmp_path / "bad.html"
    path.write_text("<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('boom'); undefined_name();</script></body></html>")
    with browser.Chromium() as chrome:
        _, load = chrome.load(path.as_uri())
    assert "http://127.0.0.1:9/x.png" in load.requests
    assert ("error", "boom") in load.console
    assert any("undefined_name" in e or "Uncaught" in e for e in load.errors), load.errors
