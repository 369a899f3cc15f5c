"""Hostile files not covered by test_ingest_bad_input.py: each fails alone (or is flagged) with
one line naming it, the other files land, and the store keeps answering every view and the
report. Expectations come from json.loads of the very bytes written."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app
from budgetdb.store import open_store
from budgetdb.store.rebuild import rebuild_result

from ingest_support import file_name, json_diff, make, open_rw, outcomes, run, write_json, write_raw
from reliability_support import CLI
from report_helpers import run as config_run
from report_helpers import store_with

DATASET = "okvqa"
VIEWS = ("samples", "config_runs", "files")


def _good(hw_root: Path) -> Path:
    return write_json(hw_root / DATASET / file_name(DATASET, "low", 2, 4, 12), make(DATASET, "low", 4, 12, n=2, seed=1))


def _body(n: int = 3, seed: int = 2) -> dict:
    return make(DATASET, "high", 8, 16, n=n, seed=seed)


def _store_answers(db: Path) -> None:
    """Every view reads in full and the report renders: no stored value breaks them."""
    con = open_store(db)
    for view in VIEWS:
        con.execute(f"SELECT * FROM {view}").fetchall()
    con.close()
    report = CliRunner().invoke(app, ["report", "--db", str(db), "--lang", "en"])
    assert report.exit_code == 0, report.output[-2000:]
    document = CliRunner().invoke(app, ["report", "--db", str(db), "--format", "json"])
    assert document.exit_code == 0, document.output[-2000:]
    json.loads(document.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))  # strict JSON


def _cli_ingest(hw_root: Path, db: Path):
    result = CliRunner().invoke(app, ["ingest", str(hw_root), "--db", str(db), "--format", "json"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _lines_naming(stderr: str, path: Path) -> list[str]:
    return [line for line in stderr.splitlines() if str(path) in line]


# -- truncated at random offsets -------------------------------------------------------------------


def test_files_truncated_at_random_offsets_each_fail_alone(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    good = _good(hw_root)
    text = json.dumps(_body(n=4), indent=2).encode()
    offsets = sorted({1, len(text) - 1, *random.Random(6).sample(range(2, len(text) - 1), 23)})
    cut = {write_raw(hw_root / f"cut{at}" / file_name(f"cut{at}", "high", 11, 8, 16), text[:at]): at for at in offsets}
    db = tmp_path / "s.duckdb"
    result = _cli_ingest(hw_root, db)
    assert result.exit_code == 1
    totals = json.loads(result.stdout)[0]
    assert totals["files_failed"] == len(cut) and totals["files_new"] == 1
    for path, at in cut.items():
        lines = _lines_naming(result.stderr, path)
        assert len(lines) == 1 and lines[0].startswith("failed: "), (at, lines)
    con = open_store(db)
    assert con.execute("SELECT path FROM files WHERE status = 'ingested'").fetchall() == [(str(good),)]
    con.close()


# -- strings, objects, booleans where numbers belong ----------------------------------------------


def _set(where: str, key: str, value):
    """A result file whose `key` (top level, a sample, or tier_range) holds `value`."""
    body = _body()
    if where == "top":
        body[key] = value
    elif where == "tier_range":
        body["tier_range"][key] = value
    else:
        body["per_sample_results"][int(where)][key] = value
    return body


WRONG_KINDS = [
    ("0", "T_total", {"ms": 12.5}),
    ("2", "T_LLM_prefill", {"ms": 12.5}),
    ("1", "accuracy", [1.0]),
    ("1", "output_tokens", "7"),
    ("0", "T_decode_per_token", True),
    ("2", "ends_with_eos", "yes"),
    ("top", "accuracy", {"mean": 0.5}),
    ("top", "accuracy", "0.5"),
    ("top", "accuracy", True),
    ("top", "accuracy_std", [0.1]),
    ("top", "num_samples", 3.5),
    ("top", "num_samples", "3"),
    ("top", "num_total_blocks", "16"),
    ("top", "active_block_indices", [0, "1"]),
    ("top", "active_block_indices", 5),
    ("top", "selected_crops_mean", {}),
    ("tier_range", "min_crops", "9"),
    ("tier_range", "max_crops", 15.5),
]


def test_wrong_kinds_where_numbers_belong_fail_that_file_naming_the_field(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    good = _good(hw_root)
    bad = {}
    for i, (where, key, value) in enumerate(WRONG_KINDS):
        folder = f"kind{i}"
        bad[write_json(hw_root / folder / file_name(folder, "high", 11, 8, 16), _set(where, key, value))] = key
    db = tmp_path / "s.duckdb"
    result = _cli_ingest(hw_root, db)
    assert result.exit_code == 1
    for path, key in bad.items():
        lines = _lines_naming(result.stderr, path)
        assert len(lines) == 1 and lines[0].startswith("failed: ") and key in lines[0], (path.parent.name, lines)
    con = open_store(db)
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {
        str(good): "ingested",
        **{str(p): "failed" for p in bad},
    }
    con.close()
    _store_answers(db)


# -- negative and absurd latencies: flagged, and missing in the samples view -----------------------


def test_negative_infinite_and_absurd_latencies_are_flagged_and_missing_in_the_view(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    body = _body(n=5, seed=3)
    s = body["per_sample_results"]
    s[0]["T_LLM_prefill"] = -5.0
    s[1]["T_total"] = math.inf
    s[2]["T_LLM_decode"] = -math.inf
    s[3]["T_vision_total"] = 4_000_000.0
    s[4]["T_decode_per_token"] = -0.0  # a negative zero is a zero: missing, but no implausible value
    s[4]["T_total"] = 3_600_000.0  # one hour exactly is kept
    path = write_json(hw_root / DATASET / file_name(DATASET, "high", 11, 8, 16), body)
    plain = write_json(hw_root / DATASET / file_name(DATASET, "low", 2, 4, 12), make(DATASET, "low", 4, 12, n=2, seed=1))
    db = tmp_path / "s.duckdb"
    result = _cli_ingest(hw_root, db)
    assert result.exit_code == 0, result.output
    warned = [line for line in _lines_naming(result.stderr, path) if line.startswith("warning: ")]
    assert len(warned) == 1 and "4 stage latencies" in warned[0] and "negative" in warned[0], result.stderr
    assert not _lines_naming(result.stderr, plain)
    con = open_store(db)
    latencies = ("T_vision_total", "T_LLM_prefill", "T_LLM_decode", "T_total", "T_decode_per_token")
    query = "SELECT {} FROM {} JOIN files USING (file_id) WHERE path = $p ORDER BY ordinal"
    view = con.execute(query.format(", ".join(f"samples.{c}" for c in latencies), "samples"), {"p": str(path)}).fetchall()
    table = con.execute(
        query.format(", ".join(f"sample_records.{c}" for c in latencies), "sample_records"), {"p": str(path)}
    ).fetchall()
    for i, sample in enumerate(s):
        for j, name in enumerate(latencies):
            written = sample[name]
            assert table[i][j] == written or (math.isnan(written) and math.isnan(table[i][j])), (i, name)
            plausible = not math.isnan(written) and 0 < written <= 3_600_000
            assert view[i][j] == (written if plausible else None), (i, name, written, view[i][j])
    warnings = con.execute("SELECT warnings FROM files WHERE path = $p", {"p": str(path)}).fetchone()[0]
    assert any("4 stage latencies" in w for w in warnings)
    con.close()
    _store_answers(db)


# -- NaN, Infinity and -Infinity in every numeric field --------------------------------------------


def _numeric_leaves(value, path=()):
    """Paths to every number in a result (the first element of number lists, one middle sample)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "per_sample_results":
                yield from _numeric_leaves(item[1], (*path, key, 1))
            else:
                yield from _numeric_leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        yield from _numeric_leaves(value[0], (*path, 0))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path


