"""Every decision budgetdb takes on the text of a DuckDB error, in one place.

DuckDB's Python client raises few distinct exception types (an IO error is a held lock, a
missing file or a corrupt one alike), so some decisions can only read the message. Each
predicate here names the message it reads; tests/test_duckdb_messages.py holds one real
DuckDB error per predicate, so a DuckDB upgrade that rewords one fails there first.
"""

from __future__ import annotations

import re

from budgetdb.errors import first_line

# -- another writer committed first (DuckLake's optimistic concurrency) -------------------------

_CONFLICT_TEXT = ("transaction conflict", "conflict on", "write-write conflict", "failed to commit ducklake transaction")


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_conflict(exc: BaseException | None) -> bool:
    """Did another writer's commit make this one fail (anywhere in the exception's chain)?"""
    import duckdb

    return any(isinstance(e, duckdb.Error) and any(text in str(e).lower() for text in _CONFLICT_TEXT) for e in _chain(exc))


def conflict_line(exc: BaseException | None) -> str:
    """The line of the chain's conflict error that says what conflicted."""
    for e in _chain(exc):
        for line in str(e).splitlines():
            if "conflict" in line.lower() and line.strip():
                return line.strip()
    return "unknown"


# -- opening a store -----------------------------------------------------------------------------

_LOCK_HOLDER = re.compile(r"PID (\d+)")


_LOCK_TEXT = ("could not set lock on file", "conflicting lock is held")


def is_lock_held(exc: BaseException) -> bool:
    """An IO error opening a DuckDB file because another process holds its lock:
    `Could not set lock on file "...": Conflicting lock is held in ... (PID 123)`.

    Not any message with "lock" in it: a corrupt store's `... in block at location ...` is no lock.
    """
    text = str(exc).lower()
    return any(part in text for part in _LOCK_TEXT)


def lock_holder_pid(exc: BaseException) -> int | None:
    """The process a lock error names (`... (PID 123) ...`)."""
    match = _LOCK_HOLDER.search(str(exc))
    return int(match.group(1)) if match else None


def is_other_open_mode(exc: BaseException) -> bool:
    """The same file is already open in this process, read-only beside read-write or the reverse."""
    return "different configuration" in str(exc)


def is_corrupt(exc: BaseException | None) -> bool:
    """DuckDB found a damaged store file (anywhere in the exception's chain): a block whose
    checksum does not match (`Corrupt database file: computed checksum ... in block at location
    ...`), or a header it cannot read (`... exists, but it is not a valid DuckDB database file!`)."""
    return any(
        "corrupt database file" in str(e).lower() or "not a valid duckdb database file" in str(e).lower() for e in _chain(exc)
    )


def is_already_exists(exc: BaseException | None) -> bool:
    """A catalog entry a rival writer committed meanwhile (creating a new lake at once)."""
    return exc is not None and "already exists" in str(exc)


def is_lake_creation_race(exc: BaseException) -> bool:
    """Two writers created the same DuckLake catalog at once; the loser attaches to the winner's."""
    text = str(exc).lower()
    return "failed to initialize ducklake" in text and ("already exists" in text or "duplicate key" in text)


def is_lake_missing(exc: BaseException) -> bool:
    """Attaching read-only where no DuckLake exists yet."""
    return "creating a new ducklake is explicitly disabled" in str(exc).lower()


# -- the disk under a store ------------------------------------------------------------------

# what the operating system's messages for these errors say (strerror), as DuckDB passes them on
_DISK_TEXT = (
    "no space left on device",
    "disk quota exceeded",
    "permission denied",
    "read-only file system",
    "input/output error",
)


def disk_problem(exc: BaseException | None) -> str | None:
    """The first line, anywhere in the exception's chain, of a DuckDB error that a file could
    not be written or opened for a reason of the disk (full, quota, permissions, read-only,
    I/O), e.g. `IO Error: Could not write file "x.wal": No space left on device`; else None."""
    import duckdb

    for e in _chain(exc):
        if isinstance(e, duckdb.Error) and any(text in str(e).lower() for text in _DISK_TEXT):
            return first_line(e)
    return None


# -- interrupts ----------------------------------------------------------------------------------


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C: KeyboardInterrupt, or during a DuckDB query the client's RuntimeError('Query
    interrupted'). Not an InterruptException: that is `con.interrupt()` from another thread,
    which is how a time limit stops a query (queries/limits.py)."""
    return isinstance(exc, KeyboardInterrupt) or (isinstance(exc, RuntimeError) and str(exc) == "Query interrupted")


def is_interrupted(exc: BaseException) -> bool:
    """A query someone stopped, by Ctrl-C or `con.interrupt()`: no file's fault, never retried."""
    import duckdb

    return is_interrupt(exc) or isinstance(exc, duckdb.InterruptException)


# -- loading a result file -----------------------------------------------------------------------

_ERROR_NOISE = re.compile(
    r'^(?:Invalid Input|Conversion|IO|Out of Range|Binder) Error: |\s*in file "[^"]*",?|\s*in record/value \d+'
)
_NOT_AN_OBJECT = re.compile(r"JSON transform error.*Expected OBJECT, but got (\w+)")


def load_error(exc: BaseException, path: str | None = None) -> str:
    """What a failed load of a result file says, without DuckDB's category and the file name
    the caller prints anyway."""
    text = first_line(exc)
    not_object = _NOT_AN_OBJECT.search(text)
    if not_object:  # the one JSON transform at load time reads per_sample_results as objects
        return f"per_sample_results: every element must be an object, found {not_object.group(1).lower()}"
    text = _ERROR_NOISE.sub("", text).strip()
    return text.removeprefix(f"{path}: ") if path else text
