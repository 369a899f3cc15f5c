"""`budgetdb ingest`, `budgetdb info` and `budgetdb demo`."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from budgetdb.errors import StoreNotFoundError

from .options import (
    DataPathOption,
    DatasetFilter,
    DbOption,
    ExperimentFilter,
    FormatOption,
    HardwareFilter,
    OutputFormat,
    PathArgument,
    WaitOption,
)
from .output import render, write
from .pandas_guard import pandas_unloaded


def ingest(
    paths: PathArgument,
    db: DbOption = None,
    data_path: DataPathOption = None,
    hardware: Annotated[
        str | None,
        typer.Option("--hardware", help="Hardware name for files outside a core_exp_<hw> folder (default: unknown)."),
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove files that vanished from disk from the store.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first failing file and leave the store unchanged.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            metavar="N",
            help="Processes that hash and first-read changed files (default: one per core, when there is enough "
            "to read; 1: this process only).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print what ingest would do with every file (the plan) and change nothing; --format json or csv for scripts.",
        ),
    ] = False,
    wait: WaitOption = 0.0,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Load result JSON files into the store.

    PATH is a hardware root (results/core_exp_h100), any folder below it, or single files;
    folders are searched recursively. Unchanged files are skipped (size+mtime, then sha256),
    changed files replace their rows, each configuration lands in one transaction. Files are
    known by their real path (another spelling of a folder, or a symlink to it, is the same
    files; a moved file is recognised by its sha256). A configuration's files are decided by
    their samples' example_id (docs/schema.md). Exit code 1 when a file failed, 0 otherwise
    (skips and warnings included).

    Example: budgetdb ingest results/core_exp_h100 --dry-run
    """
    from budgetdb.store.ingest import IngestOptions

    options = IngestOptions(hardware=hardware, prune=prune, strict=strict, workers=workers)
    if dry_run:
        _dry_run(paths, options, db, data_path, wait, fmt)
        return
    from budgetdb.store import opened
    from budgetdb.store.ingest import ingest as run_ingest
    from budgetdb.templates.formatting import visible  # file names may hold terminal escapes

    _check_paths(paths)  # before the store is opened: a typo must not leave a new, empty store behind
    with pandas_unloaded():
        with opened(db, read_only=False, wait=wait, data_path=data_path) as con:
            with _progress() as progress:
                summary = run_ingest(con, paths, options, progress)
    for outcome in summary.outcomes:
        if outcome.outcome in ("failed", "vanished"):
            typer.echo(visible(f"{outcome.outcome}: {outcome.path}: {outcome.reason}"), err=True)
        for warning in outcome.warnings:
            typer.echo(visible(f"warning: {outcome.path}: {warning}"), err=True)
    mb_per_s = summary.bytes_read / 2**20 / summary.seconds if summary.seconds else 0.0
    totals = [
        *((f"files_{name}", f"files {name}", count) for name, count in summary.counts.items()),
        ("samples_added", "samples added", summary.samples_added),
        ("nan_latencies", "NaN latencies", summary.nan_latencies),
        ("zero_latencies", "0.0 latencies", summary.zero_latencies),
        ("seconds", "seconds", round(summary.seconds, 2)),
        ("mb_per_s", "MB/s read", round(mb_per_s, 1)),
    ]
    if fmt is OutputFormat.table:
        write(render(["", "count"], [(label, value) for _, label, value in totals], fmt))
    else:
        write(render([key for key, _, _ in totals], [[value for _, _, value in totals]], fmt))
    if summary.failed:
        raise typer.Exit(1)


def _check_paths(paths: list[Path]) -> None:
    from budgetdb.errors import BudgetdbError

    for path in paths:
        if not os.path.lexists(path):
            raise BudgetdbError(f"{path}: no such file or folder; nothing was ingested")


def _dry_run(paths, options, db, data_path, wait: float, fmt: OutputFormat) -> None:
    """The plan against the store as it is (a missing store: as into a new one, which is not created)."""
    from budgetdb.store import locate, open_store
    from budgetdb.store.ingest import plan_ingest

    location = locate(db, data_path)
    with pandas_unloaded():
        if location.path is not None and not location.is_lake and not location.path.exists():
            plan = plan_ingest(None, paths, options)
        else:
            try:
                con = open_store(location, read_only=True, wait=wait)
            except StoreNotFoundError:
                plan = plan_ingest(None, paths, options)
            else:
                with con:
                    plan = plan_ingest(con, paths, options)
    columns = [
        "action",
        "outcome",
        "path",
        "rel_path",
        "reason",
        "hardware",
        "experiment",
        "dataset",
        "variant",
        "top_k",
        "num_active_blocks",
        "rank",
        "warnings",
    ]
    if fmt is OutputFormat.table:
        people = [(f.action.value, f.rel_path, f.reason or "") for f in plan.files]
        typer.echo(render(["action", "file (below its root)", "reason"], people, fmt), nl=False)
        counts: dict[str, int] = {}
        for f in plan.files:
            counts[f.action.value] = counts.get(f.action.value, 0) + 1
        typer.echo("plan: " + ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) + "; nothing was written")
        return
    scripts = [[getattr(f, c) if c != "action" else f.action.value for c in columns] for f in plan.files]
    typer.echo(render(columns, [[list(v) if isinstance(v, tuple) else v for v in row] for row in scripts], fmt), nl=False)


