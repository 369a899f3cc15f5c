"""`budgetdb report`: run the versioned queries, assemble the report context, render it.

No SQL lives here: every figure comes from a pinned query version through
`budgetdb.queries.run`, and the footer lists every query that ran (the queries they use
included, each once) with its sha256.

Latencies of two GPUs are never pooled: every query partitions by hardware, and when more than
one hardware is in scope the report holds one analysis per hardware (`analyses`), its headings
and configs naming the hardware.

The context the templates see is documented key by key in docs/templates.md (a test holds the
two together); `report --format json` projects it into the document of docs/recommendation.md.
With `resamples` > 0 (the default) the report runs UNCERTAIN_QUERIES instead of REPORT_QUERIES
and adds the uncertainty beside the seed's figures; with 0 those keys are None and the report is
the one REPORT_QUERIES gave before uncertainty existed, byte for byte.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import budgetdb.queries as queries
from budgetdb import scope
from budgetdb import uncertainty as noise
from budgetdb.report_options import (  # noqa: F401  (re-exported: the report's options were defined here)
    LATENCY_STAGES,
    LATENCY_STATS,
    ReportOptions,
    ReportOptionsError,
    parse_alpha,
)
from budgetdb.store.connection import masked
from budgetdb.templates import render, template_name
from budgetdb.templates.formatting import dataset_order, display_name, num

if TYPE_CHECKING:
    import duckdb

# Pinned versions: a new query version changes a report only when it is pinned here.
REPORT_QUERIES = {
    "store_summary": "store_summary@v2",
    "prefill_stats": "prefill_stats@v2",
    "decode_stats": "decode_stats@v2",
    "config_points": "config_points@v3",
    "frontier_summary": "frontier_summary@v3",
    "budget_range": "budget_range@v3",
    "budget_lookup": "budget_lookup@v3",
}
PLOT_QUERIES = {
    "pareto_frontier": "pareto_frontier@v3",
    "prefill_histogram": "prefill_histogram@v2",
}
# With uncertainty (resamples > 0): the same figures from versions that give the same bits in
# every run, and the intervals, frontier stability, the lookup's runner-up and what to measure next.
UNCERTAIN_QUERIES = {
    "store_summary": "store_summary@v2",
    "prefill_stats": "prefill_stats@v3",
    "decode_stats": "decode_stats@v3",
    "config_points": "config_points@v4",
    "frontier_summary": "frontier_summary@v3",
    "budget_range": "budget_range@v3",
    "config_uncertainty": "config_uncertainty@v1",
    "frontier_stability": "frontier_stability@v1",
    "budget_lookup": "budget_lookup@v4",
    "measure_next": "measure_next@v1",
}
# `report --format json` without uncertainty: REPORT_QUERIES in the versions that give the same bits
# in every run (REPORT_QUERIES' merge partial sums in the order DuckDB's threads finish; the
# Markdown report rounds them and keeps its bytes, the document prints every bit).
EXACT_QUERIES = {
    **REPORT_QUERIES,
    **{key: UNCERTAIN_QUERIES[key] for key in ("prefill_stats", "decode_stats", "config_points")},
}
# The report pins all it runs, the queries they use included: an unpinned `uses` of one of them
# gets the version pinned above (tests/test_report_render.py checks every one is pinned).
REPORT_PINS = tuple(dict.fromkeys([*REPORT_QUERIES.values(), *PLOT_QUERIES.values()]))
EXACT_PINS = tuple(dict.fromkeys([*EXACT_QUERIES.values(), *PLOT_QUERIES.values()]))
UNCERTAIN_PINS = tuple(dict.fromkeys([*UNCERTAIN_QUERIES.values(), *PLOT_QUERIES.values(), "config_resamples@v1"]))
# The seed calls the prefill maximum an "extreme long tail"; we say so when max >= 2 x p95.
LONG_TAIL_FACTOR = 2.0
DELTA = 0.01  # measure_next's default: the accuracy difference "what to measure next" resolves


# -- running the queries --------------------------------------------------------------------------


@dataclass(frozen=True)
class UsedQuery:
    ref: str
    sha256: str
    numpy_file: str | None = None  # its numpy step, when it has one (queries/numpy_steps.py)
    numpy_sha256: str | None = None


def query_params(options: ReportOptions) -> dict[str, Any]:
    """Every parameter any report query may take; each query gets the ones it declares."""
    return {
        "hardware": list(options.hardware or ()) or None,
        "experiment": list(options.experiments) or None,
        "dataset": list(options.datasets) or None,
        "latency_stage": options.latency_stage,
        "latency_stat": options.latency_stat,
        "step": options.step,
        "coarse_step": options.coarse_step,
        "num": options.num,
        "resamples": options.resamples,
        "seed": options.seed,
    }


def run_queries(
    con: duckdb.DuckDBPyConnection, refs: Mapping[str, str], params: Mapping[str, Any], pins: tuple[str, ...] = REPORT_PINS
) -> tuple[dict[str, list[dict]], list[UsedQuery]]:
    records: dict[str, list[dict]] = {}
    used: list[UsedQuery] = []
    packaged = queries.packaged()  # the report runs the packaged queries only, never a user folder's
    with queries.Session(con) as session:  # a query several others use runs once
        for key, ref in refs.items():
            result = queries.run_declared(con, ref, params, session=session, pins=pins, catalog=packaged)
            records[key] = result.records()
            used += [
                UsedQuery(ran.ref, ran.sha256, *((ran.numpy.file_name, ran.numpy.sha256) if ran.numpy else ()))
                for ran in result.executed
            ]
    return records, used


# a report's context and the records of the queries that made it
Queried = tuple[dict[str, Any], dict[str, list[dict]]]


@dataclass(frozen=True)
class ReportFormat:
    """A format of the report in two steps: its queries (what a time limit bounds), then its text
    from their context and records (rendering, plots: no query runs)."""

    query: Callable[[duckdb.DuckDBPyConnection, ReportOptions], Queried]
    text: Callable[[dict[str, Any], dict[str, list[dict]], ReportOptions], str]

    def __call__(self, con: duckdb.DuckDBPyConnection, options: ReportOptions) -> str:
        return self.text(*self.query(con, options), options)


def build_report(con: duckdb.DuckDBPyConnection, options: ReportOptions) -> str:
    """The report as Markdown text; writes the plots too when `options.plots_dir` is set.

    The filters are checked against the store first (budgetdb.scope): a value that matches
    nothing is a ScopeError naming the values there are."""
    return REPORT_FORMATS["markdown"](con, options)


def _markdown_queries(con: duckdb.DuckDBPyConnection, options: ReportOptions) -> Queried:
    if options.plots_dir is None:
        return report_context(con, options, {})
    from budgetdb import plots as plotting

    plotting.require_matplotlib()  # before the queries: without matplotlib they would run for nothing
    return report_context(con, options, PLOT_QUERIES)


def _markdown(context: dict[str, Any], records: dict[str, list[dict]], options: ReportOptions) -> str:
    if options.plots_dir is not None:
        from budgetdb import plots as plotting

        link_plots(context, plotting.write_plots(context, records, options))
    return render(options.template or template_name(options.lang), context, options.template_paths)


def build_recommendation(con: duckdb.DuckDBPyConnection, options: ReportOptions) -> str:
    """`report --format json`: the report's figures and every frontier point as a JSON document
    (budgetdb.recommendation; docs/recommendation.md)."""
    return REPORT_FORMATS["json"](con, options)


def _recommendation_queries(con: duckdb.DuckDBPyConnection, options: ReportOptions) -> Queried:
    if options.plots_dir is not None or options.template is not None or options.template_paths:
        raise ReportOptionsError("--plots and --template shape the Markdown report; the JSON format takes neither")
    return report_context(con, options, {"pareto_frontier": PLOT_QUERIES["pareto_frontier"]}, exact=True)


def _recommendation(context: dict[str, Any], records: dict[str, list[dict]], options: ReportOptions) -> str:
    from budgetdb import recommendation

    return recommendation.dumps(context)


REPORT_FORMATS = {
    "markdown": ReportFormat(_markdown_queries, _markdown),
    "json": ReportFormat(_recommendation_queries, _recommendation),
}


def report_context(
    con: duckdb.DuckDBPyConnection, options: ReportOptions, more: Mapping[str, str], *, exact: bool = False
) -> Queried:
    """The context of the report in `options`' scope (checked against the store first), and the
    records of the queries that made it: the report's own and `more` ({key: pinned ref}).
    `exact`: without uncertainty too, the versions that give the same bits in every run."""
    chosen = scope.resolve(con, options.hardware or (), options.experiments, options.datasets)
    options = dataclasses.replace(options, hardware=chosen.hardware, experiments=chosen.experiments, datasets=chosen.datasets)
    if options.uncertain:
        refs, pins = UNCERTAIN_QUERIES, UNCERTAIN_PINS
    elif exact:
        refs, pins = EXACT_QUERIES, EXACT_PINS
    else:
        refs, pins = REPORT_QUERIES, REPORT_PINS
    records, used = run_queries(con, {**refs, **more}, query_params(options), pins)
    return build_context(records, used, options), records


# -- the context ----------------------------------------------------------------------------------


def build_context(
    records: Mapping[str, Sequence[Mapping[str, Any]]], used: Sequence[UsedQuery], options: ReportOptions
) -> dict[str, Any]:
    """The template context from the query records (plain dicts, as `QueryResult.records()`);
    its plot links are None until `link_plots` adds the written plots' links."""
    summary = _one(records["store_summary"])
    in_scope = {
        "hardware": list(summary.get("hardware_in_scope") or []),
        "experiments": list(summary.get("experiments_in_scope") or []),
        "datasets": list(summary.get("datasets_in_scope") or []),
    }
    scope_ = {
        "hardware": ", ".join(options.hardware or ()) or None,
        "hardware_list": list(options.hardware or ()),
        "experiments": list(options.experiments),
        "datasets": list(options.datasets),
        "filtered": bool(options.hardware or options.experiments or options.datasets),
        "latency_stage": options.latency_stage,
        "latency_stat": options.latency_stat,
        "step": options.step,
        "coarse_step": options.coarse_step,
        "num": options.num,
        "in_scope": in_scope,
    }
    several = len(in_scope["hardware"]) > 1
    roots = summary.get("hardware_roots") or []
    if several:
        analyses = [
            _analysis(
                {key: [r for r in rows if r.get("hardware") == hw] for key, rows in records.items()},
                options,
                hw,
                [r["root"] for r in roots if r["hardware"] == hw],
            )
            for hw in in_scope["hardware"]
        ]
    else:
        analyses = [_analysis(records, options, None, list(summary.get("roots") or []))]
    return {
        "lang": options.lang,
        "scope": scope_,
        "alpha": {"lo": options.alpha[0], "hi": options.alpha[1]},
        "uncertainty": {"resamples": options.resamples, "seed": options.seed} if options.uncertain else None,
        **analyses[0],
        "analyses": analyses,
        "footer": _footer(summary, records["config_points"], used, options),
    }


