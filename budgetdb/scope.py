"""Filters (hardware, experiment, dataset) checked against what the store holds.

A value that matches nothing is an error that lists the values there are and the closest one,
instead of an empty report or table. Values are matched exactly first; else a hardware by its
letters in any case (`H100` is `h100`), a dataset also with the harness's underscores
(`text_vqa` is the folder `text-vqa`). The experiment of dataset folders directly under the
hardware root is `''`, spelled `.` on the command line (`--experiment .`, `-p experiment=.`);
`a/b/` is `a/b`. Each value is checked against the whole store; filters that each match but
together select no file at all are an error too.

    from budgetdb import connect, scope
    chosen = scope.resolve(connect(), hardware=["H100"], dataset=["text_vqa"])
    chosen.datasets  # ('text-vqa',)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from budgetdb.errors import BudgetdbError

if TYPE_CHECKING:
    import duckdb

FILTERS = ("hardware", "experiment", "dataset")  # the query parameters (VARCHAR[]) checked here
ROOT_EXPERIMENT = "."  # how the command line spells the experiment '' (dataset folders right under the root)

# a skipped file is JSON that is no configuration result (layer_importance_scores.json beside the
# dataset folders, say): its folder names no dataset or experiment
_VALUES = """
SELECT DISTINCT hardware, experiment, dataset FROM files WHERE status <> 'skipped'
"""


class ScopeError(BudgetdbError):
    """A filter value that matches nothing in the store."""


@dataclass(frozen=True)
class Scope:
    """Filter values as stored; an empty tuple means everything."""

    hardware: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()

    def params(self) -> dict[str, list[str] | None]:
        """The `hardware`, `experiment` and `dataset` parameters of a query (None: all)."""
        return {
            "hardware": list(self.hardware) or None,
            "experiment": list(self.experiments) or None,
            "dataset": list(self.datasets) or None,
        }


def experiment_value(text: str) -> str:
    """An experiment as given on the command line, as stored: `.` (and `./`) is the root's ''."""
    text = text.strip()
    if text in (ROOT_EXPERIMENT, "./", "/"):
        return ""
    return text.rstrip("/")


def experiment_label(value: str) -> str:
    """An experiment as the command line spells it: '' is `.`."""
    return value if value else ROOT_EXPERIMENT


def resolve(
    con: duckdb.DuckDBPyConnection, hardware: Iterable[str] = (), experiment: Iterable[str] = (), dataset: Iterable[str] = ()
) -> Scope:
    """The filters as stored values, each checked against the store (ScopeError if one matches nothing)."""
    rows = con.execute(_VALUES).fetchall()
    chosen = Scope(
        tuple(_choose("hardware", list(hardware), sorted({r[0] for r in rows}), _hardware_key)),
        tuple(
            _choose("experiment", [experiment_value(e) for e in experiment], sorted({r[1] for r in rows}), str, experiment_label)
        ),
        tuple(_choose("dataset", list(dataset), sorted({r[2] for r in rows}), _dataset_key)),
    )
    wanted = (chosen.hardware, chosen.experiments, chosen.datasets)
    if any(wanted) and not any(all(not w or v in w for v, w in zip(row, wanted, strict=True)) for row in rows):
        shown = (chosen.hardware, tuple(experiment_label(e) for e in chosen.experiments), chosen.datasets)
        given = [
            f"{what} {', '.join(values)}"
            for what, values in zip(("hardware", "experiment", "dataset"), shown, strict=True)
            if values
        ]
        raise ScopeError(f"no file of the store has {' and '.join(given)}; `budgetdb info` lists what it holds")
    return chosen


def _hardware_key(value: str) -> str:
    return value.strip().lower()


def _dataset_key(value: str) -> str:
    return value.strip().lower().replace("_", "-")


def _choose(what: str, wanted: list[str], present: list[str], key, label=str) -> list[str]:
    chosen: list[str] = []
    for value in wanted:
        match = _match(value, present, key)
        if match is None:
            raise ScopeError(_no_such(what, value, present, key, label))
        if match not in chosen:
            chosen.append(match)
    return chosen


def _match(value: str, present: list[str], key) -> str | None:
    if value in present:
        return value
    same = [p for p in present if key(p) == key(value)]
    return same[0] if len(same) == 1 else None


def _no_such(what: str, value: str, present: list[str], key, label) -> str:
    plural = {"hardware": "hardware", "experiment": "experiments", "dataset": "datasets"}[what]
    if not present:
        return f"no {what} {label(value)!r}: the store holds no files yet; run budgetdb ingest first"
    by_key = {key(p): p for p in present}
    # GPU names differ by a letter (a100, h100, h200): only a near miss is a hint there
    close = difflib.get_close_matches(key(value), list(by_key), n=1, cutoff=0.8 if what == "hardware" else 0.6)
    hint = f"; did you mean {label(by_key[close[0]])!r}?" if close else ""
    listed = ", ".join(label(p) for p in present)
    return f"no {what} {label(value)!r}{hint} ({plural} in the store: {listed})"
