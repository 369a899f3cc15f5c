"""Ctrl-C always ends an ingest: exit code 130, `Interrupted.` as the last line, no traceback, and
the store as the last committed configuration left it; the next ingest finishes the job.

SIGINT is sent at many moments of a run, each chosen by an event, never by a clock: the k-th
call of the functions a run goes through (each fingerprint that arrives, each DuckDB pass over
files the first look could not judge, each sample load, file-row insert, repeat marking and
progress report). At the k-th call a thread sends SIGINT to the process, as a terminal does,
while the run goes on; with the fingerprints in worker processes, the workers (in a session of
their own, like a terminal's Ctrl-C would leave them) are ended by their parent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from budgetdb import demo

from ingest_support import open_rw, run, store_digest
from reliability_support import assert_whole, disk_state, disk_versions

# One process that has imported budgetdb forks a child per run (each kill costs milliseconds of
# start-up instead of half a second). The child counts events and, at the chosen one, has a
# thread send SIGINT to it; it writes the count of events it saw to `events`.
_INTERRUPTER = r"""
import json, os, signal, sys, threading
import duckdb, numpy, pandas
import budgetdb.cli.app
import budgetdb.store.apply as apply_module, budgetdb.store.planner as planner_module
import budgetdb.store.ingest as ingest_module, budgetdb.store.samples as samples_module
import budgetdb.store.writer as writer_module

for line in sys.stdin:
    order = json.loads(line)
    pid = os.fork()
    if pid == 0:
        out = os.open(order["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
        seen = [0]

        def counted(module, name):
            real = getattr(module, name)

            def wrapper(*args, **kwargs):
                seen[0] += 1
                if seen[0] == order["at"]:
                    threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
                return real(*args, **kwargs)

            setattr(module, name, wrapper)

        counted(samples_module, "load")
        counted(samples_module, "mark_repeats")
        counted(writer_module, "insert_files")
        counted(planner_module, "inspect")
        counted(planner_module._Planner, "progress")
        counted(apply_module._Apply, "progress")
        import functools
        ingest_module.IngestOptions = functools.partial(ingest_module.IngestOptions, batch_bytes=30_000)
        sys.argv = ["budgetdb", *order["argv"]]
        code = 0
        try:
            budgetdb.cli.app.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 70
        with open(order["events"], "w") as handle:
            handle.write(str(seen[0]))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Interrupter:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _INTERRUPTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv, at: int, output: Path, events: Path) -> int:
        order = {"argv": [str(a) for a in argv], "at": at, "output": str(output), "events": str(events)}
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["code"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


def _tree(root: Path) -> Path:
    hw = demo.write_demo_tree(root, samples=81 * 4, seed=11).root
    # files the first look cannot judge (a key after the samples) take DuckDB's pass
    for path in sorted(hw.rglob("*_topk6_blocks12.json"))[:4]:
        body = json.loads(path.read_text())
        body["note"] = "written after the samples"
        path.write_text(json.dumps(body, indent=2))
    return hw


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_at_any_moment_ends_the_run_with_130_and_a_whole_store(tmp_path, workers):
    hw = _tree(tmp_path / "data")
    allowed, versions = [{}, disk_state(hw)], disk_versions(hw)
    reference = open_rw(tmp_path / "reference.duckdb")
    run(reference, hw)
    expected = store_digest(reference)
    reference.close()
    interrupter = Interrupter()
    try:
        argv = ["ingest", hw, "--format", "json", "--workers", workers]
        events = tmp_path / "events"
        assert interrupter.run([*argv, "--db", tmp_path / "count.duckdb"], 0, tmp_path / "count.log", events) == 0
        total = int(events.read_text())
        assert total > 20
        moments = sorted({1 + (total - 1) * i // 11 for i in range(12)})
        for at in moments:
            db = tmp_path / f"s{at}.duckdb"
            log = tmp_path / f"s{at}.log"
            code = interrupter.run([*argv, "--db", db], at, log, events)
            text = log.read_text()
            assert code == 130, (at, total, text[-800:])
            assert text.strip().splitlines()[-1] == "Interrupted." and "Traceback" not in text, (at, text[-800:])
            con = open_rw(db)
            assert_whole(con, allowed, versions)
            run(con, hw)
            assert store_digest(con) == expected, f"interrupted at event {at} of {total}: the next run did not finish"
            con.close()
            for path in (db, db.with_name(db.name + ".wal")):
                path.unlink(missing_ok=True)
    finally:
        interrupter.close()


def test_an_ignored_sigint_is_left_ignored(tmp_path):
    """A background job (CI) starts with SIGINT ignored: ingest does not take it over."""
    hw = demo.write_demo_tree(tmp_path / "data", samples=81, seed=3).root
    script = "import signal, sys\nfrom budgetdb.cli.app import main\nmain()"
    done = subprocess.run(
        [sys.executable, "-c", script, "ingest", str(hw), "--db", str(tmp_path / "s.duckdb")],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: __import__("signal").signal(2, __import__("signal").SIG_IGN),
    )
    assert done.returncode == 0, done.stderr
    assert os.path.exists(tmp_path / "s.duckdb")
