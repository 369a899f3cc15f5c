"""Where the store is, and the one way budgetdb opens it.

A store is a DuckDB file (`budget.duckdb`) or a DuckLake: a catalog (`ducklake:PATH.ducklake`,
a local DuckDB file, or `ducklake:postgres:dbname=... host=...`, shared by a team) plus a folder
of Parquet files (`--data-path`). A DuckLake is attached to an in-memory DuckDB connection and
made the default database, so every other module runs the same SQL on both.
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from budgetdb.errors import StoreBusyError, StoreNotFoundError

from . import extensions, migrations
from .concurrency import retrying
from .duckdb_messages import (
    first_line,
    is_already_exists,
    is_lake_creation_race,
    is_lake_missing,
    is_lock_held,
    is_other_open_mode,
    lock_holder_pid,
)

DEFAULT_DB = "budget.duckdb"
DB_ENV = "BUDGETDB_DB"
DATA_PATH_ENV = "BUDGETDB_DATA_PATH"
LAKE_PREFIX = "ducklake:"
POSTGRES_PREFIX = "postgres:"
LAKE_ALIAS = "budget_lake"
_SECRET = re.compile(r"(password\s*=\s*)(\S+)", re.I)


@dataclass(frozen=True)
class StoreLocation:
    """A parsed `--db`: a DuckDB file, or a DuckLake catalog with its Parquet data path."""

    kind: str  # "duckdb" or "ducklake"
    path: Path | None  # the DuckDB file, or the DuckLake catalog file; None for a PostgreSQL catalog
    catalog: str | None = None  # DuckLake: what follows `ducklake:` (a file path, or `postgres:<libpq string>`)
    data_path: str | None = None  # DuckLake: where the Parquet files go (a folder or an s3:// prefix)

    @property
    def is_lake(self) -> bool:
        return self.kind == "ducklake"

    @property
    def on_postgres(self) -> bool:
        return self.catalog is not None and self.catalog.startswith(POSTGRES_PREFIX)

    @property
    def attach_target(self) -> str:
        return LAKE_PREFIX + (self.catalog or "")

    @property
    def label(self) -> str:
        """For people: the file path, or the DuckLake string (any password masked)."""
        if not self.is_lake:
            return str(self.path)
        return _SECRET.sub(r"\1***", self.attach_target)

    def __str__(self) -> str:
        return self.label


def locate(db: str | os.PathLike | StoreLocation | None = None, data_path: str | os.PathLike | None = None) -> StoreLocation:
    """`--db` wins, then $BUDGETDB_DB, then ./budget.duckdb; `--data-path`, then $BUDGETDB_DATA_PATH."""
    if isinstance(db, StoreLocation):
        return db
    chosen = str(db) if db not in (None, "") else os.environ.get(DB_ENV) or DEFAULT_DB
    if not chosen.startswith(LAKE_PREFIX):
        return StoreLocation("duckdb", Path(chosen).expanduser().absolute())
    data = str(data_path) if data_path not in (None, "") else os.environ.get(DATA_PATH_ENV) or None
    if data and "://" not in data:
        data = str(Path(data).expanduser().absolute())
    catalog = chosen[len(LAKE_PREFIX) :]
    if catalog.startswith(POSTGRES_PREFIX):
        if not catalog[len(POSTGRES_PREFIX) :].strip():
            raise StoreNotFoundError(
                "--db ducklake:postgres: needs a connection string, e.g. "
                "'ducklake:postgres:dbname=budgets host=db.lab port=5432 user=me'"
            )
        return StoreLocation("ducklake", None, catalog, data)
    if not catalog.strip():
        raise StoreNotFoundError("--db ducklake: needs a catalog: ducklake:PATH.ducklake or ducklake:postgres:dbname=...")
    path = Path(catalog).expanduser().absolute()
    return StoreLocation("ducklake", path, str(path), data)


def resolve_db(db: str | os.PathLike | StoreLocation | None = None) -> Path:
    """The store's file: the DuckDB file, or a DuckLake's local catalog file.

    Only for stores that are files; `locate()` describes every kind.
    """
    location = locate(db)
    if location.path is None:
        raise StoreNotFoundError(f"{location.label} is a DuckLake with a PostgreSQL catalog, not a file")
    return location.path


def open_store(db=None, *, read_only: bool = True, wait: float = 0.0, data_path=None) -> duckdb.DuckDBPyConnection:
    """Open the store, read-only unless asked; a writer upgrades an older schema first.

    `wait` seconds are spent retrying while another process holds the store (a DuckDB file, or a
    DuckLake's local catalog file; a PostgreSQL catalog takes many writers at once).
    """
    location = locate(db, data_path)
    if read_only and location.path is not None and not location.path.exists():
        raise StoreNotFoundError(f"no store at {location.label}; create one with `budgetdb ingest PATH` (or pass --db)")
    con = _connect_waiting(location, read_only, wait)
    try:
        con.execute("SET enable_progress_bar = false")
        # the store's tables only: never Python variables of the caller's frame (which also
        # costs a pandas import per unknown name)
        con.execute("SET python_enable_replacements = false")
        if read_only:
            version = migrations.check(con, location.label)
            if version < migrations.latest_version():
                raise migrations.SchemaError(
                    f"{location.label} has schema version {version}; run `budgetdb ingest` (or any writing command) "
                    f"once to upgrade it to {migrations.latest_version()}"
                )
        else:
            # several writers may open a new lake at once: the losers re-check and find it done
            retrying(con, lambda: _upgrade(con, location.label), what=f"upgrading {location.label}")
    except BaseException:
        con.close()
        raise
    return con


def _upgrade(con, label: str) -> int:
    """Writers opening a new lake at once all upgrade it: a rival's committed tables show up
    inside our transaction ("already exists": look again) or make our COMMIT conflict (retried)."""
    try:
        return migrations.upgrade(con, label)
    except migrations.SchemaError as exc:
        if isinstance(exc.__cause__, duckdb.CatalogException) and is_already_exists(exc.__cause__):
            return migrations.upgrade(con, label)
        raise


def _connect_waiting(location: StoreLocation, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait
    delay = 0.05
    races = 0
    while True:
        try:
            return _connect(location, read_only)
        except _CreationRace as exc:
            # writers that meet a PostgreSQL catalog before it holds a lake all try to create it;
            # one wins, the others attach to the lake it made
            races += 1
            if races > 8:
                raise StoreNotFoundError(f"cannot open store {location.label}: {first_line(exc.__cause__ or exc)}") from exc
            time.sleep(random.uniform(0.05, 0.1 * 2**races))
        except duckdb.IOException as exc:
            if not is_lock_held(exc):
                raise StoreNotFoundError(f"cannot open store {location.label}: {first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                # a reader only conflicts with a writer; a writer with any other process
                doing = "is writing to it" if read_only else "has it open"
                raise StoreBusyError(
                    f"store {location.label} is busy: {_lock_holder(exc)} {doing}; retry later or pass --wait SECONDS"
                ) from exc
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)


def _lock_holder(exc: Exception) -> str:
    """The process DuckDB's lock error names (`... (PID 123) ...`), with its command where /proc tells it."""
    pid = lock_holder_pid(exc)
    if pid is None:
        return "another process"
    try:
        args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        args = []
    if len(args) > 1 and Path(args[1]).name == "budgetdb":
        args = ["budgetdb", *args[2:]]  # the console script: drop the interpreter
    command = " ".join(" ".join(args).split())
    if len(command) > 100:
        command = command[:97] + "..."
    return f"process {pid} ({command})" if command else f"process {pid}"


def _connect(location: StoreLocation, read_only: bool) -> duckdb.DuckDBPyConnection:
    if location.kind == "duckdb":
        assert location.path is not None  # a DuckDB store is always a file
        if not read_only:
            location.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(str(location.path), read_only=read_only)
        except duckdb.ConnectionException as exc:
            if not is_other_open_mode(exc):
                raise
            held = "read-write" if read_only else "read-only"
            raise StoreBusyError(
                f"store {location.label} is already open {held} in this process; use that "
                f"connection (its .cursor() in another thread) or close it first"
            ) from exc
    if not read_only and location.path is not None:
        location.path.parent.mkdir(parents=True, exist_ok=True)
    con = extensions.offline_connection()
    try:
        _attach_lake(con, location, read_only)
    except duckdb.Error as exc:
        con.close()
        if is_lake_creation_race(exc):
            raise _CreationRace() from exc
        if is_lake_missing(exc):  # read-only, and no lake there yet
            raise StoreNotFoundError(
                f"no store at {location.label}; create one with `budgetdb ingest PATH` (or pass --db)"
            ) from exc
        if isinstance(exc, duckdb.IOException):
            raise  # a held lock is waited for by the caller
        raise StoreNotFoundError(f"cannot open store {location.label}: {first_line(exc)}") from exc
    except BaseException:
        con.close()
        raise
    return con


def _attach_lake(con, location: StoreLocation, read_only: bool) -> None:
    """Load the extensions from their package files, attach the lake and make it the default."""
    extensions.load(con, "ducklake")
    if location.on_postgres:
        extensions.load(con, "postgres_scanner")
    if location.data_path and "://" in location.data_path:  # object storage: docs/scale.md
        extensions.load(con, "httpfs")
        extensions.load(con, "aws")
    options = _attach_options(location, read_only)
    con.execute(f"ATTACH {_quote(location.attach_target)} AS {LAKE_ALIAS}" + (f" ({options})" if options else ""))
    con.execute(f"USE {LAKE_ALIAS}")


class _CreationRace(Exception):
    """Another writer was creating the same DuckLake at the same moment."""


def _attach_options(location: StoreLocation, read_only: bool) -> str:
    options = []
    if location.data_path:
        options.append(f"DATA_PATH {_quote(location.data_path)}")
        if read_only:
            # a reader may see the shared folder under another mount point than the writers
            options.append("OVERRIDE_DATA_PATH true")
    if read_only:
        options.append("READ_ONLY")
    else:
        # inlined rows (small inserts kept in the catalog) come back with nested doubles off by
        # one ulp (DuckLake 1.5.5); every insert goes to Parquet, so the store stays lossless
        options.append("DATA_INLINING_ROW_LIMIT 0")
    return ", ".join(options)


def _quote(text: str) -> str:
    """A SQL string literal: ATTACH takes no bound parameters."""
    return "'" + text.replace("'", "''") + "'"
