"""The plots of `budgetdb compare --plots DIR`.

- Per dataset, both sides' configs on one accuracy-vs-latency axis: the baseline as blue circles,
  the candidate as orange squares, each with its 95% intervals as error bars, and each side's
  point frontier as a staircase in its colour (dashed for the baseline).
- The latency ratio (candidate / baseline) of every config on both sides, sorted by ratio, with its
  95% interval, 1 and the noise band marked; a change beyond noise is solid, "~" hollow.

Figures come from budgetdb.plots' canvas (no pyplot, fixed metadata): the same data, the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from budgetdb.plots import _METADATA, _RC, PlotsWriteError, _figure, plain, relative_link, require_matplotlib, slug
from budgetdb.uncertainty_plots import _errors, label

SIDES = {
    "baseline": {"colour": "#1f77b4", "marker": "o", "line": "--"},
    "candidate": {"colour": "#ff7f0e", "marker": "s", "line": "-"},
}


def side_points(doc: dict[str, Any], dataset: str, side: str) -> list[dict[str, Any]]:
    """`side`'s configs of `dataset`: those on both sides and those on that side only."""
    points = [
        {
            **c,
            "accuracy": c[f"acc_{side}"],
            "latency": c[f"lat_{side}"],
            "on_frontier": c[f"on_frontier_{side}"],
            **{f"{w}_{e}": c[f"{w}_{side}_{e}"] for w in ("acc", "lat") for e in ("lo", "hi")},
        }
        for c in doc["configs"]
        if c["dataset"] == dataset
    ]
    points += [c for c in doc[f"only_{side}"] if c["dataset"] == dataset]
    return [p for p in points if p["accuracy"] is not None and p["latency"] is not None]


def write_plots(doc: dict[str, Any], out_dir: Path, link_base: Path | None = None) -> list[dict[str, str]]:
    """Write the figures as PNG into `out_dir`; return [{title, link}] for the Markdown."""
    require_matplotlib()
    import matplotlib

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlotsWriteError(f"cannot write plots into {out_dir}: {exc.strerror or exc}") from None
    links = []

    def save(figure, stem: str, title: str) -> None:
        path = out_dir / f"{stem}.png"
        try:
            figure.savefig(path, format="png", metadata=_METADATA["png"])
        except OSError as exc:
            raise PlotsWriteError(f"cannot write plot {path}: {exc.strerror or exc}") from None
        links.append({"title": title, "link": relative_link(path, link_base or Path(os.getcwd()))})

    datasets = sorted({c["dataset"] for c in doc["configs"] + doc["only_baseline"] + doc["only_candidate"]})
    with matplotlib.rc_context(_RC):
        for dataset in datasets:
            save(frontiers_figure(doc, dataset), f"compare_frontier_{slug(dataset)}", f"{dataset}: both frontiers")
        if doc["configs"]:
            save(ratio_figure(doc), "compare_ratios", "latency ratio per config")
    return links


def frontiers_figure(doc: dict[str, Any], dataset: str):
    figure = _figure()
    ax = figure.add_subplot()
    for side, style in SIDES.items():
        points = side_points(doc, dataset, side)
        for p in points:
            ax.errorbar(
                [p["latency"]],
                [p["accuracy"]],
                xerr=_errors(p["latency"], p["lat_lo"], p["lat_hi"]),
                yerr=_errors(p["accuracy"], p["acc_lo"], p["acc_hi"]),
                fmt=style["marker"],
                markersize=5,
                color=style["colour"],
                ecolor=style["colour"],
                elinewidth=0.8,
                capsize=2,
                alpha=0.85 if p["on_frontier"] else 0.35,
                zorder=3,
            )
        line = sorted((p for p in points if p["on_frontier"]), key=lambda p: (p["latency"], -p["accuracy"]))
        where = doc[side]
        name = f"{side}: " + plain(", ".join(where["hardware"] + [e or "." for e in where["experiment"]]) or where["store"])
        ax.plot(
            [p["latency"] for p in line],
            [p["accuracy"] for p in line],
            style["line"],
            drawstyle="steps-post",
            color=style["colour"],
            marker=style["marker"],
            linewidth=1.4,
            label=name[:60],
        )
        for p in line:
            ax.annotate(label(p), (p["latency"], p["accuracy"]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=style["colour"])  # fmt: skip
    o = doc["options"]
    ax.set_xlabel(f"{o['latency_stage']} {o['latency_stat']} (ms)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{plain(dataset)}: baseline vs candidate (faint: off the frontier; bars: 95% intervals)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return figure


def ratio_figure(doc: dict[str, Any]):
    configs = sorted(doc["configs"], key=lambda c: (c["latency_ratio"] is None, c["latency_ratio"] or 0.0))
    figure = _figure()
    figure.set_size_inches(7, max(3.0, 0.22 * len(configs) + 1.2))
    ax = figure.add_subplot()
    noise = doc["options"]["noise_latency"]
    ax.axvspan(1 - noise, 1 + noise, color="#cccccc", alpha=0.5, label=f"noise band ±{noise * 100:g}%")
    ax.axvline(1.0, color="#555555", linewidth=0.8)
    for y, c in enumerate(configs):
        if c["latency_ratio"] is None:
            continue
        changed = bool(c["latency_changed"])
        colour = "#d1495b" if changed and c["latency_ratio"] > 1 else "#2e8b57" if changed else "#555555"
        ax.errorbar(
            [c["latency_ratio"]],
            [y],
            xerr=_errors(c["latency_ratio"], c["ratio_lo"], c["ratio_hi"]),
            fmt="o",
            markersize=4,
            color=colour,
            markerfacecolor=colour if changed else "white",
            capsize=2,
            elinewidth=0.9,
        )
    ax.set_yticks(range(len(configs)))
    ax.set_yticklabels([plain(f"{c['dataset']} {label(c)}") for c in configs], fontsize=7)
    ax.set_xlabel("latency ratio candidate / baseline (95% interval)")
    ax.set_title("Per config, sorted by ratio (hollow: no change, ~)", fontsize=10)
    ax.set_ylim(-0.7, len(configs) - 0.3)
    ax.grid(True, axis="x", alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center")
    return figure