def _put(body, path, value):
    for step in path[:-1]:
        body = body[step]
    body[path[-1]] = value


def _dumps(body) -> str:
    return json.dumps(body, indent=2)


@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf], ids=["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_every_numeric_field_are_stored_faithfully_or_fail_alone(tmp_path, special):
    hw_root = tmp_path / "core_exp_h100"
    base = _body(n=3, seed=4)
    base["per_sample_results"][1]["T_decode_per_step"] = [[25.0, 26.0], [24.0]]
    leaves = list(_numeric_leaves(base))
    assert len(leaves) > 60  # every number of the current shape, top level and per sample
    files = {}
    for i, leaf in enumerate(leaves):
        body = json.loads(_dumps(base))
        _put(body, leaf, special)
        folder = f"leaf{i}"
        files[write_raw(hw_root / folder / file_name(folder, "high", 11, 8, 16), _dumps(body))] = leaf
    db = tmp_path / "s.duckdb"
    con = open_rw(db)
    got = outcomes(run(con, hw_root))
    stored = 0
    for path, leaf in files.items():
        outcome, reason = got[str(path)]
        field = next(str(step) for step in reversed(leaf) if isinstance(step, str))
        if outcome == "failed":
            assert "\n" not in reason and field in reason, (leaf, reason)
            continue
        assert outcome == "new", (leaf, outcome, reason)
        diffs = json_diff(json.loads(path.read_text(encoding="utf-8")), rebuild_result(con, str(path)))
        assert not diffs, (leaf, diffs[:3])
        stored += 1
    con.close()
    assert stored > len(leaves) // 2  # floats take NaN and infinities; integer fields refuse them
    _store_answers(db)


# -- nan, inf... (DuckDB's spellings) in free-form values ------------------------------------------

_SPELLINGS = [
    "nan",
    "NAN",
    "-nan",
    "inf",
    "-inf",
    "Inf",
    "INF",
    "iNf",
    "infinity",
    "-INFINITY",
    "NaN",
    "Infinity",
    "-Infinity",
    "-NaN",
    "1e-5",
    "2E+5",
    "null",
    "true",
]
# where the spelling goes, as a replacement of text in the first sample; `X` is the spelling
_PLACES = {
    "metadata_value": ('"question_id": ', '"x": X, "question_id": '),
    "metadata_list": ('"question_id": ', '"x": [1, X], "question_id": '),
    "metadata_itself": ('"metadata": {', '"metadata": X, "ignored": {'),
    "tier_range_value": ('"tier_range": {', '"tier_range": {"x": X, '),
    "unknown_key": ('"pred": ', '"zzz": {"a": [X]}, "pred": '),
    "inside_a_string": ('"question_id": ', '"x": "a,X [X :X", "question_id": '),
}


def test_numbers_spelled_nan_or_inf_in_free_form_values_fail_naming_the_key_and_json_spellings_are_kept(tmp_path):
    """Whatever json.loads rejects fails with a line naming the key; whatever it reads is stored
    and rebuilt exactly (NaN, Infinity and -Infinity, exponents, and look-alikes inside strings)."""
    hw_root = tmp_path / "core_exp_h100"
    head, samples = _dumps(_body(n=3, seed=5)).split('"per_sample_results"')
    files = {}
    for place, (old, new) in _PLACES.items():
        assert old in samples, place
        for i, spelling in enumerate(_SPELLINGS):
            folder = f"{place}{i}"
            text = head + '"per_sample_results"' + samples.replace(old, new.replace("X", spelling), 1)
            path = write_raw(hw_root / folder / file_name(folder, "high", 11, 8, 16), text)
            files[path] = (place, spelling)
    con = open_rw(tmp_path / "s.duckdb")
    got = outcomes(run(con, hw_root))
    failed = 0
    for path, (place, spelling) in files.items():
        outcome, reason = got[str(path)]
        try:
            expected = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            assert outcome == "failed", (place, spelling, outcome)
            key = {"unknown_key": "zzz", "tier_range_value": "tier_range"}.get(place, "metadata")
            assert "\n" not in reason and f"per_sample_results[0].{key}: the number {spelling} " in reason, (place, reason)
            failed += 1
            continue
        assert outcome == "new", (place, spelling, outcome, reason)
        assert not json_diff(expected, rebuild_result(con, str(path))), (place, spelling)
    con.close()
    assert failed == 5 * 11  # eleven spellings JSON does not have, in five places outside strings


# -- duplicate keys below the top level ------------------------------------------------------------


def test_duplicate_keys_inside_values_are_read_as_json_load_reads_them(tmp_path):
    """Duplicate keys at the top level or in a sample fail (test_ingest_bad_input.py); deeper
    down, in metadata or latency_stats, the last one wins, exactly as Python's json reads it."""
    hw_root = tmp_path / "core_exp_h100"
    text = _dumps(_body())
    text = text.replace('"question": ', '"question": "first",\n "question": ', 1)
    text = text.replace('"T_total_mean": ', '"T_total_mean": -1.0, "T_total_mean": ', 1)
    path = write_raw(hw_root / DATASET / file_name(DATASET, "high", 11, 8, 16), text)
    con = open_rw(tmp_path / "s.duckdb")
    assert outcomes(run(con, hw_root))[str(path)] == ("new", None)
    assert not json_diff(json.loads(text), rebuild_result(con, str(path)))


# -- a missing or null samples list ----------------------------------------------------------------


def test_a_result_without_a_samples_list_rebuilds_without_one_and_null_fails(tmp_path):
    """Found by the fuzz test: a damaged key name left a result with no per_sample_results,
    which the store then gave back with an empty one it never had."""
    hw_root = tmp_path / "core_exp_h100"
    missing = _body()
    missing["per_sample_results_old"] = missing.pop("per_sample_results")
    missing_path = write_json(hw_root / "missing" / file_name("missing", "high", 11, 8, 16), missing)
    null = _body()
    null["per_sample_results"] = None
    null_path = write_json(hw_root / "null" / file_name("null", "high", 11, 8, 16), null)
    con = open_rw(tmp_path / "s.duckdb")
    got = outcomes(run(con, hw_root))
    assert got[str(missing_path)] == ("new", None)
    assert not json_diff(missing, rebuild_result(con, str(missing_path)))
    outcome, reason = got[str(null_path)]
    assert outcome == "failed" and "per_sample_results" in reason and "null" in reason


# -- 100,000-deep nesting inside a sample ----------------------------------------------------------


@pytest.mark.parametrize("where", ["metadata", "unknown_key"])
def test_100k_deep_nesting_inside_a_sample_fails_that_file_only(tmp_path, where):
    """In a child process: a parser that recursed that deep would crash the process."""
    hw_root = tmp_path / "core_exp_h100"
    good = _good(hw_root)
    nested = "[" * 100_000 + "]" * 100_000
    anchor = '"question": ' if where == "metadata" else '"pred": '  # inside metadata, or a key of its own
    deep = _dumps(_body()).replace(anchor, f'"deep": {nested}, {anchor}', 1)
    bad = write_raw(hw_root / "deep" / file_name("deep", "high", 11, 8, 16), deep)
    db = tmp_path / "s.duckdb"
    proc = subprocess.run([*CLI, "ingest", str(hw_root), "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-1000:])
    assert "Traceback" not in proc.stderr
    lines = _lines_naming(proc.stderr, bad)
    assert len(lines) == 1 and "nest" in lines[0], lines
    con = open_store(db)
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {str(good): "ingested", str(bad): "failed"}
    con.close()


# -- symlink loops ---------------------------------------------------------------------------------


def test_symlink_loops_in_the_tree_are_named_and_never_followed(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    good = _good(hw_root)
    folder = good.parent
    os.symlink("..", folder / "up")  # a folder loop: core_exp_h100/okvqa/up/okvqa/up/...
    os.symlink(hw_root, folder / "root_again")
    looping = folder / file_name(DATASET, "high", 11, 8, 16)
    os.symlink(looping.name, looping)  # a file that is a link to itself
    dangling = folder / file_name(DATASET, "medium", 5, 6, 14)
    os.symlink("no_such_file.json", dangling)
    db = tmp_path / "s.duckdb"
    result = _cli_ingest(hw_root, db)
    assert result.exit_code == 1, result.output
    for path, words in ((looping, "symbolic links"), (dangling, "no such file")):
        lines = _lines_naming(result.stderr, path)
        assert len(lines) == 1 and lines[0].startswith("failed: ") and words in lines[0].lower(), lines
    totals = json.loads(result.stdout)[0]
    assert totals["files_new"] == 1 and totals["files_failed"] == 2 and totals["samples_added"] == 2
    con = open_store(db)
    assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 3  # nothing reached through the loops
    con.close()


# -- a folder that cannot be listed ------------------------------------------------------------------


def _two_datasets(hw_root: Path) -> tuple[Path, Path]:
    kept = _good(hw_root)
    hidden = write_json(
        hw_root / "text-vqa" / file_name("text-vqa", "low", 2, 4, 12), make("text-vqa", "low", 4, 12, n=3, seed=2)
    )
    return kept, hidden


def _check_unlisted_folder(result, db: Path, kept: Path, hidden: Path) -> None:
    assert result.exit_code == 1, result.output
    lines = _lines_naming(result.stderr, hidden.parent)
    assert len(lines) == 1 and lines[0].startswith("failed: ") and "permission denied" in lines[0].lower(), result.stderr
    con = open_store(db)
    # not listed is not gone: --prune keeps what the store holds of it
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {str(kept): "ingested", str(hidden): "ingested"}
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 5
    con.close()


def test_a_folder_that_cannot_be_listed_is_named_and_its_stored_files_are_not_pruned(tmp_path, monkeypatch):
    """Simulated (as root, chmod 000 does not stop reading): listing the folder is refused."""
    hw_root = tmp_path / "core_exp_h100"
    kept, hidden = _two_datasets(hw_root)
    db = tmp_path / "s.duckdb"
    assert _cli_ingest(hw_root, db).exit_code == 0
    real_scandir = os.scandir

    def refusing(path="."):
        if str(path) == str(hidden.parent):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    result = CliRunner().invoke(app, ["ingest", str(hw_root), "--db", str(db), "--prune"])
    monkeypatch.undo()
    _check_unlisted_folder(result, db, kept, hidden)


def test_a_folder_without_permissions_is_named_and_its_stored_files_are_not_pruned(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    kept, hidden = _two_datasets(hw_root)
    db = tmp_path / "s.duckdb"
    assert _cli_ingest(hw_root, db).exit_code == 0
    hidden.parent.chmod(0)
    try:
        if os.access(hidden.parent, os.R_OK):
            pytest.skip("running as root: a chmod 000 folder stays readable")
        result = CliRunner().invoke(app, ["ingest", str(hw_root), "--db", str(db), "--prune"])
    finally:
        hidden.parent.chmod(0o755)
    _check_unlisted_folder(result, db, kept, hidden)


# -- a name that looks like a result but is not -----------------------------------------------------


def test_a_file_named_like_a_result_that_is_not_one_is_skipped_with_a_warning(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    good = _good(hw_root)
    fake = write_raw(good.parent / file_name(DATASET, "high", 11, 8, 16), json.dumps({"note": "profiling crashed"}))
    other = write_raw(good.parent / "layer_importance_scores.json", json.dumps({"scores": [0.5, 0.25]}))
    db = tmp_path / "s.duckdb"
    result = _cli_ingest(hw_root, db)
    assert result.exit_code == 0, result.output
    lines = _lines_naming(result.stderr, fake)
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "result" in lines[0], result.stderr
    assert not _lines_naming(result.stderr, other)  # an ordinary non-result is skipped quietly
    con = open_store(db)
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {
        str(good): "ingested",
        str(fake): "skipped",
        str(other): "skipped",
    }
    con.close()


# -- a 200 MB single object ------------------------------------------------------------------------

_MEASURED_INGEST = r"""
import resource, sys
from budgetdb.cli.app import main
try:
    main()
finally:
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", file=sys.stderr)
"""


@pytest.mark.slow
def test_a_200_mb_result_file_is_ingested_within_3_gb(tmp_path):
    """Ingest needs about 8-12 times the size of the largest file it reads (docs/reliability.md)."""
    hw_root = tmp_path / "core_exp_h100"
    body = make(DATASET, "high", 8, 16, n=150_000, seed=5)
    path = write_json(hw_root / DATASET / file_name(DATASET, "high", 11, 8, 16), body)
    size = path.stat().st_size
    assert size > 200_000_000, size
    db = tmp_path / "s.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED_INGEST, "ingest", str(hw_root), "--db", str(db), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak = int(proc.stderr.rsplit("peak_rss_mb=", 1)[1].split()[0])
    print(f"\n{size / 2**20:.0f} MB file: ingest took {json.loads(proc.stdout)[0]['seconds']} s, peak RSS {peak} MB")
    assert peak < 3072
    con = open_store(db)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 150_000
    con.close()


def test_an_infinite_accuracy_in_one_sample_leaves_the_uncertain_report_standing(tmp_path):
    rng = np.random.default_rng(0)
    runs = []
    for tier, k, acc, lat in (("low", 2, 0.4, 120), ("high", 2, 0.45, 130), ("medium", 4, 0.65, 210)):
        accuracy = (rng.random(40) < acc).astype(float)
        if tier == "medium":
            accuracy[0] = math.inf
        runs.append(config_run(DATASET, tier, k, 16, accuracy, rng.normal(lat, 10, 40), rng.normal(60, 5, 40)))
    db = store_with(tmp_path / "s.duckdb", runs)
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--resamples", "30", "--format", "json"])
    assert result.exit_code == 0, result.output[-500:]
