"""Stores of an older schema, for upgrade tests.

Today's code cannot write an old schema, so `old_store` builds one: the schema from that
version's migrations, and the rows today's ingest of the tree wrote (into a scratch store)
copied over, the columns the old schema lacks left out. The columns an old ingest wrote are the
same values today's writes (every migration since only added columns and views), so this is the
store that version left, except where `change` makes it what the old rules decided (e.g. a
configuration's second file failed, its samples gone).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from budgetdb.store import migrations

from ingest_support import open_rw, run

TABLES = ("file_records", "sample_records", "ingest_runs")


def columns(con, table: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]


def old_store(db: Path, version: int, *trees, change: str | None = None, **options) -> Path:
    """A store at schema `version` holding the ingest of `trees`; `change` is SQL run on it after."""
    scratch = db.with_name(db.stem + ".scratch.duckdb")
    con = open_rw(scratch)
    for tree in trees:
        run(con, tree, **options)
    con.close()
    con = duckdb.connect(str(db))
    try:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)")
        for migration in migrations.available()[:version]:
            con.execute(migration.sql)
            con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [migration.version])
        quoted = str(scratch).replace("'", "''")  # ATTACH takes no bound parameter
        con.execute(f"ATTACH '{quoted}' AS scratch (READ_ONLY)")
        for table in TABLES:
            names = ", ".join(f'"{c}"' for c in columns(con, table))
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM scratch.{table}")
        con.execute("DETACH scratch")
        if change:
            con.execute(change)
    finally:
        con.close()
    scratch.unlink()
    return db
