"""Helpers for the reliability tests: run the CLI in child processes (and kill them), and
judge a store against the JSON files on disk (json.load only, never the code under test)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from ingest_support import expected_runs, result_files

# `budgetdb ...` as a child process of this Python (the console script is the same entry point)
CLI = [sys.executable, "-c", "from budgetdb.cli.app import main; main()"]

# A process that has imported budgetdb once and forks a child per command: each child runs the
# CLI's main() like the console script does, without paying ~0.5 s of imports per kill.
_FORKER = r"""
import json, os, select, sys, time
import duckdb, numpy, pandas  # duckdb imports pandas on first use; import it before forking
import budgetdb.cli.app, budgetdb.cli.store_commands, budgetdb.store.ingest, budgetdb.demo

for line in sys.stdin:
    order = json.loads(line)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        out = os.open(order["output"] or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        if order["batch_bytes"]:
            import functools
            m = budgetdb.store.ingest
            m.IngestOptions = functools.partial(m.IngestOptions, batch_bytes=order["batch_bytes"])
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
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    ready = select.poll()
    pidfd = os.pidfd_open(pid)
    ready.register(pidfd, select.POLLIN)
    if order["kill_after"] is None or ready.poll(order["kill_after"] * 1000):
        killed = False
    else:
        os.kill(pid, 9)
        killed = True
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "killed": killed,
                      "seconds": time.monotonic() - started}), flush=True)
"""


class Forker:
    """Runs `budgetdb ARGS` in forked child processes and SIGKILLs them on request."""

    def __init__(self):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def run(self, *argv, kill_after: float | None = None, batch_bytes: int | None = None, output: Path | None = None) -> dict:
        """{"code": exit code (-9 when killed), "killed": bool, "seconds": run time}."""
        order = {
            "argv": [str(a) for a in argv],
            "kill_after": kill_after,
            "batch_bytes": batch_bytes,
            "output": str(output) if output else None,
        }
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the forking helper died"
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


SAMPLE_PRINT = ("accuracy", "T_total", "T_LLM_prefill", "T_vision_total", "output_tokens", "pred")


def file_sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def store_files_sha(db: Path) -> dict[str, str]:
    """sha256 of the store file and of its write-ahead log, if any."""
    return {p.name: file_sha(p) for p in (db, db.with_name(db.name + ".wal")) if p.exists()}


def _same(value):
    """NaN-safe, type-strict comparison key for one JSON value."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__ if not isinstance(value, (int, float)) or isinstance(value, bool) else "num", value)


def sample_print(sample: dict) -> tuple:
    """A few values of one per-sample record, as json.load gives them."""
    metadata = sample.get("metadata") or {}
    return tuple(_same(sample.get(k)) for k in SAMPLE_PRINT) + (_same(metadata.get("example_id")),)


def disk_state(hw_root: Path) -> dict[tuple, list[tuple]]:
    """{config key: the sample prints that config run must hold} from the JSON files."""
    return {key: [sample_print(s) for s in run["samples"]] for key, run in expected_runs(hw_root).items()}


def disk_versions(hw_root: Path) -> dict[str, list[tuple]]:
    """{sha256 of a result file: its sample prints}."""
    return {file_sha(path): [sample_print(s) for s in body["per_sample_results"]] for path, body in result_files(hw_root).items()}


_STORE_SAMPLES = f"""
SELECT f.experiment, f.dataset, f.tier, f.top_k, f.num_active_blocks, f.file_id,
       {", ".join(f's."{c}"' for c in SAMPLE_PRINT)}, json_extract(s.metadata, '$.example_id')
FROM sample_records s JOIN file_records f USING (file_id)
ORDER BY f.config_run_id, f.rank NULLS FIRST, f.path, s.ordinal
"""


def _store_print(row: tuple) -> tuple:
    *values, example_id = row
    return tuple(_same(v) for v in values) + (_same(json.loads(example_id) if example_id is not None else None),)


def store_state(con) -> dict[tuple, list[tuple]]:
    """{config key: sample prints} of every config run in the store (raw tables, not views)."""
    state: dict[tuple, list[tuple]] = {}
    for row in con.execute(
        "SELECT DISTINCT experiment, dataset, tier, top_k, num_active_blocks FROM file_records WHERE status = 'ingested'"
    ).fetchall():
        state[tuple(row)] = []
    for row in con.execute(_STORE_SAMPLES).fetchall():
        state.setdefault(tuple(row[:5]), []).append(_store_print(row[6:]))
    return state


def assert_whole(con, allowed: list[dict], versions: dict[str, list[tuple]]) -> dict[tuple, list[tuple]]:
    """No partial config run and no half-recorded file.

    `allowed`: the states the store may be in, per config run ({} means: absent is fine);
    `versions`: every result file version that may be stored, by sha256.
    """
    state = store_state(con)
    for key in set(state).union(*allowed):
        options = [a.get(key) for a in allowed]
        assert state.get(key) in options, (
            f"config run {key}: {len(state.get(key) or [])} samples in the store, not one of the whole "
            f"states {[None if o is None else len(o) for o in options]}"
        )
    files = con.execute("SELECT file_id, path, status, sha256, n_samples FROM file_records").fetchall()
    per_file: dict[int, list[tuple]] = {}
    for row in con.execute(_STORE_SAMPLES).fetchall():
        per_file.setdefault(row[5], []).append(_store_print(row[6:]))
    for file_id, path, status, sha, n_samples in files:
        if status == "ingested":
            assert sha in versions, f"{path}: stored sha256 matches no version of the file"
            assert per_file.get(file_id, []) == versions[sha], f"{path}: samples differ from the file's"
            assert n_samples == len(versions[sha]), path
        else:
            assert file_id not in per_file, f"{path} is {status} but has samples in the store"
    known = {f[0] for f in files}
    assert not set(per_file) - known, "samples of a file that has no file row"
    return state
