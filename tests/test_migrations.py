"""Schema migrations: a fresh store is at the latest version, an older one is upgraded in one
transaction on open, a newer one is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app
from budgetdb.errors import SchemaError
from budgetdb.store import migrations, open_store

from ingest_support import file_name, first_column, make, open_rw, run, write_json

MIGRATIONS = Path(__file__).resolve().parents[1] / "store" / "migrations"


def _latest_on_disk() -> int:
    return max(int(p.name[:4]) for p in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def _versions(db: Path) -> list[int]:
    return first_column(db, "SELECT version FROM schema_version ORDER BY version")


def _objects(db: Path) -> set[str]:
    return set(first_column(db, "SELECT table_name FROM information_schema.tables"))


def _with_fake(monkeypatch, *extra: migrations.Migration) -> None:
    real = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [*real, *extra])


def test_fresh_store_is_at_the_latest_version(tmp_path):
    db = tmp_path / "s.duckdb"
    open_rw(db).close()
    assert _versions(db) == list(range(1, _latest_on_disk() + 1))
    assert {"files", "samples", "config_runs", "file_records", "sample_records", "ingest_runs"} <= _objects(db)
    con = open_store(db)  # read-only opens it without complaint
    assert migrations.current_version(con) == _latest_on_disk()
    con.close()


def test_reopening_a_current_store_applies_nothing(tmp_path):
    db = tmp_path / "s.duckdb"
    open_rw(db).close()
    open_rw(db).close()
    assert _versions(db) == list(range(1, _latest_on_disk() + 1))


def _make_newer(db: Path) -> int:
    open_rw(db).close()
    newer = _latest_on_disk() + 1
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [newer])
    con.close()
    return newer


@pytest.mark.parametrize("read_only", [True, False])
def test_newer_store_is_refused_with_a_clear_message(tmp_path, read_only):
    db = tmp_path / "s.duckdb"
    newer = _make_newer(db)
    with pytest.raises(SchemaError) as error:
        open_store(db, read_only=read_only)
    message = str(error.value)
    assert str(newer) in message and str(_latest_on_disk()) in message
    assert "newer" in message and "upgrade budgetdb" in message
    assert _versions(db)[-1] == newer


def test_cli_refuses_a_newer_store_in_one_line(tmp_path):
    db = tmp_path / "s.duckdb"
    newer = _make_newer(db)
    folder = tmp_path / "core_exp_h100" / "okvqa"
    write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=2))
    for args in (["info", "--db", str(db)], ["ingest", str(folder), "--db", str(db)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith("Error: ") and "newer" in result.stderr and "Traceback" not in result.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM file_records").fetchone()[0] == 0
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newer
    con.close()


def _filled_store(tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    folder = tmp_path / "core_exp_h100" / "okvqa"
    write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=3))
    con = open_rw(db)
    run(con, folder)
    con.close()
    return db


def test_older_store_is_upgraded_on_open_keeping_its_data(tmp_path, monkeypatch):
    db = _filled_store(tmp_path)
    latest = _latest_on_disk()
    _with_fake(
        monkeypatch,
        migrations.Migration(
            latest + 1,
            f"{latest + 1:04d}_add_note.sql",
            "ALTER TABLE file_records ADD COLUMN note VARCHAR;\nCREATE VIEW file_notes AS SELECT path, note FROM file_records;",
        ),
    )
    with pytest.raises(SchemaError) as error:
        open_store(db)  # a reader does not upgrade; it says how to
    assert "budgetdb ingest" in str(error.value)
    con = open_rw(db)
    assert migrations.current_version(con) == latest + 1
    assert con.execute("SELECT count(*) FROM file_notes WHERE note IS NULL").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 3
    con.close()
    assert _versions(db) == list(range(1, latest + 2))


def test_failing_upgrade_leaves_the_store_at_its_old_version_and_usable(tmp_path, monkeypatch):
    db = _filled_store(tmp_path)
    latest = _latest_on_disk()
    _with_fake(
        monkeypatch,
        migrations.Migration(latest + 1, f"{latest + 1:04d}_fine.sql", "CREATE TABLE fine_part (x INTEGER);"),
        migrations.Migration(
            latest + 2, f"{latest + 2:04d}_broken.sql", "CREATE TABLE half_done (x INTEGER);\nSELECT * FROM no_such_table;"
        ),
    )
    with pytest.raises(SchemaError) as error:
        open_rw(db)
    assert str(latest + 2) in str(error.value) and "no_such_table" in str(error.value)
    assert _versions(db) == list(range(1, latest + 1))
    assert not {"fine_part", "half_done"} & _objects(db)
    monkeypatch.undo()
    con = open_rw(db)  # still a working store at the old version
    folder = tmp_path / "core_exp_h100" / "okvqa"
    write_json(folder / file_name("okvqa", "low", 2, 6, 12), make("okvqa", "low", 6, 12, n=2))
    summary = run(con, folder)
    assert summary.counts["new"] == 1 and summary.counts["unchanged"] == 1
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 5
    con.close()


def test_migration_files_are_numbered_from_one_without_gaps():
    numbers = sorted(int(p.name[:4]) for p in MIGRATIONS.glob("*.sql"))
    assert numbers == list(range(1, len(numbers) + 1))
    assert [m.version for m in migrations.available()] == numbers


def _documented(view: str) -> set[str]:
    """Column names in the first cell of the table rows under the `## `view`` heading of docs/schema.md."""
    text = (MIGRATIONS.parents[1] / "docs" / "schema.md").read_text(encoding="utf-8")
    names, inside = set(), False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = f"`{view}`" in line
        elif inside and line.startswith("|") and not line.startswith("|---"):
            for name in (n.strip().strip("`") for n in line.split("|")[1].split(",")):
                first, *suffixes = name.split("/")  # `x_mean/_std` documents x_mean and x_std
                names |= {first} | {first.rsplit("_", 1)[0] + suffix for suffix in suffixes}
    return names


@pytest.mark.parametrize("view", ["samples", "config_runs", "files", "config_stats"])
def test_every_view_column_is_documented(tmp_path, view):
    con = open_rw(tmp_path / "s.duckdb")
    columns = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]
    con.close()
    assert columns
    assert not [c for c in columns if c not in _documented(view)]
