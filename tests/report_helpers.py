"""Small stores and a one-call report for the report tests."""

from __future__ import annotations

import re
from pathlib import Path

from budgetdb.reporting import ReportOptions, build_report
from budgetdb.store import open_store

from builders import add_config_run, new_store

# `nan`, `None`, `inf` as words: what a report must never print (it names NaN only when it
# explains what counts as missing: "NaN or 0.0")
_LEAK = re.compile(r"\b(nan|NaN|None|inf|Infinity|null|Undefined)\b")
_EXPLAINED = re.compile(r"NaN (or|或) 0\.0")


def leak(text: str):
    """The first `nan`/`None`/... printed as a value, or None."""
    return _LEAK.search(_EXPLAINED.sub("", text))


def store_with(path: Path, runs: list[dict]) -> Path:
    """A store holding one config run per dict (add_config_run keyword arguments)."""
    con = new_store(path)
    try:
        for run in runs:
            add_config_run(con, **run)
    finally:
        con.close()
    return path


def report(db: Path, **options) -> str:
    options.setdefault("budgetdb_version", "test")
    con = open_store(db, read_only=True)
    try:
        return build_report(con, ReportOptions(**options))
    finally:
        con.close()


def run(dataset: str, tier: str, top_k: int, blocks: int, accuracy, total, prefill=None, **extra) -> dict:
    samples = {"accuracy": list(accuracy), "T_total": list(total)}
    if prefill is not None:
        samples["T_LLM_prefill"] = list(prefill)
    samples.update(extra.pop("samples", {}))
    return {"dataset": dataset, "tier": tier, "top_k": top_k, "blocks": blocks, "samples": samples, **extra}


def section(text: str, heading: str) -> str:
    """The lines under `heading` up to the next heading of the same or a higher level
    (lines inside ``` fences are not headings)."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.split("\n")
    start = lines.index(heading) + 1
    fenced = False
    for end in range(start, len(lines)):
        line = lines[end]
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])
