"""The budgetdb store: one DuckDB file (or DuckLake catalog) holding every ingested result."""

from .connection import DB_ENV, DEFAULT_DB, open_store, resolve_db
from .errors import BudgetdbError

__all__ = ["DB_ENV", "DEFAULT_DB", "BudgetdbError", "open_store", "resolve_db"]
