"""Every failure is one line at the CLI boundary (cli/app.py): a disk that fills up under
ingest, a DuckDB error budgetdb did not wrap, a fatal DuckDB error, an OSError, memory running
out; a closed pipe ends the command quietly. A bug (any other exception) keeps its traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app

from builders import add_config_run, new_store


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(result) -> str:
    """The command's one error line (ingest's progress lines on stderr come before it)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("checking: ", "inspecting: ", "writing: "))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return demo.write_demo_tree(tmp_path_factory.mktemp("errors"), samples=500, seed=4).root


def _disk_full() -> duckdb.Error:
    """A real DuckDB write error for a full disk, as ingest meets it: a failed COMMIT, then a
    ROLLBACK of nothing."""
    con = duckdb.connect()
    try:
        con.execute("COPY (SELECT 1) TO '/dev/full' (FORMAT csv)")
    except duckdb.Error as full:
        try:
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback - no transaction is active") from full
        except duckdb.Error as outer:
            return outer
    raise AssertionError("/dev/full took the write")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_under_ingest_is_one_line(tree, tmp_path, monkeypatch):
    import budgetdb.store.ingest as ingest

    error = _disk_full()

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(ingest, "ingest", fails)
    line = one_line(invoke("ingest", tree, "--db", tmp_path / "s.duckdb"))
    assert line == 'Error: IO Error: Could not write file "/dev/full": No space left on device'


def test_a_full_disk_for_real(tmp_path):
    """The issue's reproduction: the store on a file system that fills up (a small tmpfs; root only)."""
    tree = demo.write_demo_tree(tmp_path / "data", samples=6480, seed=4).root
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        line = one_line(invoke("ingest", tree, "--db", small / "s.duckdb"))
        assert "No space left on device" in line, line
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_fatal_duckdb_error_is_one_line_saying_what_the_store_keeps(tree, tmp_path, monkeypatch):
    import budgetdb.store.ingest as ingest

    def fatal(*args, **kwargs):
        raise duckdb.FatalException("FATAL Error: Failed: database has been invalidated because of a previous fatal error")

    monkeypatch.setattr(ingest, "ingest", fatal)
    line = one_line(invoke("ingest", tree, "--db", tmp_path / "s.duckdb"))
    assert line.startswith("Error: DuckDB stopped: FATAL Error: ") and "keeps what its last commit wrote" in line


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(13, "Permission denied", "/data/x.json"), "Error: /data/x.json: Permission denied"),
        (OSError(30, "Read-only file system"), "Error: Read-only file system"),
        (MemoryError(), "Error: out of memory; narrow the query down, or give the process more memory"),
    ],
)
def test_os_and_memory_errors_are_one_line(tree, tmp_path, monkeypatch, error, expected):
    import budgetdb.store.ingest as ingest

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(ingest, "ingest", fails)
    assert one_line(invoke("ingest", tree, "--db", tmp_path / "s.duckdb")) == expected


def test_a_bug_keeps_its_traceback(tree, tmp_path, monkeypatch):
    import budgetdb.store.ingest as ingest

    def bug(*args, **kwargs):
        raise ValueError("a bug in budgetdb")

    monkeypatch.setattr(ingest, "ingest", bug)
    result = invoke("ingest", tree, "--db", tmp_path / "s.duckdb")
    assert isinstance(result.exception, ValueError)


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    db = tmp_path / "s.duckdb"
    con = new_store(db)
    add_config_run(con, dataset="okvqa", samples={"accuracy": [1.0] * 10, "T_total": [100.0] * 10})
    con.close()
    script = "from budgetdb.cli.app import main; main()"
    command = [sys.executable, "-c", script, "sql", "SELECT * FROM range(3000000) t(i)", "--db", str(db), "-F", "csv"]
    producer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert producer.stdout is not None and producer.stderr is not None
    assert producer.stdout.readline() == b"i\n"
    producer.stdout.close()  # what `| head -1` does
    errors = producer.stderr.read().decode()
    producer.wait(timeout=120)
    assert errors == "", errors
    assert producer.returncode == 141