def _analysis(records, options: ReportOptions, hardware: str | None, sources: list[str]) -> dict[str, Any]:
    """One hardware's figures (all of them when the scope holds one hardware)."""
    prefill = _prefill(_one(records["prefill_stats"]))
    budget_row = _one(records["budget_range"])
    datasets = _datasets(records, options)
    aggregate = _aggregate(budget_row)
    measured = None
    if options.uncertain:
        prefill["intervals"] = noise.prefill_intervals(_one(records["prefill_stats"])) if prefill["n"] > 0 else None
        found = noise.stability(records["frontier_stability"], options.latency_stat)
        for dataset in datasets:
            dataset["stability"] = found.get(dataset["name"]) if dataset["frontier"] is not None else None
        measured = noise.measure_next(records["measure_next"], DELTA)
        for item in measured["items"]:
            item["display"] = display_name(item["dataset"])
    return {
        "hardware": hardware,
        "sources": sources,
        "prefill": prefill,
        "prefill_range": _prefill_range(budget_row) if prefill["n"] > 0 else None,
        "decode": _decode(_one(records["decode_stats"])),
        "datasets": datasets,
        "frontier_count": sum(1 for d in datasets if d["frontier"] is not None),
        "aggregate": aggregate,
        # the reasons compare the bounds with the aggregate: no budget without it
        "budget": _budget(budget_row, options) if aggregate is not None else None,
        "lookup": _lookup(records["budget_lookup"], records["config_points"] if options.uncertain else None),
        "plots": None,  # link_plots
        "measure_next": measured,
    }


