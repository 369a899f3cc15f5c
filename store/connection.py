"""Where the store is, and the one way budgetdb opens it."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

from . import migrations
from .errors import StoreBusyError, StoreNotFoundError

DEFAULT_DB = "budget.duckdb"
DB_ENV = "BUDGETDB_DB"
_LOCK_HOLDER = re.compile(r"PID (\d+)")


def resolve_db(db: str | os.PathLike | None = None) -> Path:
    """`--db` wins, then $BUDGETDB_DB, then ./budget.duckdb."""
    chosen = db if db not in (None, "") else os.environ.get(DB_ENV) or DEFAULT_DB
    return Path(chosen).expanduser().absolute()


def open_store(db=None, *, read_only: bool = True, wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the store, read-only unless asked; a writer upgrades an older schema first.

    `wait` seconds are spent retrying while another process holds the store.
    """
    path = resolve_db(db)
    if read_only and not path.exists():
        raise StoreNotFoundError(f"no store at {path}; create one with `budgetdb ingest PATH` (or pass --db)")
    con = _connect_waiting(path, read_only, wait)
    try:
        con.execute("SET enable_progress_bar = false")
        if read_only:
            version = migrations.check(con, str(path))
            if version < migrations.latest_version():
                raise migrations.SchemaError(
                    f"{path} has schema version {version}; run `budgetdb ingest` (or any writing command) "
                    f"once to upgrade it to {migrations.latest_version()}"
                )
        else:
            migrations.upgrade(con, str(path))
    except BaseException:
        con.close()
        raise
    return con


def _connect_waiting(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreNotFoundError(f"cannot open store {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                holder = _LOCK_HOLDER.search(str(exc))
                who = f"process {holder.group(1)}" if holder else "another process"
                raise StoreBusyError(
                    f"store {path} is busy: {who} has it open for writing; "
                    f"retry later or pass --wait SECONDS"
                ) from exc
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
