"""Every figure of the budget analysis as a named, versioned SQL query.

    from budgetdb import connect, queries
    result = queries.run(connect(), "pareto_frontier", {"dataset": "okvqa"})
    result.records()

One `<name>.v<N>.sql` file per version sits beside this module; `get("name")` is the latest
version, `get("name@v1")` a fixed one. A published file is never edited (checksums.txt).
A query may read others (`-- uses: config_points@v1`); `closure("name")` lists every query a
run executes, and `run` creates those first (registry.py, runner.py).
"""

from typing import TYPE_CHECKING

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
    from .runner import QueryResult, Session, bind, closure, get, list_queries, run

# duckdb (~0.1 s to import) loads with the first query run, not with `budgetdb --help` (whose
# options take their defaults from budgetdb.queries.limits): the runner's names load on first use
_FROM_RUNNER = ("QueryResult", "Session", "bind", "closure", "get", "list_queries", "run")

__all__ = [
    "Param",
    "QueryDefinitionError",
    "QueryError",
    "QueryNotFoundError",
    "QueryParamError",
    "QueryResult",
    "QueryRunError",
    "QuerySpec",
    "Session",
    "bind",
    "closure",
    "get",
    "list_queries",
    "run",
]


def __getattr__(name: str):
    if name in _FROM_RUNNER:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
