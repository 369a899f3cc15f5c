"""The budgetdb store: one DuckDB file (or DuckLake catalog) holding every ingested result."""

from typing import TYPE_CHECKING

from budgetdb.errors import BudgetdbError

if TYPE_CHECKING:  # what __getattr__ gives, for type checkers and IDEs
    from .connection import DATA_PATH_ENV, DB_ENV, DEFAULT_DB, StoreLocation, locate, open_store, opened, resolve_db

_FROM_CONNECTION = ("DATA_PATH_ENV", "DB_ENV", "DEFAULT_DB", "StoreLocation", "locate", "open_store", "opened", "resolve_db")

__all__ = [
    "BudgetdbError",
    "DATA_PATH_ENV",
    "DB_ENV",
    "DEFAULT_DB",
    "StoreLocation",
    "locate",
    "open_store",
    "opened",
    "resolve_db",
]


def __getattr__(name: str):
    # duckdb (~0.1 s to import) loads with the first use of a store, not with `budgetdb --help`
    if name in _FROM_CONNECTION:
        from . import connection

        return getattr(connection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
