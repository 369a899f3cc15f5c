"""budgetdb: latency/accuracy profiling results -> a reproducible latency budget analysis.

Python entry points for analysts (docs/python.md):

    import budgetdb, pandas as pd
    budgetdb.query("pareto_frontier", dataset="okvqa")   # a query's rows as a DataFrame
    budgetdb.report(lang="en")                          # the Markdown report
    budgetdb.compare(hardware="h100", against_hardware="a100")  # what changed between two scopes
    budgetdb.queries.list_queries()                     # the query layer itself
    con = budgetdb.connect()                            # read-only DuckDB connection
    pd.read_sql("SELECT * FROM config_runs", budgetdb.engine())
    from budgetdb import scope
    scope.resolve(con, dataset=["text_vqa"])  # filters checked against the store: text-vqa
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # pyproject.toml reads it from here; importlib.metadata would load with every command

if TYPE_CHECKING:  # what the lazy attributes below are, for type checkers and IDEs
    from budgetdb import queries, store, templates
    from budgetdb.api import compare, query, query_relation, report

# Loaded on first use, so `budgetdb --help` imports neither duckdb nor the query layer.
_API = ("compare", "query", "query_relation", "report")
_SUBPACKAGES = ("queries", "store", "templates")
__all__ = [
    "__version__",
    "connect",
    "engine",
    "url",
    "compare",
    "query",
    "query_relation",
    "report",
    "queries",
    "store",
    "templates",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module("budgetdb.api"), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"budgetdb.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def connect(db=None, read_only: bool = True, data_path=None, *, allow_local_files: bool = False):
    """A DuckDB connection to the store (`db`, else $BUDGETDB_DB, else ./budget.duckdb).

    `db` may be a DuckLake (`ducklake:...`, docs/scale.md); `data_path` is its --data-path.
    Read-only (the default), it reads the store and nothing else: no other file or URL, no
    extension, no setting changes (docs/reliability.md). `allow_local_files=True` lets it read
    local files too (read_csv, read_parquet, ...); such a connection cannot be open in the same
    process as one without (DuckDB keeps one set of settings per database file).
    """
    from budgetdb.store import open_store

    return open_store(db, read_only=read_only, data_path=data_path, allow_local_files=allow_local_files)


def url(db=None) -> str:
    """The SQLAlchemy URL of the store (duckdb-engine), read-only.

    An engine made from it cannot be open in the same process as `connect()` (different
    connection settings); `engine()` can.
    """
    from budgetdb.errors import BudgetdbError
    from budgetdb.store import locate

    location = locate(db)
    if location.is_lake:
        raise BudgetdbError(
            f"{location.label} is a DuckLake: no SQLAlchemy URL can attach it; in Python use budgetdb.engine({location.label!r})"
        )
    return f"duckdb:///{location.path}?access_mode=read_only"


def engine(db=None, data_path=None):
    """A read-only SQLAlchemy engine on the store; works with `pandas.read_sql`.

    Its connections are opened like `connect()`'s, so both can be open at once in one process
    (DuckDB refuses two connections to one file with different settings, and duckdb-engine's
    own connect adds a user-agent setting).
    """
    from duckdb_engine import ConnectionWrapper
    from sqlalchemy import create_engine

    from budgetdb.store import locate, open_store

    location = locate(db, data_path)
    open_store(location, read_only=True).close()  # a missing or too-new store fails here, with budgetdb's message
    dialect_url = "duckdb:///:memory:" if location.is_lake else url(location)  # the creator makes the connections
    return create_engine(dialect_url, creator=lambda: ConnectionWrapper(open_store(location, read_only=True)))
