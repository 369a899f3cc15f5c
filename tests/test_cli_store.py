"""The `budgetdb ingest`, `info` and `demo` commands, driven in-process with CliRunner and
once through the installed console script."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app
from budgetdb.store import open_store

from cli_support import imports
from ingest_support import expected_runs, file_name, make, store_digest, write_json

REPO = Path(__file__).resolve().parents[1]
ROWS = (
    "files new",
    "files updated",
    "files unchanged",
    "files superseded",
    "files skipped",
    "files failed",
    "samples added",
    "NaN latencies",
    "0.0 latencies",
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return demo.write_demo_tree(tmp_path_factory.mktemp("cli"), samples=162, seed=6).root


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch):
    monkeypatch.delenv("BUDGETDB_DB", raising=False)


def invoke(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def _table_counts(text: str) -> dict[str, int]:
    counts = {}
    for line in text.splitlines():
        match = re.match(r"^\W*([A-Za-z0-9. ]+?)\s*\W+\s*(\d+)\s*\W*$", line)
        if match:
            counts[match.group(1).strip()] = int(match.group(2))
    return counts


def _expected_totals(hw_root: Path) -> dict[str, int]:
    runs = expected_runs(hw_root)
    n_json = len(list(hw_root.rglob("*.json")))
    counted = sum(len(r["files"]) for r in runs.values())
    superseded = sum(len(r["superseded"]) for r in runs.values())
    return {
        "files new": counted,
        "files updated": 0,
        "files unchanged": 0,
        "files superseded": superseded,
        "files skipped": n_json - counted - superseded,
        "files failed": 0,
        "samples added": sum(len(r["samples"]) for r in runs.values()),
        "NaN latencies": 0,
        "0.0 latencies": 0,
    }


def test_ingest_prints_a_summary_table_and_exits_0(tree, tmp_path):
    result = invoke("ingest", tree, "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 0, result.output
    counts = _table_counts(result.stdout)
    expected = _expected_totals(tree)
    assert {k: counts[k] for k in ROWS} == expected
    assert expected["samples added"] == 162 and expected["files superseded"] == 2
    again = invoke("ingest", tree, "--db", tmp_path / "s.duckdb")
    assert again.exit_code == 0
    assert _table_counts(again.stdout)["files unchanged"] == len(list(tree.rglob("*.json")))


def test_ingest_json_format_parses(tree, tmp_path):
    result = invoke("ingest", tree, "--db", tmp_path / "s.duckdb", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and len(rows) == 1
    expected = _expected_totals(tree)
    assert {k: rows[0][k.replace(" ", "_")] for k in ROWS if k.startswith(("files", "samples"))} == {
        k: v for k, v in expected.items() if k.startswith(("files", "samples"))
    }


def test_ingest_csv_format_parses(tree, tmp_path):
    result = invoke("ingest", tree, "--db", tmp_path / "s.duckdb", "--format", "csv")
    assert result.exit_code == 0, result.output
    header, values = result.stdout.strip().splitlines()
    got = dict(zip(header.split(","), values.split(","), strict=True))
    assert int(got["samples_added"]) == 162


def test_ingest_exit_code_1_and_summary_when_a_file_fails(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=2))
    (folder / "broken.json").write_text("{")
    result = invoke("ingest", folder, "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 1
    counts = _table_counts(result.stdout)
    assert counts["files failed"] == 1 and counts["files new"] == 1 and counts["samples added"] == 2
    assert "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if "broken.json" in line][0].startswith("failed: ")


def test_skips_and_warnings_alone_exit_0(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    write_json(folder / file_name("text-vqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=2))
    write_json(folder / "layer_importance_scores.json", {"scores": [1, 2]})
    result = invoke("ingest", folder, "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr.lower()
    assert _table_counts(result.stdout)["files skipped"] == 1


def test_hardware_option_names_files_outside_core_exp(tmp_path):
    folder = tmp_path / "results" / "okvqa"
    write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=2))
    db = tmp_path / "s.duckdb"
    assert invoke("ingest", folder, "--db", db, "--hardware", "b200").exit_code == 0
    con = open_store(db)
    assert con.execute("SELECT DISTINCT hardware FROM samples").fetchall() == [("b200",)]
    con.close()


def test_ingest_of_a_missing_path_is_an_error_line(tmp_path):
    result = invoke("ingest", tmp_path / "nowhere", "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nowhere" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.duckdb").exists()  # no empty store left behind by a typo
    real = tmp_path / "core_exp_h100"
    real.mkdir()
    mixed = invoke("ingest", real, tmp_path / "nowhere", "--db", tmp_path / "s.duckdb")
    assert mixed.stderr == f"Error: {tmp_path / 'nowhere'}: no such file or folder; nothing was ingested\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["core_exp_h100"]


def _latest_migration() -> int:
    return max(int(p.name[:4]) for p in (REPO / "store" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))


def test_info_shows_schema_version_and_contents(tree, tmp_path):
    db = tmp_path / "s.duckdb"
    assert invoke("ingest", tree, "--db", db).exit_code == 0
    result = invoke("info", "--db", db)
    assert result.exit_code == 0, result.output
    assert re.search(rf"schema version:\s*{_latest_migration()}\b", result.stdout)
    assert str(db) in result.stdout and "last ingest" in result.stdout
    as_json = invoke("info", "--db", db, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    expected = defaultdict(Counter)
    for (experiment, dataset, *_), r in expected_runs(tree).items():
        expected[("h100", experiment, dataset)].update(
            config_runs=1, samples=len(r["samples"]), files=len(r["files"]), superseded=len(r["superseded"])
        )
    got = {(r["hardware"], r["experiment"], r["dataset"]): r for r in rows}
    for key, counts in expected.items():
        for name in ("config_runs", "samples", "files", "superseded"):
            assert got[key][name] == counts[name], (key, name)
        assert got[key]["failed"] == 0
    assert sum(r["samples"] for r in rows) == 162
    assert sum(r.get("skipped", 0) for r in rows) == 1


def test_info_without_a_store_says_how_to_make_one(tmp_path):
    result = invoke("info", "--db", tmp_path / "none.duckdb")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "budgetdb ingest" in result.stderr
    assert not (tmp_path / "none.duckdb").exists()


def test_demo_writes_a_tree_that_ingests_without_failures(tmp_path):
    result = invoke("demo", tmp_path / "demo", "--samples", 100, "--seed", 3)
    assert result.exit_code == 0, result.output
    hw_root = tmp_path / "demo" / "core_exp_h100"
    assert hw_root.is_dir()
    ingested = invoke("ingest", hw_root, "--db", tmp_path / "s.duckdb", "--format", "json")
    assert ingested.exit_code == 0, ingested.output
    totals = json.loads(ingested.stdout)[0]
    assert totals["files_failed"] == 0 and totals["samples_added"] == 100
    datasets = {p.name for p in hw_root.glob("*/*") if p.is_dir()}
    assert datasets == {"text-vqa", "coco-2014-vqa", "okvqa"}


def test_db_option_and_env_var_select_the_store(tree, tmp_path, monkeypatch):
    by_env, by_option, default = tmp_path / "env.duckdb", tmp_path / "opt.duckdb", tmp_path / "budget.duckdb"
    monkeypatch.chdir(tmp_path)
    assert invoke("ingest", tree, env={"BUDGETDB_DB": str(by_env)}).exit_code == 0
    assert by_env.exists() and not default.exists()
    assert invoke("ingest", tree, "--db", by_option, env={"BUDGETDB_DB": str(by_env)}).exit_code == 0
    assert by_option.exists()
    # --db wins over the env var: the env store saw only its own first run
    con = open_store(by_env)
    assert con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == 1
    con.close()
    info = invoke("info", env={"BUDGETDB_DB": str(by_option)})
    assert info.exit_code == 0 and str(by_option) in info.stdout
    assert invoke("ingest", tree).exit_code == 0
    assert default.exists()


def _commands(group, prefix=()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


def test_every_command_has_help_text():
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert {("ingest",), ("info",), ("demo",)} <= {path for path, _ in commands}
    for path, command in [((), root), *commands]:
        for flag in ("--help", "-h"):
            result = invoke(*path, flag)
            assert result.exit_code == 0, (path, flag, result.output)
            assert "Usage" in result.stdout, path
            summary = (command.help or "").strip().splitlines()[0] if command.help else ""
            assert summary and summary in " ".join(result.stdout.split()), (path, summary)
        for param in command.params:
            if getattr(param, "help", None) is None and param.param_type_name == "option" and param.name != "help":
                pytest.fail(f"{' '.join(path)} option {param.name} has no help text")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["ingest", "--help"], ["report", "--help"], ["sql", "--help"]])
def test_help_and_version_start_without_duckdb(args):
    """Importing duckdb is most of a command's start-up (~0.1 s of 0.15 s): help does without it."""
    assert not imports("duckdb", *args)


