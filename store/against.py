"""The second store of a comparison: attached read-only as the catalog `against` beside the store.

`budgetdb compare` (and `budgetdb query run` of a compare_* query) reads its baseline side from the
store (the default catalog) and its candidate side from the catalog `against`: another DuckDB
file, a DuckLake (at a snapshot: DuckLake's time travel), or the same store attached a second
time (two sides of one store: --hardware h100 --against-hardware a100). Read-only either way;
the path goes into the ATTACH statement as one quoted literal (ATTACH takes no bound parameters).
"""

from __future__ import annotations

import duckdb

from budgetdb.errors import StoreNotFoundError

from . import migrations
from .connection import StoreLocation, _attach_lake, _check_store_file, _quote

ALIAS = "against"


def attach_against(con: duckdb.DuckDBPyConnection, location: StoreLocation, snapshot: int | None = None) -> None:
    """Attach `location` read-only as `against`, checking its schema as opening it would."""
    if location.path is not None and not location.path.exists():
        raise StoreNotFoundError(f"no store at {location.label} (--against-db); create one with `budgetdb ingest PATH`")
    if location.is_lake:
        _attach_lake(con, location, True, snapshot, alias=ALIAS)
    else:
        _check_store_file(location)
        con.execute(f"ATTACH {_quote(str(location.path))} AS {ALIAS} (READ_ONLY)")
    home = con.execute("SELECT current_database()").fetchone()
    assert home is not None
    con.execute(f"USE {ALIAS}")
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
