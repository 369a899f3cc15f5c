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
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from budgetdb.errors import StoreBusyError, StoreCorruptError, StoreNotFoundError, first_line

from . import extensions, migrations
from .concurrency import retrying
from .duckdb_messages import (
    is_already_exists,
    is_corrupt,
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
_SECRET = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"']+)", re.I)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# The first bytes of a file: DuckDB's main header has its magic at bytes 8-11.
_DUCKDB_MAGIC = (8, b"DUCK")
_SQLITE_MAGIC = b"SQLite format 3\0"

# Every connection: no extension is installed or auto-loaded behind our back (a SQLite file or
# a URL as --db would make DuckDB download one), and no Python variable of the caller's frame is
# read as a table (which also costs a pandas import per unknown name).
_BASE_CONFIG = {**extensions.OFFLINE, "python_enable_replacements": False}
# Reading connections (every command but ingest, and budgetdb.connect()'s default): no file is
# read or written but the store's own (DuckDB's enable_external_access), no setting changes
# (lock_configuration; the progress bar is turned off after connecting, so it stays allowed).
# (A PIVOT that finds its own columns sets current_transaction_invalidation_policy as it runs.)
_ALLOWED_CONFIGS = ["enable_progress_bar", "current_transaction_invalidation_policy"]
_LOCKED_CONFIG = {"lock_configuration": True, "allowed_configs": _ALLOWED_CONFIGS}
# A reader allowed to read local files could load an installed extension or install one: point
# DuckDB at an extension folder and repository that do not exist (and no community ones).
_NO_EXTENSIONS = {
    "extension_directory": "/nonexistent/budgetdb-loads-no-extensions",
    "custom_extension_repository": "/nonexistent/budgetdb-installs-no-extensions",
    "allow_community_extensions": False,
}


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
        return masked(self.attach_target)

    def __str__(self) -> str:
        return self.label


def masked(text: str) -> str:
    """`text` with any `password=...` of a libpq string masked (DuckDB's messages repeat it)."""
    return _SECRET.sub(r"\1***", text)


def locate(db: str | os.PathLike | StoreLocation | None = None, data_path: str | os.PathLike | None = None) -> StoreLocation:
    """`--db` wins, then $BUDGETDB_DB, then ./budget.duckdb; `--data-path`, then $BUDGETDB_DATA_PATH."""
    if isinstance(db, StoreLocation):
        return db
    chosen = str(db) if db not in (None, "") else os.environ.get(DB_ENV) or DEFAULT_DB
    if _URL.match(chosen):
        raise StoreNotFoundError(
            f"--db {chosen}: a store is a local DuckDB file or a DuckLake (ducklake:...); budgetdb never opens a URL"
        )
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