def info(
    db: DbOption = None,
    data_path: DataPathOption = None,
    hardware: HardwareFilter = None,
    experiment: ExperimentFilter = None,
    dataset: DatasetFilter = None,
    wait: WaitOption = 0.0,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Show what the store holds: schema version, size, last ingest, and per
    hardware x experiment x dataset the config runs, samples and files (--hardware,
    --experiment, --dataset: only those, each value checked against the store).

    Example: budgetdb info --db results.duckdb
    """
    from budgetdb import scope
    from budgetdb.store import locate, opened
    from budgetdb.store.info import store_info

    with opened(db, read_only=True, wait=wait, data_path=data_path) as con:
        chosen = scope.resolve(con, hardware or (), experiment or (), dataset or ())
        found = store_info(con, locate(db, data_path), chosen.params())
    if fmt is OutputFormat.table:
        from budgetdb.templates.formatting import visible

        typer.echo(f"store:          {visible(found.path)}")
        typer.echo(f"schema version: {found.schema_version}")
        typer.echo(f"size:           {found.size_bytes / 2**20:.1f} MB")
        typer.echo(
            "last ingest:    "
            + (found.last_ingest.isoformat(sep=" ", timespec="seconds") + " UTC" if found.last_ingest else "never")
        )
    write(render(found.columns, found.rows, fmt, title="contents"))


def demo(
    directory: Annotated[Path, typer.Argument(help="Folder to write the demo results tree into.")],
    samples: Annotated[int, typer.Option("--samples", min=1, help="Total samples to generate.")] = 6480,
    hardware: Annotated[str, typer.Option("--hardware", help="Hardware name (folder core_exp_<hw>).")] = "h100",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes the same bytes.")] = 0,
) -> None:
    """Write a realistic synthetic results tree in the exact current file shape.

    3 datasets x 27 configurations (tier x top_k x blocks) with believable accuracy/latency
    trade-offs, a few multi-GPU shards, a log file and a non-result JSON.

    DIRECTORY/core_exp_<hw> must not exist yet: demo never writes over a tree.

    Example: budgetdb demo demo_results && budgetdb ingest demo_results/core_exp_h100
    """
    from budgetdb.demo import write_demo_tree
    from budgetdb.errors import BudgetdbError

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", hardware):
        raise BudgetdbError(f"--hardware {hardware!r}: use letters, digits, '.', '_' and '-' (it names a folder)")
    root = directory / f"core_exp_{hardware}"
    if os.path.lexists(directory) and not directory.is_dir():
        raise BudgetdbError(f"{directory} is a file; demo writes a folder tree: give a folder")
    if os.path.lexists(root):
        raise BudgetdbError(f"{root} exists already; demo writes a whole new tree: remove it or give another folder")
    try:
        written = write_demo_tree(directory, samples=samples, hardware=hardware, seed=seed)
    except OSError as exc:
        raise BudgetdbError(f"cannot write the demo tree into {directory}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {written.files} files ({written.samples:,} samples) under {written.root}")
    typer.echo(f"next: budgetdb ingest {written.root}")


class _progress:
    """A rich progress bar on a terminal; plain lines on stderr otherwise."""

    LABELS = {"scan": "checking", "inspect": "inspecting", "write": "writing"}  # every count is of files

    def __enter__(self):
        self.live = None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.live = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[samples]:,} samples  {task.fields[rate]:.0f} MB/s"),
                TimeElapsedColumn(),
                transient=True,
            )
            self.live.start()
        self.tasks: dict[str, Any] = {}  # phase -> rich's TaskID
        self.last_line: dict[str, int] = {}
        import time

        self.started = time.monotonic()
        self.clock = time.monotonic
        return self

    def __call__(self, phase: str, done: int, total: int, samples: int, bytes_read: int) -> None:
        rate = bytes_read / 2**20 / max(self.clock() - self.started, 1e-6)
        if self.live is not None:
            if phase not in self.tasks:
                self.tasks[phase] = self.live.add_task(self.LABELS.get(phase, phase), total=total, samples=0, rate=0.0)
            self.live.update(self.tasks[phase], completed=done, total=total, samples=samples, rate=rate)
            return
        step = max(total // 10, 1)
        if done == total or done // step != self.last_line.get(phase, -1):
            self.last_line[phase] = done // step
            if done == total or done % step == 0:
                typer.echo(
                    f"{self.LABELS.get(phase, phase)}: {done}/{total} files, {samples:,} samples, {rate:.0f} MB/s", err=True
                )

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.stop()
        return False


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(info)
    app.command()(demo)
