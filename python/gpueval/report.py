"""gpueval-report: one self-contained HTML page from report JSON files.

    gpueval-report RUN.json [RUN2.json ...] -o report.html [--title TEXT] [--metric NAME]
    python -m gpueval.report RUN.json ... -o report.html

Reads what ``gpu-eval --format json`` and ``Report.to_json()`` write (either family). The page
opens from a file with no network: figures are inline SVG drawn by matplotlib, no scripts, no
fonts or styles fetched. For each run: the spec, device, counts and skipped values, the headline
table and the family's figures (each family's figures module says which: page_figures). Several
runs (epochs of one model, two models on the same data) add a comparison: the metrics side by
side with their differences from the first run, and, for runs of one family, their figures
overlaid.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import math
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _families, plot

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto;
       max-width: 1200px; color: #222; padding: 0 16px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; }
td.better { color: #1a7f37; } td.worse { color: #c62828; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; border: 1px solid #eee; padding: 6px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #555; text-align: center; }
.meta { font-size: 0.9em; color: #444; } pre { background: #f8f8f8; padding: 8px; }
"""

# Metrics where a larger value is better (the rest: smaller is better, or neither).
_HIGHER_IS_BETTER = ("r2", "explained_variance", "pearson", "ccc", "cosine", "accuracy",
                     "balanced_accuracy", "precision", "recall", "f1", "fbeta", "specificity",
                     "jaccard", "mcc", "cohen_kappa", "top_k_accuracy", "subset_accuracy",
                     "auroc", "average_precision")
_LOWER_IS_BETTER = ("mse", "rmse", "mae", "max_error", "rse", "nrmse", "mape", "smape", "msle",
                    "median_absolute_error", "abs_error_q", "log_loss", "brier", "ece", "mce",
                    "hamming_loss")


def _direction(name: str) -> int:
    if name.endswith("_bound"):
        return 0
    if any(name == m or name.startswith(m + "_") for m in _HIGHER_IS_BETTER):
        return 1
    if any(name == m or name.startswith(m) for m in _LOWER_IS_BETTER):
        return -1
    return 0


