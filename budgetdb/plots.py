"""`report --plots DIR`: the frontier scatter per dataset and the prefill histogram + CDF, PNG and SVG;
with uncertainty, the frontier plots show every config's intervals and p_frontier, and a lookup
plot shows the chosen config per budget (budgetdb/uncertainty_plots.py).

Needs the optional extra (`pip install 'budgetdb[plots]'`). Figures are drawn on the Agg
canvas without pyplot (no global state), with fixed metadata and SVG ids, so the same store
and options write the same bytes. Plot labels are English in every report language: the
default fonts have no CJK glyphs.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from budgetdb.errors import BudgetdbError

INSTALL_HINT = "pip install 'budgetdb[plots]'"
FORMATS = ("png", "svg")
_SAFE = re.compile(r"[^a-z0-9._-]+")
_RC: dict[Any, Any] = {
    "svg.hashsalt": "budgetdb",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "figure.dpi": 100,
}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


class PlotsUnavailableError(BudgetdbError):
    """--plots without matplotlib."""


class PlotsWriteError(BudgetdbError):
    """A plot file could not (or must not) be written."""


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotsUnavailableError(f"--plots needs matplotlib, which is not installed: {INSTALL_HINT}") from None


def slug(name: str) -> str:
    """A file-name-safe, stable form of a dataset name; a hash keeps altered names apart."""
    cleaned = _SAFE.sub("-", name.lower()).strip("-.") or "dataset"
    if cleaned != name:
        cleaned += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return cleaned


def plain(text: str) -> str:
    """Data text for matplotlib: `$` would start mathtext, line breaks would break the layout."""
    return re.sub(r"\s+", " ", text).replace("$", r"\$")


def write_plots(context: Mapping[str, Any], records: Mapping[str, Sequence[Mapping[str, Any]]], options) -> dict[str, Any]:
    """Write every figure into `options.plots_dir`; return the links the templates show.

    {"prefill": {png, svg, alt} or None, "datasets": {dataset: {png, svg, alt}}, "lookup": {...} or None}; with several
    hardware in scope, one such dict per hardware ({hardware: {...}}), file names ending in it.
    """
    analyses = context.get("analyses") or [context]
    if len(analyses) == 1:
        return _write_analysis(analyses[0], records, context["scope"], options, "")
    links = {}
    for analysis in analyses:
        hw = analysis["hardware"]
        mine = {key: [r for r in rows if r.get("hardware") == hw] for key, rows in records.items()}
        links[hw] = _write_analysis(analysis, mine, context["scope"], options, f"_{slug(hw)}")
    return links


def _write_analysis(analysis, records, scope, options, suffix: str) -> dict[str, Any]:
    import matplotlib

    from budgetdb import uncertainty_plots as noisy

    out_dir = Path(options.plots_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlotsWriteError(f"cannot write plots into {out_dir}: {exc.strerror or exc}") from None
    budget = analysis.get("budget")
    span = (budget["lower"], budget["upper"]) if budget else None
    links: dict[str, Any] = {"prefill": None, "datasets": {}, "lookup": None}
    on = f" ({analysis['hardware']})" if analysis.get("hardware") else ""

    def save(figure, stem: str, alt: str) -> dict[str, str]:
        paths = {}
        for fmt in FORMATS:
            path = out_dir / f"{stem}{suffix}.{fmt}"
            if Path(os.path.realpath(path)) in options.protected_paths:
                raise PlotsWriteError(f"plot {path} would overwrite the store; use another --plots folder")
            try:  # a symlink's target is written (the link stays), a device or FIFO written through
                figure.savefig(path, format=fmt, metadata=_METADATA[fmt])
            except OSError as exc:
                raise PlotsWriteError(f"cannot write plot {path}: {exc.strerror or exc}") from None
            paths[fmt] = relative_link(path, options.link_base)
        return {**paths, "alt": alt + on}

    with matplotlib.rc_context(_RC):
        prefill = analysis["prefill"]
        if prefill["n"] > 0 and records.get("prefill_histogram"):
            figure = _prefill_figure(records["prefill_histogram"], prefill)
            links["prefill"] = save(figure, "prefill_latency", "T_LLM_prefill histogram and CDF")
        points = records.get("config_points", [])
        frontier = records.get("pareto_frontier", [])
        noise = {u["config_run_id"]: u for u in records["config_uncertainty"]} if "config_uncertainty" in records else None
        for dataset in analysis["datasets"]:
            name = dataset["name"]
            mine = [p for p in points if p["dataset"] == name and p.get("excluded") is None]
            if not mine:
                continue
            line = sorted((p for p in frontier if p["dataset"] == name), key=lambda p: (p["latency"], -p["accuracy"]))
            if noise is None:
                figure = _frontier_figure(dataset["display"] + on, mine, line, span, scope)
            else:
                figure = noisy.frontier_figure(_figure, dataset["display"] + on, mine, noise, line, span, scope, plain)
            links["datasets"][name] = save(figure, f"frontier_{slug(name)}", f"{dataset['display']} accuracy vs latency")
        if noise is not None and any(r.get("accuracy") is not None for r in records.get("budget_lookup", [])):
            names = [(d["name"], d["display"]) for d in analysis["datasets"]]
            figure = noisy.lookup_figure(_figure, records["budget_lookup"], noise, names, "Budget lookup table" + on, plain)
            links["lookup"] = save(figure, "lookup", "the chosen config per budget, with its accuracy interval")
    return links


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _frontier_figure(display: str, points, frontier, span, scope):
    figure = _figure()
    ax = figure.add_subplot()
    ax.scatter(
        [p["latency"] for p in points],
        [p["accuracy"] for p in points],
        s=18,
        color="#9aa5b1",
        label=f"config runs ({len(points)})",
        zorder=2,
    )
    if frontier:
        # a staircase: the best accuracy reachable at each latency
        ax.plot(
            [p["latency"] for p in frontier],
            [p["accuracy"] for p in frontier],
            marker="o",
            markersize=4,
            drawstyle="steps-post",
            color="#d1495b",
            label=f"Pareto frontier ({len(frontier)})",
            zorder=3,
        )
    if span is not None:
        ax.axvspan(span[0], span[1], color="#edae49", alpha=0.2, label=f"recommended {span[0]:g}-{span[1]:g} ms", zorder=1)
    ax.set_title(plain(display))
    ax.set_xlabel(f"latency: {scope['latency_stage']} {scope['latency_stat']} (ms)")
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return figure


def _prefill_figure(bins, prefill):
    figure = _figure()
    ax = figure.add_subplot()
    lefts = [b["bin_lo"] for b in bins]
    widths = [b["bin_hi"] - b["bin_lo"] for b in bins]
    ax.bar(lefts, [b["n"] for b in bins], width=widths, align="edge", color="#30638e", label="samples per bin")
    ax.set_xlabel("T_LLM_prefill (ms)")
    ax.set_ylabel("samples")
    for key, color in (("p5", "#edae49"), ("p95", "#00798c")):
        ax.axvline(prefill[key], color=color, linestyle="--", label=f"{key} {prefill[key]:.1f} ms")
    cdf = ax.twinx()
    cdf.step(
        [bins[0]["bin_lo"]] + [b["bin_hi"] for b in bins],
        [0.0] + [b["cum_fraction"] for b in bins],
        where="post",
        color="#d1495b",
        label="CDF",
    )
    cdf.set_ylim(0, 1.02)
    cdf.set_ylabel("cumulative fraction")
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = cdf.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="center right", fontsize=8)
    above = bins[-1]["n_above"]
    title = f"T_LLM_prefill over {prefill['n']:,} samples"
    if above:
        title += f"\n{above:,} above {bins[-1]['bin_hi']:.1f} ms not shown (max {prefill['max']:.1f} ms)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    return figure


def relative_link(target: Path, base: Path | None) -> str:
    """`target` relative to `base` (default: the current folder), with / separators, URL-quoted."""
    from urllib.parse import quote

    start = Path(base) if base is not None else Path.cwd()
    rel = os.path.relpath(Path(target).absolute(), start.absolute())
    return quote(rel.replace(os.sep, "/"), safe="/._-~")