def link_plots(context: dict[str, Any], plots: Mapping[str, Any]) -> None:
    """Put the links `plots.write_plots` returned where the templates look for them."""
    analyses = context["analyses"]
    for analysis in analyses:
        links = plots[analysis["hardware"]] if len(analyses) > 1 else plots
        analysis["plots"] = {"prefill": links.get("prefill"), "lookup": links.get("lookup")}
        for dataset in analysis["datasets"]:
            dataset["plot"] = links.get("datasets", {}).get(dataset["name"])
    context["plots"] = analyses[0]["plots"]  # the first analysis' keys are at the top level too


def _one(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return dict(rows[0]) if rows else {}


def _value(value: Any) -> Any:
    """None for missing numbers (NULL, NaN, inf), so templates test one thing."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _present(*values: Any) -> bool:
    return all(_value(v) is not None for v in values)


def _prefill(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("min", "p5", "p25", "p50", "p75", "p95", "max", "mean", "std")
    stats = {k: _value(row.get(k)) for k in keys}
    n = int(row.get("n") or 0)
    if n > 0 and not _present(*stats.values()):
        n = 0  # cannot happen with valid SQL; never print half a blockquote
    stats.update(n=n, n_missing=int(row.get("n_missing") or 0))
    stats["long_tail"] = n > 0 and stats["max"] >= LONG_TAIL_FACTOR * stats["p95"]
    stats["intervals"] = None  # with uncertainty: each percentile's interval (budgetdb.uncertainty)
    return stats


def _prefill_range(row: Mapping[str, Any]) -> dict[str, Any] | None:
    lower, upper, safe = (_value(row.get(k)) for k in ("prefill_lower", "prefill_upper", "prefill_safe_upper"))
    return {"lower": lower, "upper": upper, "safe_upper": safe} if _present(lower, upper, safe) else None


def _decode(row: Mapping[str, Any]) -> dict[str, Any] | None:
    decode = {
        "n": int(row.get("n") or 0),
        "mean": _value(row.get("mean")),
        "median": _value(row.get("p50")),
        "p95": _value(row.get("p95")),
        "output_tokens_mean": _value(row.get("output_tokens_mean")),
        "per_token_mean": _value(row.get("per_token_mean")),
    }
    if decode["n"] == 0 or not _present(decode["mean"], decode["median"], decode["p95"]):
        return None
    return decode


def _point(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {
        "accuracy": _value(row.get(f"{prefix}accuracy")),
        "latency": _value(row.get(f"{prefix}latency")),
        "tier": row.get(f"{prefix}tier") or row.get(f"{prefix}variant"),
        "top_k": row.get(f"{prefix}top_k"),
        "blocks": row.get(f"{prefix}blocks", row.get(f"{prefix}num_active_blocks")),
    }


def _frontier_point(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("experiment", "tier", "variant", "top_k", "num_active_blocks", "n", "accuracy", "latency", "latency_source")
    return {**{k: _value(row.get(k)) for k in keys}, "config_run_id": row.get("config_run_id")}


def _frontier(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not row or not row.get("n_points"):
        return None
    hi, lo = _point(row, "hi_"), _point(row, "lo_")
    if not _present(hi["accuracy"], hi["latency"], lo["accuracy"], lo["latency"]):
        return None
    return {"n_points": int(row["n_points"]), "hi": hi, "lo": lo}


def _valid_point(row: Mapping[str, Any]) -> bool:
    """config_points lists the points the frontier leaves out too, with the reason in `excluded`."""
    return row.get("excluded") is None


def _from_summary(row: Mapping[str, Any]) -> bool:
    return row.get("latency_source") == "summary"


def _datasets(records, options: ReportOptions) -> list[dict[str, Any]]:
    points = records["config_points"]
    frontiers = {row["dataset"]: row for row in records["frontier_summary"]}
    names = dataset_order([row["dataset"] for row in points] + list(frontiers) + list(options.datasets))
    out = []
    for name in names:
        mine = [row for row in points if row["dataset"] == name]
        excluded = sum(1 for row in mine if not _valid_point(row))
        fallback = sum(1 for row in mine if _valid_point(row) and _from_summary(row))
        frontier = _frontier(frontiers.get(name))
        notes = []
        if excluded and frontier is not None:
            notes.append({"kind": "excluded", "count": excluded})
        if fallback:
            notes.append({"kind": "fallback", "count": fallback})
        out.append(
            {
                "name": name,
                "display": display_name(name),
                "n_points": len(mine),
                "frontier": frontier,
                "notes": notes,
                "plot": None,  # link_plots
                # every frontier point, sorted by latency, when pareto_frontier ran (--plots, --format json)
                "frontier_points": [_frontier_point(r) for r in records["pareto_frontier"] if r["dataset"] == name]
                if "pareto_frontier" in records
                else None,
                "stability": None,  # with uncertainty: budgetdb.uncertainty.stability's entry
            }
        )
    return out


def _aggregate(row: Mapping[str, Any]) -> dict[str, Any] | None:
    keys = ("min_latency", "max_latency", "mean_min", "mean_max", "median_min", "median_max")
    values = {k: _value(row.get(k)) for k in keys}
    if not _present(*values.values()) or row.get("min_dataset") is None or row.get("max_dataset") is None:
        return None
    values.update(
        min_dataset=row["min_dataset"],
        max_dataset=row["max_dataset"],
        min_display=display_name(row["min_dataset"]),
        max_display=display_name(row["max_dataset"]),
    )
    return values


def budget_roles(count: int) -> list[str]:
    """The seed's comments on the budget list: near the lower bound, low/medium/high, near the upper bound, the upper bound."""
    if count <= 0:
        return []
    if count == 1:
        return ["both"]
    if count == 2:
        return ["near_lower", "upper"]
    middle = count - 3
    roles = ["near_lower"]
    for i in range(middle):
        position = (i + 0.5) / middle
        roles.append("low" if position < 1 / 3 else "high" if position > 2 / 3 else "medium")
    return roles + ["near_upper", "upper"]


def _budget(row: Mapping[str, Any], options: ReportOptions) -> dict[str, Any] | None:
    lower, upper = _value(row.get("lower")), _value(row.get("upper"))
    values = [_value(v) for v in (row.get("budgets") or [])]
    if not _present(lower, upper) or not values or not _present(*values):
        return None
    return {
        "lower": lower,
        "upper": upper,
        "amounts": values,
        "linspace": [_value(v) for v in (row.get("linspace") or [])],
        "entries": [{"value": v, "role": r} for v, r in zip(values, budget_roles(len(values)), strict=True)],
        # the seed aligns the comments: `170,   # ...`
        "item_width": max(len(num(v)) + 1 for v in values) + 3,
        "num": options.num,
    }


def _lookup(rows: Sequence[Mapping[str, Any]], points: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The table's rows; with `points` (uncertainty on) each with its `extra` columns."""
    order = {name: i for i, name in enumerate(dataset_order(row["dataset"] for row in rows))}
    sizes = {p.get("config_run_id"): p.get("n") for p in points or ()}
    out = []
    for row in sorted(rows, key=lambda r: (r["budget"], order[r["dataset"]])):
        point = _point(row, "")
        has_point = _present(point["accuracy"], point["latency"])
        out.append(
            {
                "budget": row["budget"],
                "dataset": row["dataset"],
                "display": display_name(row["dataset"]),
                "point": point if has_point else None,
                "slack": _value(row.get("slack")) if has_point else None,
                "extra": noise.lookup_row(row, sizes) if points is not None and has_point else None,
            }
        )
    return out


def _footer(summary: Mapping[str, Any], points, used: Sequence[UsedQuery], options: ReportOptions) -> dict[str, Any]:
    last = summary.get("last_ingest_at")
    valid = [row for row in points if _valid_point(row)]
    return {
        # a DuckLake on PostgreSQL is named by its libpq string: never print its password
        "store_path": masked(summary.get("store_path") or "(in-memory)"),
        "last_ingest_at": _timestamp(last) if last is not None else None,
        "ingest_version": summary.get("last_ingest_version"),
        "ingest_runs": int(summary.get("ingest_runs") or 0),
        "files": {
            "counted": int(summary.get("files_counted") or 0),
            "excluded": [{"status": e["status"], "count": int(e["files"])} for e in summary.get("files_excluded") or []],
        },
        "samples": {
            "counted": int(summary.get("samples_counted") or 0),
            "repeats": int(summary.get("samples_repeats") or 0),
            "missing_prefill": int(summary.get("samples_missing_prefill") or 0),
            "missing_latency": int(summary.get("samples_missing_latency") or 0),
            "in_excluded_files": int(summary.get("samples_in_excluded_files") or 0),
        },
        "points": {
            "counted": len(valid),
            "excluded": len(points) - len(valid),
            "fallback": sum(1 for row in valid if _from_summary(row)),
        },
        "template_paths": [str(p) for p in options.template_paths],
        "budgetdb_version": options.budgetdb_version,
        # each once, in the order they first ran (a query others use runs again with each of them)
        "queries": [_query_entry(q) for q in dict.fromkeys(used)],
    }


def _query_entry(query: UsedQuery) -> dict[str, Any]:
    numpy = {"file": query.numpy_file, "sha256": query.numpy_sha256} if query.numpy_file else None
    return {"ref": query.ref, "sha256": query.sha256, "numpy": numpy}


def _timestamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    return str(value)
