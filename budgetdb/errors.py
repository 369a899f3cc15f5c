"""Typed errors; the CLI turns each into `Error: <message>` and exit code 1."""


class BudgetdbError(Exception):
    """Base class of every error budgetdb reports to a user."""


class StoreNotFoundError(BudgetdbError):
    pass


class StoreBusyError(BudgetdbError):
    pass


class StoreCorruptError(BudgetdbError):
    """DuckDB found the store file damaged (a block whose checksum does not match, a bad header)."""


class SchemaError(BudgetdbError):
    pass


class ReadOnlyError(BudgetdbError):
    pass


class FileProblem(BudgetdbError):
    """One input file cannot be ingested; the message names the problem, not the file."""


class IngestFailedError(BudgetdbError):
    """--strict: a file failed, the store was left unchanged."""


class StoreConflictError(BudgetdbError):
    """Other writers kept committing conflicting changes to a shared (DuckLake) store."""
