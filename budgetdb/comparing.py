"""`budgetdb compare`: what changed between two scopes (two GPUs, two experiments, two stores, two
snapshots of a DuckLake), config by config, and whether it is beyond noise.

The baseline side is the store (`db`, at `snapshot` for a DuckLake) with hardware, experiments,
datasets; the candidate side is the catalog `against` on the same connection: `against_db` (else
the same store again), at `against_snapshot`, with against_hardware and against_experiments (else
the baseline's). Every figure comes from the compare_* queries (queries/), all pinned; this module
opens the two sides, checks each side's filters against its store, refuses mismatched scopes and
gathers the rows into one result (`CompareResult.data`: what `--format json` prints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from budgetdb import __version__
from budgetdb.errors import BudgetdbError

# every query of a comparison, pinned: the same options give the same figures from every budgetdb
PINS = ("compare_runs@v1", "compare_resamples@v1", "compare_configs@v1", "compare_summary@v1", "compare_lookup@v1")
TOP = "compare_lookup@v1"  # runs them all, each once
AGAINST = "against"


class CompareError(BudgetdbError):
    """Two scopes that cannot be compared: the same scope twice, nothing in common."""


@dataclass(frozen=True)
class CompareOptions:
    db: Any = None
    data_path: Any = None
    snapshot: int | None = None
    against_db: Any = None  # None: the same store
    against_data_path: Any = None
    against_snapshot: int | None = None
    hardware: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    against_hardware: tuple[str, ...] = ()  # empty: as hardware
    against_experiments: tuple[str, ...] = ()  # empty: as experiments
    latency_stage: str = "T_total"
    latency_stat: str = "mean"
    resamples: int = 1000
    seed: int = 0
    noise_latency: float = 0.01
    noise_accuracy: float = 0.005
    fdr: float = 0.05
    step: float = 10.0
    coarse_step: float = 50.0
    lang: str = "zh"
    budgetdb_version: str = field(default=__version__)

    def params(self, baseline, candidate) -> dict[str, Any]:
        """The compare queries' parameters, the scopes as resolved on each side's store."""
        return {
            "hardware": list(baseline.hardware) or None,
            "experiment": list(baseline.experiments) or None,
            "dataset": list(self.datasets) and list(baseline.datasets) or None,
            "against_hardware": list(candidate.hardware) or None,
            "against_experiment": list(candidate.experiments) or None,
            "latency_stage": self.latency_stage,
            "latency_stat": self.latency_stat,
            "resamples": self.resamples,
            "seed": self.seed,
            "noise_latency": self.noise_latency,
            "noise_accuracy": self.noise_accuracy,
            "fdr": self.fdr,
            "step": self.step,
            "coarse_step": self.coarse_step,
        }


def locations(options: CompareOptions):
    """The two sides' stores (StoreLocation): the candidate is the baseline's store unless told."""
    from budgetdb.store import locate

    baseline = locate(options.db, options.data_path)
    if options.against_db in (None, ""):
        return baseline, baseline
    return baseline, locate(options.against_db, options.against_data_path or options.data_path)


def open_sides(options: CompareOptions, *, wait: float = 0.0):
    """A read-only connection: the baseline store as the default catalog, the candidate as `against`."""
    from budgetdb.store import open_store

    baseline, candidate = locations(options)
    return open_store(
        baseline,
        read_only=True,
        wait=wait,
        lake_snapshot=options.snapshot,
        against=candidate,
        against_snapshot=options.against_snapshot,
    )


def compare(con, options: CompareOptions) -> dict[str, Any]:
    """Every figure of the comparison (the JSON document), from a connection of `open_sides`."""
    from budgetdb import queries

    baseline, candidate = _scopes(con, options)
    base_loc, cand_loc = locations(options)
    params = options.params(baseline, candidate)
    with queries.Session(con) as session:

        def rows(ref: str) -> list[dict[str, Any]]:
            return queries.run_declared(con, ref, params, session=session, pins=list(PINS)).records()

        runs = rows("compare_runs@v1")
        same_store = (base_loc.label, options.snapshot) == (cand_loc.label, options.against_snapshot)
        sides = [{r["config_run_id"] for r in runs if r["side"] == side} for side in ("baseline", "candidate")]
        if same_store and sides[0] == sides[1]:
            raise CompareError(
                f"the two sides are the same scope ({_describe(base_loc.label, options.snapshot, baseline)}): pass "
                "--against-hardware, --against-experiment, --against-db or --against-snapshot for the candidate"
            )
        lookup = queries.run(con, TOP, params, session=session, pins=list(PINS))  # every query, each once
        configs, summary = rows("compare_configs@v1"), rows("compare_summary@v1")
    _check_matched(configs)
    doc = _document(options, configs, summary, lookup.records(), lookup.executed, (base_loc, baseline), (cand_loc, candidate))
    # runs with a stored summary only: listed, never compared (nothing to resample)
    doc["without_samples"] = {
        side: [
            {**{k: r[k] for k in CONFIG_KEYS}, "hardware": r["hardware"], "experiment": r["experiment"]}
            for r in runs
            if r["side"] == side and not r["has_samples"]
        ]
        for side in ("baseline", "candidate")
    }
    return doc


def _scopes(con, options: CompareOptions):
    """Each side's filters checked against its own store (the candidate's in the catalog `against`)."""
    from budgetdb import scope

    try:
        baseline = scope.resolve(con, options.hardware, options.experiments, options.datasets)
    except scope.ScopeError as exc:
        raise scope.ScopeError(f"baseline: {exc}") from None
    home = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"USE {AGAINST}")
    try:
        candidate = scope.resolve(
            con,
            options.against_hardware or options.hardware,
            options.against_experiments or options.experiments,
            options.datasets,
        )
    except scope.ScopeError as exc:
        raise scope.ScopeError(f"candidate: {exc}") from None
    finally:
        con.execute('USE "' + home.replace('"', '""') + '"')
    return baseline, candidate


def _describe(label: str, snapshot: int | None, chosen) -> str:
    from budgetdb.scope import experiment_label

    parts = [f"store {label}" + (f" at snapshot {snapshot}" if snapshot is not None else "")]
    parts.append("hardware " + (", ".join(chosen.hardware) or "all"))
    parts.append("experiment " + (", ".join(experiment_label(e) for e in chosen.experiments) or "all"))
    if chosen.datasets:
        parts.append("dataset " + ", ".join(chosen.datasets))
    return ", ".join(parts)


def _check_matched(configs: list[dict]) -> None:
    if any(c["presence"] == "both" for c in configs):
        return
    base = sorted({c["dataset"] for c in configs if c["presence"] == "baseline"})
    cand = sorted({c["dataset"] for c in configs if c["presence"] == "candidate"})
    if not base or not cand:
        empty = "baseline" if not base else "candidate"
        raise CompareError(f"nothing to compare: the {empty} side has no config run with per-sample rows in its scope")
    if not set(base) & set(cand):
        raise CompareError(
            f"the two sides have different datasets only (baseline: {', '.join(base)}; candidate: {', '.join(cand)}): "
            "nothing to match; pick scopes that measured the same datasets"
        )
    raise CompareError(
        "nothing matched: the two sides share the datasets "
        f"{', '.join(sorted(set(base) & set(cand)))} but no config (tier, top_k, num_active_blocks)"
    )


CONFIG_KEYS = ("dataset", "tier", "variant", "top_k", "num_active_blocks")
# the JSON contract's keys first, then the rest of compare_configs' columns
CONFIG_FIELDS = (
    *CONFIG_KEYS,
    "latency_ratio",
    "ratio_lo",
    "ratio_hi",
    "delta_acc",
    "delta_lo",
    "delta_hi",
    "latency_changed",
    "accuracy_changed",
    "paired",
    "n_baseline",
    "n_candidate",
    "lat_baseline",
    "lat_candidate",
    "acc_baseline",
    "acc_candidate",
    "p_latency",
    "q_latency",
    "p_accuracy",
    "q_accuracy",
    "on_frontier_baseline",
    "on_frontier_candidate",
    "p_frontier_baseline",
    "p_frontier_candidate",
    "acc_baseline_lo",
    "acc_baseline_hi",
    "lat_baseline_lo",
    "lat_baseline_hi",
    "acc_candidate_lo",
    "acc_candidate_hi",
    "lat_candidate_lo",
    "lat_candidate_hi",
)


def _document(options, configs, summary, lookup, executed, baseline, candidate) -> dict[str, Any]:
    matched = [{k: c[k] for k in CONFIG_FIELDS} for c in configs if c["presence"] == "both"]
    one_side = {
        side: [
            {
                **{k: c[k] for k in CONFIG_KEYS},
                "n": c[f"n_{side}"],
                "accuracy": c[f"acc_{side}"],
                "latency": c[f"lat_{side}"],
                "on_frontier": c[f"on_frontier_{side}"],
                "p_frontier": c[f"p_frontier_{side}"],
                **{f"{what}_{end}": c[f"{what}_{side}_{end}"] for what in ("acc", "lat") for end in ("lo", "hi")},
            }
            for c in configs
            if c["presence"] == side
        ]
        for side in ("baseline", "candidate")
    }
    overall = next(s for s in summary if s["dataset"] is None)
    datasets = []
    for row in summary:
        if row["dataset"] is None:
            continue
        mine = [c for c in configs if c["dataset"] == row["dataset"]]
        datasets.append(
            {
                "dataset": row["dataset"],
                "n_matched": row["n_matched"],
                "geomean_ratio": row["geomean_ratio"],
                "geomean_lo": row["geomean_lo"],
                "geomean_hi": row["geomean_hi"],
                "baseline": _range(row, "baseline"),
                "candidate": _range(row, "candidate"),
                "frontier_entered": [_frontier_move(c, "candidate") for c in mine if _moved(c, "candidate")],
                "frontier_left": [_frontier_move(c, "baseline") for c in mine if _moved(c, "baseline")],
                "lookup_changed": [_lookup(e) for e in lookup if e["dataset"] == row["dataset"] and e["changed"]],
            }
        )
    return {
        "baseline": _side(baseline[0], baseline[1], options.snapshot),
        "candidate": _side(candidate[0], candidate[1], options.against_snapshot),
        "options": {
            "latency_stage": options.latency_stage,
            "latency_stat": options.latency_stat,
            "resamples": options.resamples,
            "seed": options.seed,
            "noise_latency": options.noise_latency,
            "noise_accuracy": options.noise_accuracy,
            "fdr": options.fdr,
            "step": options.step,
            "coarse_step": options.coarse_step,
        },
        "configs": matched,
        "only_baseline": one_side["baseline"],
        "only_candidate": one_side["candidate"],
        "summary": {
            "n_matched": overall["n_matched"],
            "n_latency_changed": overall["n_latency_changed"],
            "n_accuracy_changed": overall["n_accuracy_changed"],
            "geomean_ratio": overall["geomean_ratio"],
            "geomean_lo": overall["geomean_lo"],
            "geomean_hi": overall["geomean_hi"],
            "baseline": _range(overall, "baseline"),
            "candidate": _range(overall, "candidate"),
            "datasets": datasets,
        },
        "queries": [
            {
                "ref": q.ref,
                "sha256": q.sha256,
                "numpy": {"file": q.numpy.file_name, "sha256": q.numpy.sha256} if q.numpy is not None else None,
            }
            for q in executed
        ],
        "budgetdb_version": options.budgetdb_version,
    }


def _side(location, chosen, snapshot) -> dict[str, Any]:
    return {
        "store": location.label,
        "snapshot": snapshot,
        "hardware": list(chosen.hardware),
        "experiment": list(chosen.experiments),
        "dataset": list(chosen.datasets),
    }


def _range(row: dict, side: str) -> dict[str, Any]:
    return {
        "lower": row[f"{side}_lower"],
        "upper": row[f"{side}_upper"],
        "budgets": list(row[f"{side}_budgets"]) if row[f"{side}_budgets"] is not None else None,
    }


def _moved(config: dict, side: str) -> bool:
    """On `side`'s frontier and not on the other's (a config on one side only counts too)."""
    other = "baseline" if side == "candidate" else "candidate"
    return bool(config[f"on_frontier_{side}"]) and not config[f"on_frontier_{other}"]


def _frontier_move(config: dict, side: str) -> dict[str, Any]:
    """A frontier point that entered (side candidate) or left (side baseline): beyond noise when
    its p_frontier on the side where it is on the frontier is >= 0.9 and, where it is present
    on the other side, its p_frontier there is <= 0.1."""
    other = "baseline" if side == "candidate" else "candidate"
    here, there = config[f"p_frontier_{side}"], config[f"p_frontier_{other}"]
    clear = None if here is None else here >= 0.9 and (there is None or there <= 0.1)
    return {
        **{k: config[k] for k in CONFIG_KEYS},
        "accuracy": config[f"acc_{side}"],
        "latency": config[f"lat_{side}"],
        "p_frontier_baseline": config["p_frontier_baseline"],
        "p_frontier_candidate": config["p_frontier_candidate"],
        "beyond_noise": clear,
    }


def _lookup(entry: dict) -> dict[str, Any]:
    def pick(side: str):
        if entry[f"{side}_variant"] is None:
            return None
        return {
            "tier": entry[f"{side}_tier"],
            "variant": entry[f"{side}_variant"],
            "top_k": entry[f"{side}_top_k"],
            "num_active_blocks": entry[f"{side}_blocks"],
            "accuracy": entry[f"{side}_accuracy"],
            "latency": entry[f"{side}_latency"],
        }

    return {"budget": entry["budget"], "baseline": pick("baseline"), "candidate": pick("candidate")}


def to_json(doc: dict[str, Any]) -> str:
    """The JSON document (`--format json`): NaN and infinities are null; the same bytes every run."""
    import json
    import math

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(doc), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def to_markdown(doc: dict[str, Any], lang: str = "zh", plots: list[dict[str, str]] | None = None) -> str:
    """The comparison as Markdown (templates/compare.<lang>.md.j2)."""
    from budgetdb.templates import LANGUAGES, TemplateError, render

    if lang not in LANGUAGES:
        raise TemplateError(f"unknown language {lang!r}; use one of: {', '.join(LANGUAGES)}")
    return render(f"compare.{lang}.md.j2", {"doc": doc, "plots": plots or []})


def check_options(options: CompareOptions) -> None:
    """The options' values checked as the queries check their parameters, before a store is opened."""
    from budgetdb import queries
    from budgetdb.scope import Scope

    if options.lang not in ("zh", "en"):
        raise CompareError(f"unknown language {options.lang!r}; use zh or en")
    params = options.params(Scope(), Scope())
    queries.bind(queries.plan(TOP, pins=list(PINS)), params)


def reads_against(plan) -> bool:
    """Whether a query (a Plan) reads the catalog `against`: the compare_* queries, and any query using them."""
    import re

    return any(re.search(r"\bagainst\s*\.", step.spec.sql) for step in plan.steps)


def open_for_query(plan, db=None, data_path=None, *, against_db=None, against_snapshot=None, wait: float = 0.0):
    """The store read-only for `plan`; with the candidate attached as `against` when it reads it
    (`against_db`, default the same store, at `against_snapshot`)."""
    from budgetdb.store import locate, open_store

    if not reads_against(plan):
        if against_db is not None or against_snapshot is not None:
            raise CompareError(
                f"{plan.ref} does not read a second store (the catalog {AGAINST}); drop --against-db/--against-snapshot"
            )
        return open_store(db, read_only=True, wait=wait, data_path=data_path)
    baseline = locate(db, data_path)
    candidate = baseline if against_db in (None, "") else locate(against_db, data_path)
    return open_store(baseline, read_only=True, wait=wait, against=candidate, against_snapshot=against_snapshot)
