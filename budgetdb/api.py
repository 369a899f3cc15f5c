"""The Python API: every `budgetdb query run` and `budgetdb report` as a function.

    import budgetdb
    frontier = budgetdb.query("pareto_frontier", dataset="okvqa")        # a pandas DataFrame
    rel = budgetdb.query_relation("config_points", latency_stat="p95")   # a DuckDB relation (.arrow(), .pl(), SQL)
    text = budgetdb.report(lang="en", datasets=["okvqa"])                # the Markdown report

Each takes the store as `db` (a path or `ducklake:` string, default $BUDGETDB_DB, else
./budget.duckdb; or an open connection from budgetdb.connect()) and a query's parameters as
keywords, checked and converted as `budgetdb query run -p` does. `queries` adds folders of your
own `<name>.v<N>.sql` files (before $BUDGETDB_QUERIES's and the packaged ones).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from budgetdb import queries as _queries

if TYPE_CHECKING:
    import pandas

Store = str | os.PathLike | duckdb.DuckDBPyConnection | None
Folders = str | os.PathLike | Iterable[str | os.PathLike] | None
Pins = dict[str, int] | Iterable[str] | None


def query(
    name: str,
    /,
    *,
    db: Store = None,
    queries: Folders = None,
    data_path: str | os.PathLike | None = None,
    pins: Pins = None,
    against_db: str | os.PathLike | None = None,
    against_snapshot: int | None = None,
    **params: Any,
) -> pandas.DataFrame:
    """Run query `name` (`name`, `name@vN`) on the store and return its rows as a pandas DataFrame.

    `params` are the query's parameters (`dataset="okvqa"` or `dataset=["okvqa", "text-vqa"]`,
    `step=5`); those not given take their defaults. `pins` ({"config_points": 2}) fixes the
    version of every unpinned `uses` of that name. A query reading a second store (compare_*: the
    catalog `against`) gets `against_db` (default: the same store) at `against_snapshot`.
    """
    from budgetdb.comparing import open_for_query, reads_against

    catalog = _catalog(queries)
    plan = catalog.plan(name, pins)
    _queries.bind(plan, params)  # parameter errors before the store is opened
    if reads_against(plan) and not isinstance(db, duckdb.DuckDBPyConnection):
        con = open_for_query(plan, db, data_path, against_db=against_db, against_snapshot=against_snapshot)
        try:
            return _queries.run(con, plan.spec, params, pins=pins, catalog=catalog).to_pandas()
        finally:
            con.close()
    with _connection(db, data_path) as con:
        return _queries.run(con, plan.spec, params, pins=pins, catalog=catalog).to_pandas()


def query_relation(
    name: str,
    /,
    *,
    db: Store = None,
    queries: Folders = None,
    data_path: str | os.PathLike | None = None,
    pins: Pins = None,
    **params: Any,
) -> duckdb.DuckDBPyRelation:
    """Query `name`'s rows as a DuckDB relation: `.arrow()` (with pyarrow), `.pl()` (with polars),
    `.df()`, `.fetchall()`, or more SQL on it (`.filter("accuracy > 0.5")`).

    It runs the statement `budgetdb query compile` prints, with the values bound. The relation
    lives on the store's connection: given a path, that connection (read-only) stays open as long
    as the relation does; pass `db=budgetdb.connect()` to close it yourself. A query computed by
    a numpy step (config_resamples) is computed first into a temporary table of that connection,
    which the relation reads.
    """
    from budgetdb.queries.compiler import placeholders_kept
    from budgetdb.queries.runner import kept
    from budgetdb.queries.sqltext import placeholders

    catalog = _catalog(queries)
    plan = catalog.plan(name, pins)
    bound = _queries.bind(plan, params)
    con = db if isinstance(db, duckdb.DuckDBPyConnection) else _open(db, data_path)
    tables = {
        step.spec.ref: kept(con, catalog.plan(step.spec, pins), bound) for step in plan.steps if step.spec.numpy is not None
    }
    sql = placeholders_kept(plan, tables)
    values = {key: bound[key] for key in placeholders(sql)}
    try:
        return con.sql(sql, params=values) if values else con.sql(sql)
    except duckdb.Error as exc:
        raise _queries.QueryRunError(f"{plan.ref} failed: {exc}") from exc


def report(
    *,
    db: Store = None,
    data_path: str | os.PathLike | None = None,
    lang: str = "zh",
    format: str = "markdown",
    hardware: str | Sequence[str] = (),
    experiments: str | Sequence[str] = (),
    datasets: str | Sequence[str] = (),
    latency_stage: str = "T_total",
    latency_stat: str = "mean",
    step: float = 10.0,
    coarse_step: float = 50.0,
    num: int = 10,
    alpha: str | tuple[float, float] = (0.1, 0.2),
    resamples: int = 1000,
    seed: int = 0,
    templates: str | os.PathLike | Sequence[str | os.PathLike] = (),
    template: str | None = None,
    plots: str | os.PathLike | None = None,
    link_base: str | os.PathLike | None = None,
    time_limit: float = 0.0,
) -> str:
    """The latency budget analysis as Markdown, as `budgetdb report` prints it (same options,
    same bytes); with format="json" the recommendation as a JSON document (docs/recommendation.md).

    `templates`: folders searched before the packaged templates; `template`: the main
    template's file name in one of them. `plots`: also write PNG/SVG plots into this folder
    (needs budgetdb[plots]); their links are relative to `link_base` (default: the current folder).
    `time_limit`: stop with QueryTimeoutError after this many seconds of queries (0: no limit).
    `resamples`: bootstrap resamples behind the uncertainty figures (0: none, the report without
    them); `seed`: their seed.
    """
    from budgetdb.queries.limits import time_limit as limited
    from budgetdb.reporting import REPORT_FORMATS, ReportOptions, ReportOptionsError, parse_alpha

    if format not in REPORT_FORMATS:
        raise ReportOptionsError(f"format must be one of {', '.join(REPORT_FORMATS)}, not {format!r}")
    options = ReportOptions(
        lang=lang,
        hardware=_strings(hardware),
        experiments=_strings(experiments),
        datasets=_strings(datasets),
        latency_stage=latency_stage,
        latency_stat=latency_stat,
        step=step,
        coarse_step=coarse_step,
        num=num,
        alpha=parse_alpha(alpha) if isinstance(alpha, str) else (float(alpha[0]), float(alpha[1])),
        resamples=resamples,
        seed=seed,
        template_paths=tuple(str(p) for p in _paths(templates)),
        template=template,
        plots_dir=Path(plots) if plots is not None else None,
        link_base=Path(link_base).absolute() if link_base is not None else None,
    )
    with _connection(db, data_path) as con, limited(con, time_limit):
        return REPORT_FORMATS[format](con, options)


def compare(
    *,
    db: str | os.PathLike | None = None,
    data_path: str | os.PathLike | None = None,
    snapshot: int | None = None,
    against_db: str | os.PathLike | None = None,
    against_data_path: str | os.PathLike | None = None,
    against_snapshot: int | None = None,
    hardware: str | Sequence[str] = (),
    experiments: str | Sequence[str] = (),
    datasets: str | Sequence[str] = (),
    against_hardware: str | Sequence[str] = (),
    against_experiments: str | Sequence[str] = (),
    latency_stage: str = "T_total",
    latency_stat: str = "mean",
    resamples: int = 1000,
    seed: int = 0,
    noise_latency: float = 0.01,
    noise_accuracy: float = 0.005,
    fdr: float = 0.05,
    step: float = 10.0,
    coarse_step: float = 50.0,
    format: str = "dict",
    lang: str = "zh",
    time_limit: float = 0.0,
) -> Any:
    """What changed between two scopes, as `budgetdb compare` says it: `format="dict"` (default) the
    JSON document as Python values, `"json"` its text, `"markdown"` the Markdown in `lang`.

    The baseline is the store `db` (at `snapshot`, a DuckLake's) with `hardware`, `experiments` and
    `datasets`; the candidate `against_db` (default: the same store) at `against_snapshot`, with
    `against_hardware` and `against_experiments` (default: the baseline's) and the same datasets.
    Both are opened read-only; the candidate is the catalog `against` of the queries (compare_*).
    """
    from budgetdb import comparing as _compare
    from budgetdb.queries.limits import time_limit as limited

    if format not in ("dict", "json", "markdown"):
        raise _compare.CompareError(f"format must be dict, json or markdown, not {format!r}")
    options = _compare.CompareOptions(
        db=db,
        data_path=data_path,
        snapshot=snapshot,
        against_db=against_db,
        against_data_path=against_data_path,
        against_snapshot=against_snapshot,
        hardware=_strings(hardware),
        experiments=_strings(experiments),
        datasets=_strings(datasets),
        against_hardware=_strings(against_hardware),
        against_experiments=_strings(against_experiments),
        latency_stage=latency_stage,
        latency_stat=latency_stat,
        resamples=resamples,
        seed=seed,
        noise_latency=noise_latency,
        noise_accuracy=noise_accuracy,
        fdr=fdr,
        step=step,
        coarse_step=coarse_step,
        lang=lang,
    )
    _compare.check_options(options)
    con = _compare.open_sides(options)
    try:
        with limited(con, time_limit):
            doc = _compare.compare(con, options)
    finally:
        con.close()
    if format == "json":
        return _compare.to_json(doc)
    if format == "markdown":
        return _compare.to_markdown(doc, lang)
    return doc


def _catalog(folders: Folders) -> _queries.Catalog:
    return _queries.load(_paths(folders))


def _paths(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


def _strings(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _open(db, data_path) -> duckdb.DuckDBPyConnection:
    from budgetdb.store import open_store

    return open_store(db, read_only=True, data_path=data_path)


@contextmanager
def _connection(db: Store, data_path):
    """The caller's connection as it is, or the store opened read-only for the length of the block."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield db
        return
    con = _open(db, data_path)
    try:
        yield con
    finally:
        con.close()