def load(path: str) -> Any:
    """A report (either family) from a JSON file."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a gpueval report (a JSON object)")
    return _families.report_from_dict(d)


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plot.pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype


def _figure(fig: Any, caption: str) -> str:
    return f"<figure>{_svg(fig)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    return f"{v:.6g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], classes=None) -> str:
    out = ["<table><tr>"]
    out += [f"<th class='name'>{html.escape(header[0])}</th>"]
    out += [f"<th>{html.escape(h)}</th>" for h in header[1:]]
    out.append("</tr>")
    for r, row in enumerate(rows):
        out.append("<tr>")
        for c, cell in enumerate(row):
            cls = "name" if c == 0 else (classes[r][c] if classes else "")
            out.append(f"<td class='{cls}'>{html.escape(cell)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _summary(name: str, r: Any) -> str:
    d = r.to_dict()
    skipped = d.get("skipped_nonfinite", d.get("skipped_invalid", 0))
    parts = [f"<b>task</b> {html.escape(d['task'])}", f"<b>device</b> {html.escape(d['device'])}",
             f"<b>gpueval</b> {html.escape(str(d['version']))}", f"<b>count</b> {d['count']:,}",
             f"<b>skipped</b> {skipped:,}"]
    if "ignored" in d:
        parts.append(f"<b>ignored</b> {d['ignored']:,}")
    if d.get("elapsed_s"):
        parts.append(f"<b>elapsed</b> {d['elapsed_s']:.3f} s")
    spec = html.escape(json.dumps(d["spec"], sort_keys=True))
    return (f"<p class='meta'>{' &middot; '.join(parts)}</p>"
            f"<p class='meta'><b>spec</b> <code>{spec}</code></p>")


def _headline(r: Any) -> str:
    header, rows = _families.of_report(r).figures.page_headline(r)
    return _table(header, [[v if isinstance(v, str) else _fmt(v) for v in row] for row in rows])


def _figures(pairs: Sequence[Tuple[Any, str]]) -> List[str]:
    return [_figure(fig, caption) for fig, caption in pairs]


def _comparison(names: Sequence[str], reports: Sequence[Any], metric: Optional[str]) -> str:
    common = [n for n in reports[0].metric_names if all(n in r for r in reports[1:])]
    if not common:  # different families or metric sets: nothing to compare
        return ""
    header = ["metric"] + list(names) + [f"{n} - {names[0]}" for n in names[1:]]
    rows, classes = [], []
    for m in common:
        values = [r[m] for r in reports]
        row = [m] + [_fmt(v) for v in values]
        cls = [""] * (1 + len(values))
        for v in values[1:]:
            diff = v - values[0]
            row.append(_fmt(diff) if not math.isnan(diff) else "NaN")
            sign = _direction(m) * np.sign(diff) if not math.isnan(diff) else 0
            cls.append("better" if sign > 0 else "worse" if sign < 0 else "")
        rows.append(row)
        classes.append(cls)
    parts = ["<h2>Comparison</h2>",
             f"<p class='meta'>{len(common)} metrics every run reports; differences from "
             f"{html.escape(names[0])} (green: better, red: worse).</p>",
             _table(header, rows, classes), "<div class='figures'>"]
    plt = plot.pyplot()
    families = {_families.of_report(r).name for r in reports}
    if len(families) == 1:  # one family: its own overlays
        parts += _figures(_families.of_report(reports[0]).figures.page_overlays(
            names, reports, common, metric))
    if len(reports) > 2 and common:
        name = plot._pick(common, metric, ("rmse", "mse", "mae", "f1_macro", "accuracy"))
        fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
        ax.plot(np.arange(1, len(reports) + 1), [r[name] for r in reports], marker="o")
        ax.set_xticks(np.arange(1, len(reports) + 1))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize="small")
        ax.set_ylabel(name)
        ax.set_title(f"{name}, run by run")
        parts.append(_figure(fig, f"{name} against the run (e.g. the epoch)"))
    parts.append("</div>")
    return "".join(parts)


def render(reports: Sequence[Any], names: Optional[Sequence[str]] = None,
           title: str = "gpueval report", metric: Optional[str] = None) -> str:
    """The page's HTML for these reports (of any family)."""
    if not reports:
        raise ValueError("no reports to render")
    plt = plot.pyplot()
    names = list(names) if names is not None else [f"run {i + 1}" for i in range(len(reports))]
    with plt.rc_context({"svg.fonttype": "path", "figure.dpi": 100}):
        body = [f"<h1>{html.escape(title)}</h1>"]
        if len(reports) > 1:
            body.append(_comparison(names, reports, metric))
        for name, r in zip(names, reports):
            body.append(f"<h2>{html.escape(name)}</h2>")
            body.append(_summary(name, r))
            body.append(_headline(r))
            figures = _figures(_families.of_report(r).figures.page_figures(r, metric))
            body.append("<div class='figures'>" + "".join(figures) + "</div>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def write(path: str, reports: Sequence[Any], names: Optional[Sequence[str]] = None,
          title: str = "gpueval report", metric: Optional[str] = None) -> None:
    """Writes the page for these reports to `path`."""
    text = render(reports, names, title, metric)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="gpueval-report",
        description="One self-contained HTML page (no network, figures inline) from gpueval "
                    "report JSON files: gpu-eval --format json, a report's to_json().")
    ap.add_argument("runs", nargs="+", help="report JSON files, one per run")
    ap.add_argument("-o", "--output", required=True, help="the HTML file to write")
    ap.add_argument("--title", default="gpueval report")
    ap.add_argument("--metric", help="the metric the figures show (default: rmse, or the "
                                     "first one the report has)")
    ap.add_argument("--names", help="comma-separated run names (default: the file names)")
    args = ap.parse_args(argv)
    try:
        plot.pyplot()
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed
        reports = [load(p) for p in args.runs]
        names = (args.names.split(",") if args.names else
                 [os.path.splitext(os.path.basename(p))[0] for p in args.runs])
        if len(names) != len(reports):
            raise ValueError(f"--names gives {len(names)} names for {len(reports)} runs")
        write(args.output, reports, names, args.title, args.metric)
    except (OSError, ValueError, KeyError, ImportError) as e:
        print(f"gpueval-report: {e}", file=sys.stderr)
        return 2
    print(f"gpueval-report: wrote {args.output} ({len(reports)} run"
          f"{'s' if len(reports) > 1 else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
