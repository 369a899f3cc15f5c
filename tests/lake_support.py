"""DuckLake stores for the tests: a local catalog file, or a fresh PostgreSQL database on the
test server that `.ci/run` starts (docs/scale.md); and a content digest of the public views to
compare stores across backends.

The server comes from $BUDGETDB_TEST_PG, a libpq string without dbname, e.g.
`host=127.0.0.1 port=55432 user=postgres` (`source .ci/postgres.sh` starts one and sets it).
Only loopback hosts (or a Unix socket folder) are accepted. Without a server the PostgreSQL
tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ENV = "BUDGETDB_TEST_PG"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Lake:
    kind: str  # "local" or "postgres"
    db: str  # the --db string
    data_path: Path

    @property
    def args(self) -> list[str]:
        return ["--db", self.db, "--data-path", str(self.data_path)]


def _conninfo_host(conninfo: str) -> str | None:
    match = re.search(r"(?:^|\s)host\s*=\s*(\S+)", conninfo)
    return match.group(1) if match else None


def server_conninfo() -> str:
    """The test server's libpq string; skip (fail in CI) when there is none or it is unreachable."""
    conninfo = os.environ.get(PG_ENV, "").strip()
    in_ci = os.environ.get("CI", "").lower() == "true"
    miss = pytest.fail if in_ci else pytest.skip
    if not conninfo:
        miss(f"no PostgreSQL for the DuckLake tests: set ${PG_ENV} (source .ci/postgres.sh starts one)")
    host = _conninfo_host(conninfo)
    if host is None or not (host in LOOPBACK or host.startswith("127.") or host.startswith("/")):
        pytest.fail(f"${PG_ENV} must name a loopback host or a socket folder, got host={host!r}")
    problem = _reachable(conninfo)
    if problem:
        miss(f"PostgreSQL at {conninfo!r} is not reachable: {problem}")
    return conninfo


_REACHABLE: dict[str, str | None] = {}


def _reachable(conninfo: str) -> str | None:
    if conninfo not in _REACHABLE:
        try:
            _admin(conninfo, "SELECT 1")
            _REACHABLE[conninfo] = None
        except Exception as exc:  # noqa: BLE001 - any failure means: no server
            _REACHABLE[conninfo] = str(exc).splitlines()[0]
    return _REACHABLE[conninfo]


def _admin(conninfo: str, statement: str) -> None:
    """Run one statement on the server's `postgres` database, outside a transaction."""
    from budgetdb.store import extensions

    con = extensions.offline_connection()
    try:
        extensions.load(con, "postgres_scanner")
        con.execute(f"ATTACH 'dbname=postgres connect_timeout=5 {conninfo}' AS pg_admin (TYPE postgres)")
        con.execute("CALL postgres_execute('pg_admin', $sql, use_transaction := false)", {"sql": statement})
    finally:
        con.close()


def new_postgres_lake(tmp_path: Path, request) -> Lake:
    """A DuckLake on a database of its own, dropped when the test ends."""
    conninfo = server_conninfo()
    name = f"budgetdb_test_{uuid.uuid4().hex[:12]}"
    _admin(conninfo, f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: _admin(conninfo, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return Lake("postgres", f"ducklake:postgres:dbname={name} {conninfo}", tmp_path / "lake_data")


def new_local_lake(tmp_path: Path) -> Lake:
    return Lake("local", f"ducklake:{tmp_path / 'catalog.ducklake'}", tmp_path / "lake_data")


def new_lake(kind: str, tmp_path: Path, request) -> Lake:
    return new_postgres_lake(tmp_path, request) if kind == "postgres" else new_local_lake(tmp_path)


# -- comparing stores --------------------------------------------------------------------------

# per view: the order that makes rows comparable, and the columns that differ between two
# ingests of the same files (when they ran)
VIEW_ORDER = {
    "samples": ("file_id, ordinal", ()),
    "config_runs": ("config_run_id", ()),
    "files": ("file_id", ("ingested_at",)),
}


def view_rows(con, view: str) -> list[tuple]:
    order, skip = VIEW_ORDER[view]
    columns = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall() if row[0] not in skip]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"SELECT {quoted} FROM {view} ORDER BY {order}").fetchall()


def views_digest(con) -> dict[str, tuple[int, str]]:
    """Per public view: (rows, sha256 of every row's repr in a fixed order); NaN-safe."""
    out = {}
    for view in VIEW_ORDER:
        rows = view_rows(con, view)
        digest = hashlib.sha256()
        for row in rows:
            digest.update(repr(row).encode())
        out[view] = (len(rows), digest.hexdigest())
    return out
