"""Every figure of the budget analysis as a named, versioned SQL query.

    from budgetdb import connect, queries
    result = queries.run(connect(), "pareto_frontier", {"dataset": "okvqa"})
    result.records()

One `<name>.v<N>.sql` file per version sits beside this module; `get("name")` is the latest
version, `get("name@v1")` a fixed one. A published file is never edited (checksums.txt).
A query may read others (`-- uses: config_points@v1`); `closure("name")` lists every query a
run executes, and `run` creates those first (registry.py, runner.py).
"""

from .registry import (
    Param,
    QueryDefinitionError,
    QueryError,
    QueryNotFoundError,
    QueryParamError,
    QueryRunError,
    QuerySpec,
)
from .runner import QueryResult, Session, bind, closure, get, list_queries, run

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