def test_ingest_help_documents_its_options():
    text = " ".join(invoke("ingest", "--help").stdout.split())
    for option in ("--db", "--hardware", "--prune", "--strict", "--format"):
        assert option in text, option


def test_console_script_runs_ingest_and_prints_plain_progress(tree, tmp_path):
    script = shutil.which("budgetdb", path=str(Path(sys.executable).parent))
    assert script, "the budgetdb console script is not installed next to this Python"
    db = tmp_path / "s.duckdb"
    proc = subprocess.run(
        [script, "ingest", str(tree), "--db", str(db), "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["samples_added"] == 162
    assert "\x1b[" not in proc.stderr  # plain lines in a pipe, no terminal control codes
    assert re.search(r"^\w+: \d+/\d+ files", proc.stderr, re.M)
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("budgetdb ")


def test_strict_cli_run_with_a_bad_file_exits_1_and_leaves_the_store_unchanged(tree, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(tree, work)
    db = tmp_path / "s.duckdb"
    assert invoke("ingest", work, "--db", db).exit_code == 0
    con = open_store(db)
    before = store_digest(con, keep_times=True), con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0]
    con.close()
    changed = sorted(work.rglob("okvqa_*_topk4_blocks12.json"))[0]
    write_json(changed, make("okvqa", "low", 4, 12, n=7, seed=1))
    (changed.parent / "broken.json").write_text('{"top_k": 4, "num_active_blocks": 12, "per_sample_results": [')
    result = invoke("ingest", work, "--db", db, "--strict")
    assert result.exit_code == 1
    assert "broken.json" in result.stderr and "Traceback" not in result.output
    con = open_store(db)
    assert (store_digest(con, keep_times=True), con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0]) == before
    con.close()


def test_info_of_a_store_never_ingested_into(tmp_path):
    db = tmp_path / "s.duckdb"
    open_store(db, read_only=False).close()
    result = invoke("info", "--db", db)
    assert result.exit_code == 0, result.output
    assert re.search(r"last ingest:\s*never", result.stdout)
    assert re.search(r"size:\s*[\d.]+ MB", result.stdout)


_HOLD = """
import sys, time
from budgetdb.store import open_store
con = open_store(sys.argv[1], read_only=False)
print("holding", flush=True)
time.sleep(30)
"""


def test_busy_store_is_a_clear_error_that_suggests_wait(tree, tmp_path):
    db = tmp_path / "s.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = invoke("ingest", tree, "--db", db)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: ") and "busy" in result.stderr and "--wait" in result.stderr
        assert "Traceback" not in result.output
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


