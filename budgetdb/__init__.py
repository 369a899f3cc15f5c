"""budgetdb: latency/accuracy profiling results -> a reproducible latency budget analysis.

Python entry points for analysts:

    import budgetdb, pandas as pd
    con = budgetdb.connect()              # read-only DuckDB connection
    pd.read_sql("SELECT * FROM config_runs", budgetdb.engine())
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("budgetdb")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"


def connect(db=None, read_only: bool = True):
    """A DuckDB connection to the store (`db`, else $BUDGETDB_DB, else ./budget.duckdb)."""
    from budgetdb.store import open_store

    return open_store(db, read_only=read_only)


def url(db=None) -> str:
    """The SQLAlchemy URL of the store (duckdb-engine), read-only."""
    from budgetdb.store import resolve_db

    return f"duckdb:///{resolve_db(db)}"


def engine(db=None):
    """A read-only SQLAlchemy engine on the store; works with `pandas.read_sql`."""
    from sqlalchemy import create_engine

    from budgetdb.store import open_store

    open_store(db, read_only=True).close()
    return create_engine(url(db), connect_args={"read_only": True, "config": {"enable_progress_bar": False}})
