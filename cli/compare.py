"""`budgetdb compare`: what changed between two scopes, and whether it is beyond noise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from budgetdb.queries.limits import TIME_LIMIT

from .files import refuse_store, store_paths, write_text
from .limits import TimeLimitOption, stopping
from .options import DataPathOption, DatasetFilter, DbOption, ExperimentFilter, HardwareFilter, WaitOption
from .output import write
from .report import Lang, ReportFormat


def compare(
    db: DbOption = None,
    data_path: DataPathOption = None,
    snapshot: Annotated[
        int | None,
        typer.Option(
            "--snapshot",
            metavar="N",
            min=0,
            help="DuckLake only: the baseline as the lake was at snapshot N (time travel; `budgetdb info` or "
            "ducklake_snapshots() list them). Default: the latest.",
            show_default=False,
        ),
    ] = None,
    against_db: Annotated[
        str | None,
        typer.Option(
            "--against-db",
            help="The candidate's store (a DuckDB file or a ducklake:... string). Default: the baseline's store.",
            show_default=False,
        ),
    ] = None,
    against_data_path: Annotated[
        str | None,
        typer.Option(
            "--against-data-path", metavar="DIR", help="DuckLake only: the candidate lake's data folder.", show_default=False
        ),
    ] = None,
    against_snapshot: Annotated[
        int | None,
        typer.Option(
            "--against-snapshot",
            metavar="N",
            min=0,
            help="DuckLake only: the candidate as its lake was at snapshot N.",
            show_default=False,
        ),
    ] = None,
    hardware: HardwareFilter = None,
    experiment: ExperimentFilter = None,
    dataset: DatasetFilter = None,
    against_hardware: Annotated[
        list[str] | None,
        typer.Option(
            "--against-hardware",
            metavar="H",
            help="The candidate's hardware (repeatable). Default: as --hardware.",
            show_default=False,
        ),
    ] = None,
    against_experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--against-experiment",
            metavar="E",
            help="The candidate's experiment folder ('.' the root; repeatable). Default: as --experiment.",
            show_default=False,
        ),
    ] = None,
    # checked, as every value, against compare_resamples' header before a store is opened
    latency_stage: Annotated[
        str,
        typer.Option(
            "--latency-stage",
            metavar="STAGE",
            help="Latency compared: T_total, T_LLM_prefill, or vision_prefill (T_vision_total + T_LLM_prefill).",
        ),
    ] = "T_total",
    latency_stat: Annotated[
        str, typer.Option("--latency-stat", metavar="STAT", help="Which statistic of it per config run: mean, p50, p95, p99.")
    ] = "mean",
    resamples: Annotated[
        int, typer.Option("--resamples", metavar="N", help="Bootstrap resamples behind the intervals (0: points only).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Seed of the bootstrap: the same seed, the same bytes.")] = 0,
    noise_latency: Annotated[
        float,
        typer.Option("--noise-latency", metavar="F", help="A latency ratio whose interval lies within 1 ± F is no change (~)."),
    ] = 0.01,
    noise_accuracy: Annotated[
        float,
        typer.Option("--noise-accuracy", metavar="D", help="An accuracy difference whose interval lies within ± D is no change."),
    ] = 0.005,
    fdr: Annotated[
        float, typer.Option("--fdr", metavar="Q", help="False discovery rate Benjamini–Hochberg controls over all tests.")
    ] = 0.05,
    step: Annotated[
        float, typer.Option("--step", metavar="MS", help="Budget bounds are rounded up to a multiple of this.")
    ] = 10.0,
    coarse_step: Annotated[
        float, typer.Option("--coarse-step", metavar="MS", help="The budget list holds every multiple of this.")
    ] = 50.0,
    lang: Annotated[Lang, typer.Option("--lang", help="Markdown language: zh or en.")] = Lang.zh,
    format: Annotated[
        ReportFormat, typer.Option("--format", "-F", help="markdown (for people) or json (for scripts).")
    ] = ReportFormat.markdown,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Write to FILE instead of stdout (replaced whole).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            metavar="DIR",
            help="Also write PNG plots into DIR (both frontiers per dataset; the ratios) and link them (needs budgetdb[plots]).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    time_limit: TimeLimitOption = TIME_LIMIT.default,
    wait: WaitOption = 0.0,
) -> None:
    """Compare two scopes: what changed, config by config, and is it real.

    The baseline is --db (at --snapshot) with --hardware/--experiment; the candidate --against-db
    (default: the same store) at --against-snapshot with --against-hardware/--against-experiment
    (default: the baseline's); --dataset applies to both. Configs match by dataset, tier, top_k
    and blocks. Per config: the latency ratio candidate/baseline and the accuracy difference with
    95% bootstrap intervals (paired by example when both sides measured the same examples), "~"
    when inside the noise band or not significant after Benjamini–Hochberg. Then the geometric
    mean ratio, the frontier points that entered or left, the budget range before and after and
    the lookup entries whose choice changed; configs on one side only are listed.

    Example: budgetdb compare --hardware h100 --against-hardware a100 --lang en
    """
    from budgetdb.comparing import CompareOptions, check_options, open_sides, to_json, to_markdown
    from budgetdb.comparing import compare as run_compare
    from budgetdb.scope import experiment_value

    if out is not None and str(out) == "-":
        out = None
    stores = [store_paths(db, data_path)] + ([store_paths(against_db, against_data_path or data_path)] if against_db else [])
    for store in stores:
        if out is not None:
            refuse_store(out, "--out", store)
        if plots is not None:
            refuse_store(plots, "--plots", store)
    options = CompareOptions(
        db=db,
        data_path=data_path,
        snapshot=snapshot,
        against_db=against_db,
        against_data_path=against_data_path,
        against_snapshot=against_snapshot,
        hardware=tuple(hardware or ()),
        experiments=tuple(experiment_value(e) for e in experiment or ()),
        datasets=tuple(dataset or ()),
        against_hardware=tuple(against_hardware or ()),
        against_experiments=tuple(experiment_value(e) for e in against_experiment or ()),
        latency_stage=latency_stage,
        latency_stat=latency_stat,
        resamples=resamples,
        seed=seed,
        noise_latency=noise_latency,
        noise_accuracy=noise_accuracy,
        fdr=fdr,
        step=step,
        coarse_step=coarse_step,
        lang=lang.value,
    )
    check_options(options)
    con = open_sides(options, wait=wait)
    try:
        with stopping(con, time_limit):
            doc = run_compare(con, options)
    finally:
        con.close()
    if format is ReportFormat.json:
        text = to_json(doc)
    else:
        links = []
        if plots is not None:
            from budgetdb.compare_plots import write_plots

            links = write_plots(doc, plots, link_base=out.absolute().parent if out is not None else None)
        text = to_markdown(doc, lang.value, links)
    if out is None:
        write(text)
    else:
        write_text(out, text)


def register(app: typer.Typer) -> None:
    app.command()(compare)
