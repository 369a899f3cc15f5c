"""Fingerprints in worker processes: the same store as one process makes, from a caller script
without a main guard too (what broke the multiprocessing pool tried before), and files that
are not regular files fail with a reason instead of being left out (or blocking a read)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app
from budgetdb.store.workers import Pool

from ingest_support import file_name, make, open_rw, outcomes, run, store_digest, write_json


def test_workers_store_what_one_process_stores(tmp_path):
    hw = demo.write_demo_tree(tmp_path / "data", samples=81 * 3, seed=12).root
    stores = {}
    for workers in (1, 2):
        con = open_rw(tmp_path / f"w{workers}.duckdb")
        summary = run(con, hw, workers=workers)
        assert not summary.failed
        assert summary.workers == (0 if workers == 1 else 2)
        stores[workers] = store_digest(con)
        con.close()
    assert stores[1] == stores[2]


_NO_MAIN_GUARD = """
import sys
from budgetdb.store import open_store
from budgetdb.store.ingest import IngestOptions, ingest

# no `if __name__ == "__main__":` here: a pool that imports this module again would ingest again
print("script body ran", flush=True)
con = open_store(sys.argv[2], read_only=False)
summary = ingest(con, [sys.argv[1]], IngestOptions(workers=2))
print(summary.workers, summary.samples_added, len(summary.failed))
"""


def test_a_caller_script_without_a_main_guard_works(tmp_path):
    hw = demo.write_demo_tree(tmp_path / "data", samples=81 * 2, seed=13).root
    script = tmp_path / "ingest_it.py"
    script.write_text(_NO_MAIN_GUARD)
    done = subprocess.run(
        [sys.executable, str(script), str(hw), str(tmp_path / "s.duckdb")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script body ran", "2 162 0"]  # the body ran once, two workers did the reading


def test_the_pool_reads_what_this_process_reads(tmp_path):
    paths = [write_json(tmp_path / f"f{i}.json", make(n=i + 1, seed=i)) for i in range(5)]
    missing = tmp_path / "gone.json"
    jobs = [(str(p), i % 2 == 0) for i, p in enumerate(paths)] + [(str(missing), False)]
    with Pool(0, 1 << 20) as here:
        expected = here.map(jobs)
    with Pool(2, 1 << 20) as pool:
        got = pool.map(jobs)
        assert pool.started == 2
    assert got == expected
    assert got[-1].reason.startswith("cannot read: No such file")


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_fifo_or_a_device_named_json_fails_with_a_reason_and_never_blocks(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    good = write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=2))
    fifo = folder / file_name("okvqa", "low", 2, 6, 12)
    os.mkfifo(fifo)  # nothing ever writes to it: reading it would block for good
    zero = folder / file_name("okvqa", "low", 2, 8, 12)
    zero.symlink_to("/dev/zero")  # reading it would never end
    db = tmp_path / "s.duckdb"
    result = _cli("ingest", tmp_path / "core_exp_h100", "--db", db, "--format", "json")
    assert result.exit_code == 1, result.output
    lines = {line.split(": ")[1]: line for line in result.stderr.splitlines() if line.startswith("failed: ")}
    assert set(lines) == {str(fifo), str(zero)}
    assert "not a regular file but a named pipe (FIFO)" in lines[str(fifo)]
    assert "not a regular file but a character device" in lines[str(zero)]
    assert json.loads(result.stdout)[0]["files_new"] == 1
    con = open_rw(db)
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {
        str(good): "ingested",
        str(fifo): "failed",
        str(zero): "failed",
    }
    again = run(con, tmp_path / "core_exp_h100")
    assert outcomes(again)[str(fifo)][0] == "failed" and outcomes(again)[str(good)][0] == "unchanged"
    con.close()


def test_a_file_turned_into_a_fifo_after_listing_fails_without_blocking(tmp_path, monkeypatch):
    from budgetdb.store import planner

    folder = tmp_path / "core_exp_h100" / "okvqa"
    victim = write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=2))
    real = planner.discover

    def listing(*args, **kwargs):
        found = real(*args, **kwargs)
        victim.unlink()
        os.mkfifo(victim)
        return found

    monkeypatch.setattr(planner, "discover", listing)
    con = open_rw(tmp_path / "s.duckdb")
    outcome, reason = outcomes(run(con, folder))[str(victim)]
    assert outcome == "failed" and reason == "cannot read: not a regular file any more"


def test_implausible_accuracies_and_knobs_are_stored_with_a_warning(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    body = make("okvqa", "low", 4, 12, n=4)
    body["top_k"] = 0
    body["num_active_blocks"] = 0
    body["accuracy"] = 1.5
    for sample, accuracy in zip(body["per_sample_results"], (-0.25, 2.0, 0.5, 1.0), strict=True):
        sample["accuracy"] = accuracy
    path = write_json(folder / "okvqa_imgsizetier-low_crops2_topk0_blocks0.json", body)
    result = _cli("ingest", folder, "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 0, result.output  # stored, as written
    warnings = [line for line in result.stderr.splitlines() if line.startswith(f"warning: {path}: ")]
    assert [w.split(f"{path}: ")[1] for w in warnings] == [
        "top_k is 0, below 1 (stored as written)",
        "num_active_blocks is 0, below 1 (stored as written)",
        "accuracy is 1.5, outside [0, 1] (stored as written)",
        "2 sample accuracies are outside [0, 1] (stored as written)",
    ]
    con = open_rw(tmp_path / "s.duckdb")
    assert con.execute("SELECT top_k, num_active_blocks, n_samples FROM config_runs").fetchall() == [(0, 0, 4)]
    assert len(con.execute("SELECT warnings FROM files").fetchone()[0]) == 4
    con.close()


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path):
    hw = demo.write_demo_tree(tmp_path / "data", samples=162, seed=14).root
    bad = hw / "5run_2samples_demo" / "okvqa" / "broken.json"
    bad.write_text('{"top_k": 4, "num_active_blocks": 12, "per_sample_results": [')
    db = tmp_path / "store" / "s.duckdb"
    planned = _cli("ingest", hw, "--db", db, "--dry-run", "--format", "json")
    assert planned.exit_code == 0, planned.output
    assert not db.parent.exists()  # not even the store's folder
    rows = json.loads(planned.stdout)
    by_path = {r["path"]: r for r in rows}
    assert by_path[str(bad)]["action"] == "fail" and "per_sample_results" not in (by_path[str(bad)]["reason"] or "x")
    assert {r["action"] for r in rows} == {"ingest", "pool", "supersede", "skip", "fail"}  # pool: the crashed run's shards
    done = _cli("ingest", hw, "--db", db, "--format", "json")
    assert done.exit_code == 1
    con = open_rw(db)
    stored = dict(con.execute("SELECT path, status FROM files").fetchall())
    status = {"ingest": "ingested", "pool": "ingested", "supersede": "superseded", "skip": "skipped", "fail": "failed"}
    assert stored == {path: status[row["action"]] for path, row in by_path.items()}
    con.close()
    # against a filled store: what would change, and the store file stays as it is
    changed = sorted(hw.rglob("*_topk4_blocks12.json"))[0]
    write_json(changed, make(changed.parent.name, json.loads(changed.read_text())["tier"], 4, 12, n=3, seed=99))
    before = Path(db).read_bytes()
    table = _cli("ingest", hw, "--db", db, "--dry-run")
    assert table.exit_code == 0, table.output
    assert "nothing was written" in table.stdout
    csv_rows = _cli("ingest", hw, "--db", db, "--dry-run", "--format", "csv").stdout.splitlines()
    assert csv_rows[0].startswith("action,outcome,path,rel_path,reason")
    assert any(line.startswith(f"ingest,updated,{changed},") for line in csv_rows)
    assert sum(line.startswith("keep,unchanged,") for line in csv_rows) == len(stored) - 2  # the changed and the failed one
    assert Path(db).read_bytes() == before
