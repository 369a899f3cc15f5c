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


def first_line(exc: BaseException) -> str:
    """An error's first line (DuckDB's messages go on with `LINE 12:` and a pointer): errors are one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