def test_json_output_is_valid_even_when_empty(tmp_path):
    db = tmp_path / "s.duckdb"
    new_store(db).close()
    result = invoke("sql", "SELECT * FROM samples", "--db", db, "-F", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


@pytest.mark.parametrize("value", ["nan", "inf", "1e300"])
def test_a_time_limit_that_is_no_number_of_seconds_is_one_line(tmp_path, value):
    db = tmp_path / "s.duckdb"
    new_store(db).close()
    result = invoke("sql", "SELECT 1", "--db", db, "--time-limit", value)
    assert result.exit_code == 1 and "Exception in thread" not in result.output
    assert result.stderr.startswith("Error: --time-limit must be between 0 (no limit) and 1,000,000,000 seconds")


def test_repeated_column_names_lose_no_value_in_json(tmp_path):
    db = tmp_path / "s.duckdb"
    new_store(db).close()
    result = invoke("sql", "SELECT 1 AS a, 2 AS a, 3 AS b", "--db", db, "-F", "json")
    assert json.loads(result.stdout) == [{"a": 1, "a_1": 2, "b": 3}]
    assert invoke("sql", "SELECT 1 AS a, 2 AS a", "--db", db, "-F", "csv").stdout == "a,a\n1,2\n"


def test_a_lake_password_never_shows_in_an_error(tmp_path):
    """DuckDB repeats the libpq string, password included, in its connection errors."""
    pytest.importorskip("duckdb_extension_postgres_scanner")
    db = "ducklake:postgres:dbname=x host=127.0.0.1 port=1 user=me password=s3cr3t-value"
    result = invoke("info", "--db", db)
    assert result.exit_code == 1
    assert "s3cr3t" not in result.output and "password=***" in result.stderr


def test_report_out_dash_is_stdout(tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    con = new_store(db)
    add_config_run(con, dataset="okvqa", samples={"accuracy": [1.0], "T_total": [100.0]})
    con.close()
    monkeypatch.chdir(tmp_path)
    result = invoke("report", "--db", db, "-o", "-", "--lang", "en")
    assert result.exit_code == 0 and result.stdout.startswith("# ")
    assert not (tmp_path / "-").exists()


def test_terminal_escapes_in_file_names_are_shown_not_sent(tmp_path):
    """A result file named with an escape sequence (one that retitles the terminal) is named
    in ingest's `failed:` line with the sequence shown, never sent to the terminal."""
    folder = tmp_path / "core_exp_h100" / "okvqa"
    folder.mkdir(parents=True)
    (folder / "bad\x1b]0;pwned\x07.json").write_text("{")
    result = invoke("ingest", folder, "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and "bad\\x1b]0;pwned\\x07.json" in failed[0]
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    missing = invoke("ingest", tmp_path / "gone\x1b[2J", "--db", tmp_path / "s.duckdb")
    assert "\x1b" not in missing.stderr and "gone\\x1b[2J" in missing.stderr


def test_a_wait_of_nan_is_refused(tmp_path):
    result = invoke("info", "--db", tmp_path / "s.duckdb", "--wait", "nan")
    assert result.exit_code == 2 and "must be a number of seconds, not nan" in result.stderr


def test_a_closed_stdout_is_one_line(tmp_path):
    db = tmp_path / "s.duckdb"
    new_store(db).close()
    script = "from budgetdb.cli.app import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "sql", "SELECT 1", "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        close_fds=True,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == 1
    assert done.stderr == "Error: stdout is closed; give the command somewhere to print (e.g. > /dev/null)\n"


def test_export_into_something_that_is_no_folder_is_one_line(tmp_path):
    db = tmp_path / "s.duckdb"
    new_store(db).close()
    result = invoke("export", "--parquet", os.devnull, "--db", db)
    assert one_line(result) == f"Error: {os.devnull} is not a folder; give export a folder to write into"
