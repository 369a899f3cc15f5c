"""Where `report -o FILE` and `report --plots DIR` write (cli/files.py): never over the store,
through a symlink to its target, keeping the target's mode, through a device or FIFO (never
replacing it with a regular file), and a failure to write is one line. Also: the time limit and
row cap of `query run` and `report`, and one-line template errors."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app

from builders import add_config_run, new_store


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def store(tmp_path):
    db = tmp_path / "s.duckdb"
    con = new_store(db)
    add_config_run(
        con, dataset="okvqa", tier="low", top_k=4, blocks=12, samples={"accuracy": [0.5, 1.0], "T_total": [150.0, 170.0]}
    )
    add_config_run(
        con, dataset="okvqa", tier="high", top_k=8, blocks=16, samples={"accuracy": [1.0, 1.0], "T_total": [250.0, 270.0]}
    )
    con.close()
    return db


def one_line(result, *, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_the_report_never_overwrites_the_store(store, tmp_path):
    before = sha(store)
    link = tmp_path / "report.md"
    link.symlink_to(store)
    for target in (store, link, Path(str(store) + ".wal")):
        line = one_line(invoke("report", "--db", store, "-o", target))
        assert "is the store itself" in line, line
    assert sha(store) == before and link.is_symlink()


def test_a_plot_never_overwrites_the_store(store, tmp_path):
    pytest.importorskip("matplotlib")
    before = sha(store)
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "frontier_okvqa.png").symlink_to(store)
    line = one_line(invoke("report", "--db", store, "--plots", plots, "-o", tmp_path / "r.md"))
    assert "would overwrite the store" in line
    assert sha(store) == before


def test_a_symlink_is_written_through_and_stays_a_link_and_the_mode_is_kept(store, tmp_path):
    target = tmp_path / "shared" / "budget.md"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "budget.md"
    link.symlink_to(target)
    result = invoke("report", "--db", store, "-o", link, "--lang", "en")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("# ") and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["budget.md"]  # no temporary file left


def test_a_new_file_gets_the_umask_mode_not_0600(store, tmp_path):
    old = os.umask(0o022)
    try:
        assert invoke("report", "--db", store, "-o", tmp_path / "new.md").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o644


def test_a_device_is_written_through_never_replaced(store):
    assert invoke("report", "--db", store, "-o", os.devnull).exit_code == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    if os.path.exists("/dev/full"):
        line = one_line(invoke("report", "--db", store, "-o", "/dev/full"))
        assert line == "Error: cannot write --out /dev/full: No space left on device"
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # as root, it used to become a regular file


def test_a_fifo_is_written_through(store, tmp_path):
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = invoke("report", "--db", store, "-o", fifo, "--lang", "en")
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert received and received[0].startswith(b"# ")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_file_that_cannot_be_written_is_one_line(store, tmp_path, monkeypatch):
    import budgetdb.cli.files as files

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    line = one_line(invoke("report", "--db", store, "-o", tmp_path / "r.md"))
    assert line == f"Error: cannot write --out {tmp_path / 'r.md'}: Permission denied"


def test_a_template_syntax_error_in_a_partial_is_one_line(store, tmp_path):
    (tmp_path / "_footer.md.j2").write_text("{% if %}\n")
    line = one_line(invoke("report", "--db", store, "--template", tmp_path))
    assert line == f"Error: {tmp_path / '_footer.md.j2'}:1: Expected an expression, got 'end of statement block'"
    (tmp_path / "_footer.md.j2").write_bytes(b"\xff\xfe")
    assert "is not UTF-8 text" in one_line(invoke("report", "--db", store, "--template", tmp_path))
    (tmp_path / "_footer.md.j2").write_text("{{ 1 / 0 }}\n")
    assert "ZeroDivisionError: division by zero" in one_line(invoke("report", "--db", store, "--template", tmp_path))


def test_query_run_and_report_have_the_time_limit_of_sql(seed_store):
    for args in (["query", "run", "config_points"], ["report"]):
        line = one_line(invoke(*args, "--db", seed_store, "--time-limit", "0.001"))
        assert line.startswith("Error: the query was stopped after 0.001 s (its time limit)"), (args, line)


def test_the_time_limit_bounds_the_reports_queries_not_its_rendering(store, monkeypatch):
    """A template (or plots) slower than --time-limit once the queries are done is no stuck query:
    the report was ended as one ("did not end within 5 s more"), written nowhere."""
    from budgetdb import reporting
    from budgetdb.cli import limits
    from budgetdb.queries import limits as query_limits

    stuck = []
    monkeypatch.setattr(query_limits, "STUCK_AFTER", 0.1)
    monkeypatch.setattr(limits, "_give_up", stuck.append)  # instead of ending the process
    render = reporting.render

    def slow_render(*args, **kwargs):
        time.sleep(1.5)
        return render(*args, **kwargs)

    monkeypatch.setattr(reporting, "render", slow_render)
    result = invoke("report", "--db", store, "--resamples", "0", "--time-limit", "1")
    assert result.exit_code == 0 and stuck == [], (stuck, result.output)


def test_query_run_has_the_row_cap_of_sql(store):
    capped = invoke("query", "run", "latency_stats", "--db", store, "-F", "csv", "--max-rows", "3")
    assert capped.exit_code == 0, capped.output
    assert len(capped.stdout.splitlines()) == 4 and "printed the first 3 rows only" in capped.stderr
    everything = invoke("query", "run", "latency_stats", "--db", store, "-F", "csv")
    assert len(everything.stdout.splitlines()) == 1 + 2 * 5 and everything.stderr == ""
