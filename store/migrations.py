"""Plain-SQL schema migrations: `migrations/NNNN_name.sql`, applied in order, in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

from budgetdb.errors import SchemaError

from . import column_docs
from .duckdb_messages import is_interrupted
from .transaction import atomic, scalar, snapshot

if TYPE_CHECKING:
    import duckdb

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("budgetdb.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"migration files are not numbered 1..n: {versions}")
    return found


def latest_version() -> int:
    return available()[-1].version


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_version' AND table_schema = current_schema() "
        "AND table_catalog = current_database()",
    )
    if not exists:
        return 0
    return scalar(con, "SELECT max(version) FROM schema_version") or 0


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    """No table or view in the store's schema: a new store, or one whose first ingest was
    stopped before its schema was committed."""
    found = scalar(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_catalog = current_database()",
    )
    return found == 0


def schema_state(con: duckdb.DuckDBPyConnection) -> tuple[int, bool]:
    """The schema version and whether the store holds no table, read in one snapshot: a rival
    creating the store commits every table at once, but between two separate reads ("no
    schema_version", then "tables") it would look like a database budgetdb did not create."""
    with snapshot(con):
        return current_version(con), is_empty(con)


def check(con: duckdb.DuckDBPyConnection, db_label: str) -> int:
    """Return the store's version, refusing a store written by a newer budgetdb."""
    version = current_version(con)
    if version > latest_version():
        raise SchemaError(
            f"{db_label} has schema version {version}, newer than this budgetdb understands "
            f"({latest_version()}); upgrade budgetdb to open it"
        )
    return version


def _is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    kind = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return kind is not None and kind[0] == "ducklake"


def upgrade(con: duckdb.DuckDBPyConnection, db_label: str) -> int:
    """Apply every missing migration in one transaction; return the new version."""
    version = check(con, db_label)
    pending = [m for m in available() if m.version > version]
    if not pending:
        return version
    try:
        with atomic(con):
            if version == 0:
                con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)")
            for migration in pending:
                con.execute(migration.sql)
                con.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    [migration.version, datetime.now(UTC).replace(tzinfo=None)],
                )
            # a migration that replaces a view drops its comments: every upgrade writes them all again
            column_docs.apply(con, lake=_is_lake(con))
    except Exception as exc:
        if is_interrupted(exc):
            raise
        raise SchemaError(f"upgrading {db_label} to schema {pending[-1].version} failed: {exc}") from exc
    return pending[-1].version
