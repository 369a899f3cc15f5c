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

from .catalog import ENV, Catalog, Plan, Problem, Step, load, packaged
from .compiler import compile
from .registry import (
    Param,
    QueryDefinitionError,
    QueryError,
    QueryNotFoundError,
    QueryParamError,
    QueryRunError,
    QuerySpec,
)
from .runner import QueryResult, Session, bind, closure, default, get, list_queries, plan, run

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
]
