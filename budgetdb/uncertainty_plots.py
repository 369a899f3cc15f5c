"""The plots of `report --plots DIR` with uncertainty (--resamples N, N > 0).

- Each dataset's frontier plot shows every config point coloured by tier, with its accuracy and
  latency 95% intervals as error bars and its p_frontier as its opacity (a point that is on the
  frontier in every resample is solid, one that never is faint); the point frontier is a
  staircase through its points, each labelled with its config (H8/16: high tier, top_k 8,
  16 blocks).
- The lookup plot shows, per dataset, the accuracy of the config the lookup table chooses at each
  budget with its 95% interval, labelled with the config; a budget whose choice ties with the
  runner-up is a hollow marker.

Figures come from budgetdb.plots' canvas (no pyplot, fixed metadata): the same data, the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TIER_COLOURS = {"low": "#30638e", "medium": "#edae49", "high": "#d1495b"}
OTHER_COLOUR = "#6c757d"
FAINTEST = 0.12  # the opacity of a point never on the frontier (p_frontier 0): still there to see


def label(point: Mapping[str, Any]) -> str:
    """A config in a few characters: `H8/16` (tier initial, top_k/blocks), else the variant's first characters."""
    tier = point.get("tier") or point.get("variant") or "?"
    head = tier[0].upper() if tier in TIER_COLOURS else str(tier)[:10]
    return f"{head}{point.get('top_k')}/{point.get('num_active_blocks', point.get('blocks'))}"


def _tier(point: Mapping[str, Any]) -> str:
    tier = point.get("tier")
    return tier if isinstance(tier, str) and tier in TIER_COLOURS else "other"


def _errors(value: float, lo: Any, hi: Any) -> list[list[float]] | None:
    """matplotlib's asymmetric error bar of one point; an undefined end is drawn as no bar on that
    side (and so is an end on the wrong side of the estimate: a percentile interval need not hold it)."""
    if lo is None and hi is None:
        return None
    return [[max(0.0, value - lo) if lo is not None else 0.0], [max(0.0, hi - value) if hi is not None else 0.0]]


def frontier_figure(new_figure, display: str, points, uncertainty: Mapping[Any, Mapping], frontier, span, scope, plain):
    """One dataset's configs with their intervals and p_frontier, and the point frontier."""
    figure = new_figure()
    ax = figure.add_subplot()
    seen: set[str] = set()
    for p in points:
        u = uncertainty.get(p["config_run_id"], {})
        tier = _tier(p)
        chance = u.get("p_frontier")
        alpha = FAINTEST + (1 - FAINTEST) * chance if chance is not None else 0.6
        colour = TIER_COLOURS.get(tier, OTHER_COLOUR)
        xerr = _errors(p["latency"], u.get("lat_lo"), u.get("lat_hi"))
        yerr = _errors(p["accuracy"], u.get("acc_lo"), u.get("acc_hi"))
        ax.errorbar(
            [p["latency"]],
            [p["accuracy"]],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            markersize=5,
            color=colour,
            ecolor=colour,
            elinewidth=0.9,
            capsize=2,
            alpha=alpha,
            zorder=3,
        )
        seen.add(tier)
    for tier in [*TIER_COLOURS, "other"]:  # the legend's markers solid, whatever the first point's opacity
        if tier in seen:
            ax.plot([], [], "o", color=TIER_COLOURS.get(tier, OTHER_COLOUR), label=f"{tier} tier" if tier != "other" else "other")
    if frontier:
        ax.plot(
            [p["latency"] for p in frontier],
            [p["accuracy"] for p in frontier],
            drawstyle="steps-post",
            color="#222222",
            linewidth=1,
            label=f"Pareto frontier ({len(frontier)})",
            zorder=2,
        )
        for p in frontier:
            ax.annotate(label(p), (p["latency"], p["accuracy"]), textcoords="offset points", xytext=(4, 4), fontsize=6.5)
    if span is not None:
        ax.axvspan(span[0], span[1], color="#edae49", alpha=0.12, label=f"recommended {span[0]:g}-{span[1]:g} ms", zorder=1)
    note = "error bars: 95% intervals; opacity: p_frontier (share of resamples on the frontier)"
    ax.set_title(plain(display) + "\n" + note, fontsize=9)
    ax.set_xlabel(f"latency: {scope['latency_stage']} {scope['latency_stat']} (ms)")
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return figure


def lookup_figure(new_figure, lookup: Sequence[Mapping[str, Any]], uncertainty: Mapping[Any, Mapping], names, title: str, plain):
    """Per dataset, the chosen config's accuracy at each budget with its interval; ties hollow."""
    figure = new_figure()
    ax = figure.add_subplot()
    markers = ("o", "s", "^", "D", "v", "P", "X")
    chosen = [r for r in lookup if r.get("accuracy") is not None]
    every = sorted({r["budget"] for r in chosen})
    # each dataset's markers a little to the side of the budget, so that their error bars do not overlap
    width = (every[-1] - every[0]) * 0.012 if len(every) > 1 else 1.0
    for i, (dataset, display) in enumerate(names):
        rows = sorted((r for r in chosen if r["dataset"] == dataset), key=lambda r: r["budget"])
        if not rows:
            continue
        colour = f"C{i % 10}"
        shift = (i - (len(names) - 1) / 2) * width
        budgets = [r["budget"] + shift for r in rows]
        accuracy = [r["accuracy"] for r in rows]
        ax.plot(budgets, accuracy, color=colour, linewidth=1, alpha=0.7, zorder=2)
        previous = None
        for r, x in zip(rows, budgets, strict=True):
            u = uncertainty.get(r["config_run_id"], {})
            yerr = _errors(r["accuracy"], u.get("acc_lo"), u.get("acc_hi"))
            ax.errorbar(
                [x],
                [r["accuracy"]],
                yerr=yerr,
                fmt=markers[i % len(markers)],
                markersize=6,
                color=colour,
                markerfacecolor="white" if r.get("tie") else colour,
                capsize=3,
                zorder=3,
            )
            if r["config_run_id"] != previous:  # the config where it changes, not again at every budget
                ax.annotate(label(r), (x, r["accuracy"]), textcoords="offset points", xytext=(5, -9), fontsize=6.5)
            previous = r["config_run_id"]
        ax.plot([], [], marker=markers[i % len(markers)], color=colour, label=plain(display))
    ax.plot([], [], marker="o", linestyle="none", color="#555555", markerfacecolor="white", label="tie with the runner-up")
    ax.set_title(plain(title) + "\nthe chosen config per budget; error bars: 95% intervals of its accuracy", fontsize=9)
    ax.set_xlabel("latency budget (ms)")
    ax.set_ylabel("accuracy of the chosen config")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return figure
