"""Keeping a long write's memory flat.

DuckDB keeps every block it has written cached until memory runs short, so over an ingest of
many batches the process grows by the size of the store (docs/performance.md). The blocks are
on disk: lowering the memory limit for a moment evicts them.
"""

from __future__ import annotations

from functools import cache

import duckdb

from .duckdb_messages import is_interrupted


class WrittenBlocks:
    """`release()` evicts the blocks written so far, for a DuckDB file under the default memory
    limit only: a limit someone set is theirs (and bounds memory already); a DuckLake is left
    alone (its connection is in memory: what it evicts would be spilled to a folder, not dropped).

    The limit is put back with SET: DuckDB 1.5.5's RESET shows the default again but leaves the
    buffer pool at the lowered limit. SET takes the limit as DuckDB prints it ("18.8 GiB"), which
    can be up to 0.05 GiB under the exact default it stands for.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.limit = _default_limit_in_force(con)

    def release(self) -> None:
        if self.limit is None:
            return
        try:
            self.con.execute("SET memory_limit = '16MB'")
        except duckdb.OutOfMemoryException:
            pass  # blocks in use stay, the rest went; the limit is as it was
        except duckdb.Error as exc:
            if is_interrupted(exc):
                raise
            self.limit = None  # the settings are locked (lock_configuration): memory is left alone
            return
        self.con.execute("SET memory_limit = ?", [self.limit])


def _default_limit_in_force(con: duckdb.DuckDBPyConnection) -> str | None:
    kind = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if kind is None or kind[0] != "duckdb":
        return None
    limit = con.execute("SELECT memory_limit FROM pragma_database_size() WHERE database_name = current_database()").fetchone()
    return limit[0] if limit and limit[0] == _default_limit() else None


@cache
def _default_limit() -> str:
    with duckdb.connect() as fresh:
        (limit,) = fresh.execute("SELECT memory_limit FROM pragma_database_size()").fetchall()[0]
        return limit
