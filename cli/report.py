"""`budgetdb report`: the latency budget analysis as Markdown."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from budgetdb.errors import BudgetdbError
from budgetdb.queries.limits import TIME_LIMIT

from .files import refuse_store, store_paths, write_text
from .limits import TimeLimitOption, stopping
from .options import (
    DataPathOption,
    DatasetFilter,
    DbOption,
    ExperimentFilter,
    HardwareFilter,
    LatencyStageOption,
    LatencyStatOption,
    WaitOption,
)
from .output import write
from .pandas_guard import pandas_unloaded


class Lang(StrEnum):
    zh = "zh"
    en = "en"


class ReportFormat(StrEnum):  # report's and compare's: markdown for people, json for scripts
    markdown = "markdown"
    json = "json"


def report(
    db: DbOption = None,
    data_path: DataPathOption = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Report language: zh (the seed's) or en.")] = Lang.zh,
    format: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            "-F",
            help="markdown: the analysis (for people). json: the recommendation as data for a training script (prefill "
            "statistics, every dataset's frontier, the budget range, list and linspace, the lookup; schema in "
            "docs/recommendation.md).",
        ),
    ] = ReportFormat.markdown,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Write the report to FILE instead of stdout (- is stdout); plot links are relative to its folder. A file is "
            "replaced whole (keeping its permissions), a symlink's target is written, a device or FIFO written through.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    hardware: HardwareFilter = None,
    experiment: ExperimentFilter = None,
    dataset: DatasetFilter = None,
    latency_stage: LatencyStageOption = "T_total",
    latency_stat: LatencyStatOption = "mean",
    step: Annotated[
        float, typer.Option("--step", metavar="MS", help="Budget bounds are rounded up to a multiple of this (ms).")
    ] = 10.0,
    coarse_step: Annotated[
        float,
        typer.Option(
            "--coarse-step",
            metavar="MS",
            help="The budget list holds every multiple of this between the bounds; also the safer prefill bound (ms).",
        ),
    ] = 50.0,
    num: Annotated[
        int, typer.Option("--num", metavar="N", min=1, help="How many values the np.linspace alternative samples.")
    ] = 10,
    alpha: Annotated[
        str, typer.Option("--alpha", metavar="LO-HI", help="The decode soft-penalty weight α, as LO-HI (or one value).")
    ] = "0.1-0.2",
    resamples: Annotated[
        int,
        typer.Option(
            "--resamples",
            metavar="N",
            help="Bootstrap resamples behind the intervals, frontier stability, the lookup table's ties and what to "
            "measure next (resampling examples, paired across configs). 0: none, the report without uncertainty.",
        ),
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", help="Seed of the bootstrap resamples: the same seed, the same report.")
    ] = 0,
    template: Annotated[
        list[Path] | None,
        typer.Option(
            "--template",
            metavar="PATH",
            help="A folder of templates searched before the packaged ones (override one partial, "
            "e.g. _footer.md.j2), or a main template file (its folder searched first). Repeatable.",
            show_default=False,
        ),
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            metavar="DIR",
            help="Also write PNG and SVG plots into DIR and link them (needs budgetdb[plots]).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    time_limit: TimeLimitOption = TIME_LIMIT.default,
    wait: WaitOption = 0.0,
) -> None:
    """Render the latency budget analysis from the store as Markdown.

    The seed's document regenerated from whatever was ingested: prefill statistics, the
    Pareto frontier per dataset, the cross-dataset aggregate, the recommended budget range
    and list, plus a budget lookup table and a footer (store, last ingest, scope, counts,
    query versions and hashes) that makes it reproducible. Same store and options, same bytes.
    Beside the seed's figures, their uncertainty (a bootstrap over examples, --resamples): the
    prefill percentiles' intervals, how stable each frontier is, the lookup table's runner-up
    and ties, and what to measure next with its GPU time.
    With several hardware in scope, one analysis per hardware (latencies of two GPUs are never
    pooled). A filter value that matches nothing in the store is an error naming the values there are.

    Example: budgetdb report --lang en --plots plots -o budget.md

    Example: budgetdb report --format json -o budget.json (the recommendation, for a training script)
    """
    from budgetdb.reporting import REPORT_FORMATS, ReportOptions, parse_alpha
    from budgetdb.scope import experiment_value
    from budgetdb.store import opened

    if out is not None and str(out) == "-":  # the usual spelling of stdout
        out = None
    store = store_paths(db, data_path)  # no output may overwrite the store: refused before anything runs
    if out is not None:
        refuse_store(out, "--out", store)
    if plots is not None:
        refuse_store(plots, "--plots", store)
    template_paths, main_template = _templates(template or [])
    options = ReportOptions(
        lang=lang.value,
        hardware=tuple(hardware or ()),
        experiments=tuple(experiment_value(e) for e in experiment or ()),
        datasets=tuple(dataset or ()),
        latency_stage=latency_stage,
        latency_stat=latency_stat,
        step=step,
        coarse_step=coarse_step,
        num=num,
        alpha=parse_alpha(alpha),
        resamples=resamples,
        seed=seed,
        template_paths=template_paths,
        template=main_template,
        plots_dir=plots,
        link_base=out.absolute().parent if out is not None else None,
        protected_paths=frozenset(store[0]),
    )
    report_format = REPORT_FORMATS[format.value]
    with pandas_unloaded():
        with opened(db, read_only=True, wait=wait, data_path=data_path) as con:
            with stopping(con, time_limit):  # the queries only: a slow template or plot is no stuck query
                context, records = report_format.query(con, options)
        text = report_format.text(context, records, options)
    if out is None:
        write(text)
    else:
        write_text(out, text)


def _templates(paths: list[Path]) -> tuple[tuple[str, ...], str | None]:
    """The folders to search, in order, and the main template's name: the main template file's
    folder comes first, so that the file named is the one rendered (not a namesake in a folder)."""
    folders: list[str] = []
    mains: list[Path] = []
    for path in paths:
        if path.is_dir():
            folders.append(str(path))
        elif path.is_file():
            mains.append(path)
        else:
            raise BudgetdbError(f"--template {path}: no such file or folder")
    if len(mains) > 1:
        raise BudgetdbError(f"--template takes one main template file, got {mains[0]} and {mains[1]}")
    if not mains:
        return tuple(folders), None
    return tuple(dict.fromkeys([str(mains[0].parent), *folders])), mains[0].name


def register(app: typer.Typer) -> None:
    app.command()(report)
