"""The budgetdb store: one DuckDB file (or DuckLake catalog) holding every ingested result."""

from .connection import DATA_PATH_ENV, DB_ENV, DEFAULT_DB, StoreLocation, locate, open_store, resolve_db
from .errors import BudgetdbError

__all__ = ["DATA_PATH_ENV", "DB_ENV", "DEFAULT_DB", "BudgetdbError", "StoreLocation", "locate", "open_store", "resolve_db"]