_INTERRUPTED_DURING_LOAD = """
import os, signal, sys, threading
from budgetdb.cli import app
from budgetdb.store import samples

load = samples.load
def load_with_ctrl_c(*args, **kwargs):
    threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
    return load(*args, **kwargs)
samples.load = load_with_ctrl_c
sys.argv = ["budgetdb", *sys.argv[1:]]
app.main()
"""


def _sigint_as_in_a_terminal():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job (CI) inherits SIGINT ignored


def test_ctrl_c_during_ingest_exits_130_without_a_traceback_and_keeps_the_store_whole(tmp_path):
    """Ctrl-C while DuckDB loads samples reaches Python as DuckDB's RuntimeError, not as
    KeyboardInterrupt: either way the command says so in one line and exits 130."""
    root = demo.write_demo_tree(tmp_path / "big", samples=20_000, seed=8).root
    db = tmp_path / "s.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_DURING_LOAD, "ingest", str(root), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_sigint_as_in_a_terminal,
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "Interrupted." and "Traceback" not in done.stderr
    with open_store(db) as con:
        partial = con.execute("""SELECT count(*) FROM file_records f
                                 WHERE status = 'ingested'
                                   AND n_samples <> (SELECT count(*) FROM sample_records s
                                                     WHERE s.file_id = f.file_id)""").fetchone()
    assert partial == (0,)


def test_demo_never_writes_over_a_tree_or_a_file(tmp_path):
    assert invoke("demo", tmp_path / "d", "--samples", 100).exit_code == 0
    victim = next((tmp_path / "d" / "core_exp_h100").rglob("*.json"))
    victim.write_text("my edited result")
    again = invoke("demo", tmp_path / "d", "--samples", 100)
    assert again.exit_code == 1
    tree = tmp_path / "d" / "core_exp_h100"
    assert again.stderr == f"Error: {tree} exists already; demo writes a whole new tree: remove it or give another folder\n"
    assert victim.read_text() == "my edited result"
    (tmp_path / "file.txt").write_text("x")
    as_file = invoke("demo", tmp_path / "file.txt")
    assert (
        as_file.exit_code == 1
        and as_file.stderr == f"Error: {tmp_path / 'file.txt'} is a file; demo writes a folder tree: give a folder\n"
    )
    outside = invoke("demo", tmp_path / "e", "--hardware", "../../escaped")
    assert outside.exit_code == 1 and "--hardware '../../escaped'" in outside.stderr
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
