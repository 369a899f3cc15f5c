"""Every figure of the budget analysis as a named, versioned SQL query.

    from budgetdb import connect, queries
    result = queries.run(connect(), "pareto_frontier", dataset="okvqa")
    result.records()

One `<name>.v<N>.sql` file per version sits beside this module, and a team keeps its own in
folders of the same kind (`queries.load(["team_queries"])`, $BUDGETDB_QUERIES). `get("name")`
is the latest version, `get("name@v1")` a fixed one. A published file is never edited
(checksums.txt). A query may read others (`-- uses: config_points` for the latest version,
`config_points@v2` for a fixed one); `plan("name")` shows what a run executes, `run` creates
those first, `compile` writes it all as one statement for a DuckDB shell.
"""

from typing import TYPE_CHECKING

from .catalog import ENV, Catalog, Plan, Problem, Step, load, packaged
from .registry import (
    Param,
    QueryDefinitionError,
    QueryError,
    QueryNotFoundError,
    QueryParamError,
    QueryRunError,
    QuerySpec,
)

if TYPE_CHECKING:
    from .compiler import compile
    from .runner import QueryResult, Session, bind, closure, default, get, list_queries, plan, run, run_declared

# duckdb (~0.1 s to import) loads with the first query run, not with `budgetdb --help` (whose
# options take their defaults from budgetdb.queries.limits): the runner's names load on first use
_FROM_RUNNER = ("QueryResult", "Session", "bind", "closure", "default", "get", "list_queries", "plan", "run", "run_declared")

__all__ = [
    "ENV",
    "Catalog",
    "Param",
    "Plan",
    "Problem",
    "QueryDefinitionError",
    "QueryError",
    "QueryNotFoundError",
    "QueryParamError",
    "QueryResult",
    "QueryRunError",
    "QuerySpec",
    "Session",
    "Step",
    "bind",
    "closure",
    "compile",
    "default",
    "get",
    "list_queries",
    "load",
    "packaged",
    "plan",
    "run",
    "run_declared",
]


def __getattr__(name: str):
    if name in _FROM_RUNNER:
        from . import runner

        return getattr(runner, name)
    if name == "compile":
        from .compiler import compile

        return compile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