def open_store(
    db=None,
    *,
    read_only: bool = True,
    wait: float = 0.0,
    data_path=None,
    allow_local_files: bool = False,
    output_dir: str | os.PathLike | None = None,
    lake_snapshot: int | None = None,
    against: StoreLocation | None = None,
    against_snapshot: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the store, read-only unless asked; a writer upgrades an older schema first.

    `wait` seconds are spent retrying while another process holds the store (a DuckDB file, or a
    DuckLake's local catalog file; a PostgreSQL catalog takes many writers at once).

    A read-only connection reads the store and nothing else: DuckDB's `enable_external_access`
    is off (no other file, no URL; a DuckLake's data folder stays readable), and its settings
    are locked. `allow_local_files` lets it read (never write: the SQL check refuses COPY) any
    local file; `output_dir` lets DuckDB write below that one folder (export). The writer
    (ingest) reads result files, so only extension downloads are off for it.

    `lake_snapshot`: a DuckLake as it was at that snapshot (DuckLake's time travel, read-only).
    `against`: a second store (or the same one again) attached read-only as the catalog `against`,
    at `against_snapshot` for a DuckLake (budgetdb compare's candidate side: attach_against).
    """
    location = locate(db, data_path)
    if read_only and location.path is not None and not location.path.exists():
        raise StoreNotFoundError(_no_store(location))
    _check_snapshot(location, lake_snapshot, "--snapshot")
    if against is not None:
        _check_snapshot(against, against_snapshot, "--against-snapshot")
    access = _Access(
        read_only,
        allow_local_files,
        _folder(output_dir) if output_dir is not None else None,
        against is not None,
        lake_snapshot,
    )
    con = _connect_waiting(location, access, wait)
    try:
        con.execute("SET enable_progress_bar = false")
        if location.is_lake:
            con.execute("SET python_enable_replacements = false")
        if against is not None:
            attach_against(con, against, against_snapshot)
        if read_only and (location.is_lake or access.output_dir is not None or against is not None):
            _restrict(con, location, access, against)
        if read_only:
            version = migrations.check(con, location.label)
            if version == 0:
                version = _made_meanwhile(con, location)
            if version < migrations.latest_version():
                raise migrations.SchemaError(
                    f"{location.label} has schema version {version}; run `budgetdb ingest` (or any writing command) "
                    f"once to upgrade it to {migrations.latest_version()}"
                )
        else:
            version, empty = migrations.schema_state(con)
            if version == 0 and not empty:
                raise StoreNotFoundError(_foreign(location))
            # several writers may open a new lake at once: the losers re-check and find it done
            retrying(con, lambda: _upgrade(con, location.label), what=f"upgrading {location.label}")
    except duckdb.Error as exc:
        con.close()
        if is_corrupt(exc):
            raise StoreCorruptError(corrupt_message(location, exc)) from exc
        raise
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def opened(db=None, **options) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with opened(db, read_only=..., ...) as con:` open_store(db, **options), closed afterwards.

    A damaged block DuckDB meets while the block runs (corruption shows only when a query
    reads it) becomes a StoreCorruptError naming the store, whatever error wrapped it.
    """
    con = open_store(db, **options)
    try:
        yield con
    except Exception as exc:
        if is_corrupt(exc) and not isinstance(exc, StoreCorruptError):
            raise StoreCorruptError(corrupt_message(locate(db, options.get("data_path")), exc)) from exc
        raise
    finally:
        con.close()


@contextmanager
def corrupt_on_close(con: duckdb.DuckDBPyConnection, db=None, data_path=None) -> Iterator[duckdb.DuckDBPyConnection]:
    """`opened` for a connection opened another way (with a second store attached): closed afterwards,
    a damaged block met inside the block a StoreCorruptError naming the store."""
    try:
        yield con
    except Exception as exc:
        if is_corrupt(exc) and not isinstance(exc, StoreCorruptError):
            raise StoreCorruptError(corrupt_message(locate(db, data_path), exc)) from exc
        raise
    finally:
        con.close()


def corrupt_message(location: StoreLocation | str, exc: BaseException) -> str:
    """One line for a store DuckDB found damaged, naming the file and what DuckDB said."""
    for cause in _causes(exc):
        if is_corrupt(cause):
            exc = cause
            break
    label = location.label if isinstance(location, StoreLocation) else location
    return (
        f"store {label} is corrupt ({first_line(exc)}); nothing was changed. Restore it from a backup, "
        "or ingest the results again into a new store (--db NEW_FILE)"
    )


def _causes(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


@dataclass(frozen=True)
class _Access:
    read_only: bool
    local_files: bool = False
    output_dir: str | None = None  # with a trailing separator: DuckDB's allowed_directories match prefixes
    against: bool = False  # a second store is attached after connecting
    snapshot_version: int | None = None  # a DuckLake's snapshot to attach

    def config(self) -> dict:
        """The settings given at connect time. A reader is locked here unless a folder must be
        allowed first (DuckDB takes allowed_directories only once the database runs) or another
        store attached: _restrict()."""
        if not self.read_only or self.output_dir is not None or self.against:
            return dict(_BASE_CONFIG)
        if self.local_files:
            return {**_BASE_CONFIG, **_NO_EXTENSIONS, **_LOCKED_CONFIG}
        return {**_BASE_CONFIG, **_LOCKED_CONFIG, "enable_external_access": False}


def _folder(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().absolute()).rstrip(os.sep) + os.sep


def _restrict(
    con: duckdb.DuckDBPyConnection, location: StoreLocation, access: _Access, against: StoreLocation | None = None
) -> None:
    """A reader not locked at connect time (a DuckLake, attached to an in-memory database
    first; an export; a second store attached): allow its folders, then the same limits as any reader."""
    folders = []
    lakes = ([LAKE_ALIAS] if location.is_lake else []) + (["against"] if against is not None and against.is_lake else [])
    for alias in lakes:  # the lakes' Parquet files
        folders += [row[0] for row in con.execute(f"SELECT data_path FROM ducklake_settings('{alias}')").fetchall()]
    if access.output_dir is not None:
        folders.append(access.output_dir)
    folders = [folder for folder in folders if folder]
    if folders:
        con.execute("SET allowed_directories = $folders", {"folders": folders})
    if access.local_files:
        for name, value in _NO_EXTENSIONS.items():
            con.execute(f"SET {name} = $value", {"value": value})
    else:
        con.execute("SET enable_external_access = false")
    con.execute("SET allowed_configs = $names", {"names": _ALLOWED_CONFIGS})
    con.execute("SET lock_configuration = true")


def _made_meanwhile(con: duckdb.DuckDBPyConnection, location: StoreLocation) -> int:
    """Schema version 0 when first read: the version a writer committed since, if one did (read
    in one snapshot with the tables). Else a store whose first ingest was stopped before it created
    the schema is a store not made yet; any other DuckDB database is not budgetdb's."""
    version, empty = migrations.schema_state(con)
    if version > 0:
        return migrations.check(con, location.label)
    if empty:
        raise StoreNotFoundError(_no_store(location))
    raise StoreNotFoundError(_foreign(location))


def _no_store(location: StoreLocation) -> str:
    return f"no store at {location.label}; create one with `budgetdb ingest PATH` (or pass --db)"


def _foreign(location: StoreLocation) -> str:
    return (
        f"{location.label} is a DuckDB database that budgetdb did not create (it has tables but no schema_version); "
        "pass --db a new file or an existing budgetdb store"
    )


def _upgrade(con: duckdb.DuckDBPyConnection, label: str) -> int:
    """Writers opening a new lake at once all upgrade it: a rival's committed tables show up
    inside our transaction ("already exists": look again) or make our COMMIT conflict (retried)."""
    try:
        return migrations.upgrade(con, label)
    except migrations.SchemaError as exc:
        if isinstance(exc.__cause__, duckdb.CatalogException) and is_already_exists(exc.__cause__):
            return migrations.upgrade(con, label)
        raise


def _connect_waiting(location: StoreLocation, access: _Access, wait: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait
    delay = 0.05
    races = 0
    while True:
        try:
            return _connect(location, access)
        except _CreationRace as exc:
            # writers that meet a PostgreSQL catalog before it holds a lake all try to create it;
            # one wins, the others attach to the lake it made
            races += 1
            if races > 8:
                raise StoreNotFoundError(
                    f"cannot open store {location.label}: {masked(first_line(exc.__cause__ or exc))}"
                ) from exc
            time.sleep(random.uniform(0.05, 0.1 * 2**races))
        except duckdb.IOException as exc:
            if is_corrupt(exc):
                if location.path is not None and _empty_file(location.path):
                    raise StoreNotFoundError(
                        f"{location.label} is an empty file, not a DuckDB store; remove it or pass another --db"
                    ) from exc
                raise StoreCorruptError(corrupt_message(location, exc)) from exc
            if not is_lock_held(exc):
                raise StoreNotFoundError(f"cannot open store {location.label}: {masked(first_line(exc))}") from exc
            if time.monotonic() >= deadline:
                # a reader only conflicts with a writer; a writer with any other process
                doing = "is writing to it" if access.read_only else "has it open"
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


def _connect(location: StoreLocation, access: _Access) -> duckdb.DuckDBPyConnection:
    if location.kind == "duckdb" and access.against:
        # beside a second store: both attached to an in-memory database (a file opened directly
        # would refuse to open again in this process while budgetdb.connect() holds it with other settings)
        assert location.path is not None
        _check_store_file(location)
        con = extensions.offline_connection()
        try:
            con.execute(f"ATTACH {_quote(str(location.path))} AS {BASELINE_ALIAS} (READ_ONLY)")
            con.execute(f"USE {BASELINE_ALIAS}")
        except BaseException:
            con.close()
            raise
        return con
    if location.kind == "duckdb":
        assert location.path is not None  # a DuckDB store is always a file
        _check_store_file(location)
        try:
            if not access.read_only:
                location.path.parent.mkdir(parents=True, exist_ok=True)
            return duckdb.connect(str(location.path), read_only=access.read_only, config=access.config())
        except OSError as exc:
            raise StoreNotFoundError(f"cannot create store {location.label}: {exc.strerror or exc}") from exc
        except duckdb.ConnectionException as exc:
            if not is_other_open_mode(exc):
                raise
            raise StoreBusyError(
                f"store {location.label} is already open in this process with other settings (read-write beside "
                "read-only, or other file access); use that connection (its .cursor() in another thread) or close it first"
            ) from exc
    if not access.read_only and location.path is not None:
        try:
            location.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreNotFoundError(f"cannot create store {location.label}: {exc.strerror or exc}") from exc
    con = extensions.offline_connection()
    try:
        _attach_lake(con, location, access.read_only, access.snapshot_version)
    except duckdb.Error as exc:
        con.close()
        if is_lake_creation_race(exc):
            raise _CreationRace() from exc
        if is_lake_missing(exc):  # read-only, and no lake there yet
            raise StoreNotFoundError(_no_store(location)) from exc
        if isinstance(exc, duckdb.IOException):
            raise  # a held lock is waited for by the caller
        raise StoreNotFoundError(f"cannot open store {location.label}: {masked(first_line(exc))}") from exc
    except BaseException:
        con.close()
        raise
    return con


def _check_store_file(location: StoreLocation) -> None:
    """Refuse what DuckDB must not be handed: a folder, a device or FIFO (it would read it), a
    file of another database (a SQLite file makes DuckDB look for its sqlite extension)."""
    path = location.path
    assert path is not None
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return  # a new store
    except OSError as exc:
        raise StoreNotFoundError(f"cannot open store {location.label}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise StoreNotFoundError(f"--db {location.label} is {kind}; a store is a DuckDB file (e.g. budget.duckdb)")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise StoreNotFoundError(f"cannot open store {location.label}: {exc.strerror or exc}") from exc
    if not head:
        return  # being created by another process right now, or an empty file: DuckDB's lock or error decides
    if head.startswith(_SQLITE_MAGIC):
        raise StoreNotFoundError(
            f"{location.label} is a SQLite database, not a budgetdb store (a DuckDB file); pass another --db"
        )
    at, magic = _DUCKDB_MAGIC
    if head[at : at + len(magic)] != magic:
        raise StoreNotFoundError(
            f"{location.label} is not a DuckDB database file (no DuckDB header); "
            "pass another --db, or restore the store from a backup"
        )


def _empty_file(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _attach_lake(
    con: duckdb.DuckDBPyConnection,
    location: StoreLocation,
    read_only: bool,
    snapshot_version: int | None = None,
    alias: str = LAKE_ALIAS,
) -> None:
    """Load the extensions from their package files, attach the lake (at `snapshot_version`) as `alias`
    (a constant of budgetdb's) and make it the default when it is the store."""
    extensions.load(con, "ducklake")
    if location.on_postgres:
        extensions.load(con, "postgres_scanner")
    if location.data_path and "://" in location.data_path:  # object storage: docs/scale.md
        extensions.load(con, "httpfs")
        extensions.load(con, "aws")
    options = _attach_options(location, read_only, snapshot_version)
    con.execute(f"ATTACH {_quote(location.attach_target)} AS {alias}" + (f" ({options})" if options else ""))
    if alias == LAKE_ALIAS:
        con.execute(f"USE {LAKE_ALIAS}")


class _CreationRace(Exception):
    """Another writer was creating the same DuckLake at the same moment."""


def _check_snapshot(location: StoreLocation, version: int | None, option: str) -> None:
    if version is None:
        return
    if not location.is_lake:
        raise StoreNotFoundError(
            f"{option} {version}: {location.label} is a DuckDB file; snapshots are a DuckLake's (docs/scale.md)"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise StoreNotFoundError(f"{option} must be a snapshot id (an integer >= 0), got {version!r}")


def _attach_options(location: StoreLocation, read_only: bool, snapshot_version: int | None = None) -> str:
    options = []
    if location.data_path:
        options.append(f"DATA_PATH {_quote(location.data_path)}")
        if read_only:
            # a reader may see the shared folder under another mount point than the writers
            options.append("OVERRIDE_DATA_PATH true")
    if read_only:
        options.append("READ_ONLY")
        if snapshot_version is not None:  # an int (checked): DuckLake's time travel
            options.append(f"SNAPSHOT_VERSION {int(snapshot_version)}")
    else:
        # inlined rows (small inserts kept in the catalog) come back with nested doubles off by
        # one ulp (DuckLake 1.5.5); every insert goes to Parquet, so the store stays lossless
        options.append("DATA_INLINING_ROW_LIMIT 0")
    return ", ".join(options)


def _quote(text: str) -> str:
    """A SQL string literal: ATTACH takes no bound parameters."""
    return "'" + text.replace("'", "''") + "'"


# -- the second store of a comparison ----------------------------------------------------------
# `budgetdb compare` (and `budgetdb query run` of a compare_* query) reads its baseline side from
# the store (the default catalog) and its candidate side from the catalog `against`: another DuckDB
# file, a DuckLake (at a snapshot: DuckLake's time travel), or the same store attached a second
# time (two sides of one store: --hardware h100 --against-hardware a100). Read-only either way; the
# path goes into the ATTACH statement as one quoted literal (ATTACH takes no bound parameters).

AGAINST_ALIAS = "against"
BASELINE_ALIAS = "baseline"  # a DuckDB file store's catalog when a second store is attached beside it


def attach_against(con: duckdb.DuckDBPyConnection, location: StoreLocation, snapshot_version: int | None = None) -> None:
    """Attach `location` read-only as `against`, checking its schema as opening it would."""
    if location.path is not None and not location.path.exists():
        raise StoreNotFoundError(f"no store at {location.label} (--against-db); create one with `budgetdb ingest PATH`")
    if location.is_lake:
        _attach_lake(con, location, True, snapshot_version, alias=AGAINST_ALIAS)
    else:
        _check_store_file(location)
        con.execute(f"ATTACH {_quote(str(location.path))} AS {AGAINST_ALIAS} (READ_ONLY)")
    home = con.execute("SELECT current_database()").fetchone()
    assert home is not None
    con.execute(f"USE {AGAINST_ALIAS}")
    try:
        version = migrations.check(con, location.label)
        if version == 0:
            raise StoreNotFoundError(f"{location.label} (--against-db) is not a budgetdb store; pass another one")
        if version < migrations.latest_version():
            raise migrations.SchemaError(
                f"{location.label} has schema version {version}; run `budgetdb ingest` (or any writing command) "
                f"once to upgrade it to {migrations.latest_version()}"
            )
    finally:
        con.execute(f"USE {_identifier(home[0])}")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
