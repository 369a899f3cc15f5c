"""Upgrades with the real migrations: a store written at schema version 1 (before implausible
latencies were hidden from `samples`) opens, is upgraded in one transaction by the first
writing command, keeps every row, and gets the new view; a failed upgrade leaves it at
version 1, old view included, fully usable. (test_migrations.py does the same with made-up
migrations.)"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from old_stores import old_store
from typer.testing import CliRunner

from budgetdb.cli.app import app
from budgetdb.errors import SchemaError
from budgetdb.store import migrations

from ingest_support import file_name, first_column, make, open_rw, run, table_rows, write_json


def _version_1_store(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    folder = tmp_path / "core_exp_h100" / "okvqa"
    body = make("okvqa", "high", 8, 16, n=3, seed=1)
    body["per_sample_results"][0]["T_LLM_prefill"] = -4.0
    write_json(folder / file_name("okvqa", "high", 11, 8, 16), body)
    return old_store(tmp_path / "v1.duckdb", 1, folder), folder


def _old_rows(db: Path) -> dict[str, list]:
    """Every row of the version-1 tables, in the version-1 columns."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            table: table_rows(con, table, "1, 2, 3", skip=("example_id", "repeat", "files_moved"))
            for table in ("file_records", "sample_records", "ingest_runs")
        }
    finally:
        con.close()


def _prefills(db: Path) -> list:
    return first_column(db, "SELECT T_LLM_prefill FROM samples ORDER BY ordinal")


def _versions(db: Path) -> list[int]:
    return first_column(db, "SELECT version FROM schema_version ORDER BY version")


def test_a_version_1_store_is_upgraded_by_ingest_keeping_every_row(tmp_path, monkeypatch):
    db, folder = _version_1_store(tmp_path, monkeypatch)
    assert migrations.latest_version() >= 2
    assert _versions(db) == [1]
    assert _prefills(db)[0] == -4.0  # version 1 showed it
    rows_before = _old_rows(db)
    info = CliRunner().invoke(app, ["info", "--db", str(db)])
    assert info.exit_code == 1 and "budgetdb ingest" in info.stderr and "schema version 1" in info.stderr
    result = CliRunner().invoke(app, ["ingest", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert _versions(db) == list(range(1, migrations.latest_version() + 1))
    after = _old_rows(db)
    assert after["file_records"] == rows_before["file_records"]  # the unchanged file was not rewritten
    assert after["sample_records"] == rows_before["sample_records"]
    assert after["ingest_runs"][: len(rows_before["ingest_runs"])] == rows_before["ingest_runs"]
    assert _prefills(db)[0] is None  # implausible: missing in the new view


def test_a_failed_upgrade_leaves_the_version_1_store_as_it_was(tmp_path, monkeypatch):
    db, folder = _version_1_store(tmp_path, monkeypatch)
    real = migrations.available()
    broken = migrations.Migration(len(real) + 1, f"{len(real) + 1:04d}_broken.sql", "SELECT * FROM no_such_table;")
    monkeypatch.setattr(migrations, "available", lambda: [*real, broken])
    with pytest.raises(SchemaError) as error:
        open_rw(db)
    assert "no_such_table" in str(error.value)
    monkeypatch.undo()
    assert _versions(db) == [1]
    assert _prefills(db)[0] == -4.0  # the view replaced by migration 2 is back as it was
    con = open_rw(db)  # and the next writer upgrades it for real
    run(con, folder)
    con.close()
    assert _versions(db) == list(range(1, migrations.latest_version() + 1))
    assert _prefills(db)[0] is None
