"""Bad input: each bad file fails alone with one line naming it and the problem, the other
files ingest, exit code 1 with a summary, and no traceback (unless --debug)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app
from budgetdb.store import open_store
from budgetdb.store.ingest import IngestOptions, ingest

from ingest_support import file_name, make, open_rw, outcomes, refuse_to_open, run, write_json, write_raw

DATASET = "okvqa"


def _good(folder: Path) -> Path:
    return write_json(folder / file_name(DATASET, "low", 2, 4, 12), make(DATASET, "low", 4, 12, n=2, seed=1))


def _json_with(change) -> str:
    body = make(DATASET, "high", 8, 16, n=3, seed=2)
    change(body)
    return json.dumps(body, indent=2)


def _sample(i: int, key: str, value):
    def change(body):
        body["per_sample_results"][i][key] = value

    return change


def _every_sample(key: str, value):
    def change(body):
        for sample in body["per_sample_results"]:
            sample[key] = value

    return change


def _top(key: str, value=None, delete: bool = False):
    def change(body):
        if delete:
            del body[key]
        else:
            body[key] = value

    return change


def _duplicate_top_level_key() -> str:
    text = _json_with(lambda b: None)
    return text.replace('"top_k": 8,', '"top_k": 8,\n  "top_k": 6,', 1)


def _comma_before(closing: str) -> str:
    """A comma right before a closing bracket in the first sample's metadata (its answers list,
    or the object itself): JSON refuses it, DuckDB's reader takes it."""
    end_of_answers = "\n        ]\n      },\n"
    text = _json_with(lambda b: None)
    assert end_of_answers in text
    if closing == "]":
        return text.replace(end_of_answers, ",\n        ]\n      },\n", 1)
    return text.replace(end_of_answers, "\n        ],\n      },\n", 1)


def _duplicate_sample_key() -> str:
    text = _json_with(lambda b: None)
    return text.replace('"pred": ', '"pred": "first",\n      "pred": ', 1)


# (id, file content as text or bytes, words of which the reason must contain at least one per group)
CASES = [
    ("empty", "", [("empty",)]),
    ("whitespace_only", "  \n\t\n", [("empty", "no json")]),
    ("truncated", _json_with(lambda b: None)[:1500], [("truncated", "unexpected end", "malformed", "incomplete")]),
    ("invalid", '{"top_k": 8, "num_active_blocks": 16, "per_sample_results": [}', [("malformed", "invalid", "unexpected")]),
    ("binary", bytes(range(256)) * 4, [("malformed", "invalid", "binary", "utf-8")]),
    (
        "invalid_utf8",
        _json_with(lambda b: None).replace('"pred": "', '"pred": "\udcff', 1).encode("utf-8", "surrogateescape"),
        [("utf-8", "utf8", "encoding")],
    ),
    ("top_level_array", "[1, 2, 3]", [("array", "list")]),
    ("top_level_number", "42", [("object",)]),
    ("top_level_string", '"hello"', [("object",)]),
    ("top_level_null", "null", [("object",)]),
    ("two_values", '{"top_k": 8} {"top_k": 6}', [("one", "values", "trailing", "extra")]),
    ("string_for_number_one_sample", _json_with(_sample(1, "T_total", "12.5")), [("T_total",), ("number", "string")]),
    ("string_for_number_every_sample", _json_with(_every_sample("T_total", "12.5")), [("T_total",), ("number", "string")]),
    ("float_for_integer_top_k", _json_with(_top("top_k", 8.5)), [("top_k",), ("integer",)]),
    ("float_for_integer_tokens", _json_with(_sample(0, "output_tokens", 2.5)), [("output_tokens",), ("integer",)]),
    ("string_for_top_k", _json_with(_top("top_k", "8")), [("top_k",), ("integer", "string")]),
    ("null_top_k", _json_with(_top("top_k", None)), [("top_k",), ("null", "value")]),
    ("missing_top_k", _json_with(_top("top_k", delete=True)), [("top_k",), ("missing",)]),
    ("missing_blocks", _json_with(_top("num_active_blocks", delete=True)), [("num_active_blocks",), ("missing",)]),
    ("number_for_tier", _json_with(_top("tier", 5)), [("tier",), ("string",)]),
    ("object_for_samples", _json_with(_top("per_sample_results", {"a": 1})), [("per_sample_results",), ("list", "array")]),
    ("numbers_for_samples", _json_with(_top("per_sample_results", [1, 2])), [("per_sample_results",), ("object",)]),
    ("string_for_steps", _json_with(_sample(1, "T_decode_per_step", "abc")), [("T_decode_per_step",)]),
    ("strings_in_image_size", _json_with(_sample(1, "actual_image_size", ["a", "b"])), [("actual_image_size",)]),
    ("int_for_bool", _json_with(_sample(0, "ends_with_eos", 1)), [("ends_with_eos",)]),
    ("duplicate_top_level_key", _duplicate_top_level_key(), [("duplicate", "twice"), ("top_k",)]),
    ("duplicate_sample_key", _duplicate_sample_key(), [("duplicate", "twice"), ("pred",)]),
    ("comma_before_bracket_in_a_sample", _comma_before("]"), [("not valid json",), ("line",)]),
    ("comma_before_brace_in_metadata", _comma_before("}"), [("not valid json",), ("line",)]),
]


def _assert_names_problem(reason: str, groups) -> None:
    assert reason and "\n" not in reason, reason
    for words in groups:
        assert any(w.lower() in reason.lower() for w in words), (reason, words)


@pytest.mark.parametrize("content, groups", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_fails_alone_with_a_one_line_reason(tmp_path, content, groups):
    folder = tmp_path / "core_exp_h100" / "exp" / DATASET
    good = _good(folder)
    bad = write_raw(folder / file_name(DATASET, "high", 11, 8, 16), content)
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "core_exp_h100"), "--db", str(db), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if str(bad) in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("failed: ")
    totals = json.loads(result.stdout)[0]
    assert totals["files_failed"] == 1 and totals["files_new"] == 1 and totals["samples_added"] == 2
    con = open_store(db)
    rows = dict((p, (s, r)) for p, s, r in con.execute("SELECT path, status, reason FROM files").fetchall())
    assert rows[str(good)] == ("ingested", None)
    status, reason = rows[str(bad)]
    assert status == "failed"
    assert reason in lines[0]
    _assert_names_problem(reason, groups)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 2
    con.close()


def test_every_bad_file_together_fails_each_and_the_good_ones_land(tmp_path):
    folder = tmp_path / "core_exp_h100" / DATASET
    goods = [
        write_json(folder / file_name(DATASET, "low", 2, k, b), make(DATASET, "low", k, b, n=2, seed=k + b))
        for k, b in ((4, 12), (6, 12), (8, 12))
    ]
    bads = {write_raw(folder / f"{name}.json", content): groups for name, content, groups in CASES}
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, folder)
    got = outcomes(summary)
    assert len(summary.failed) == len(CASES)
    for path, groups in bads.items():
        outcome, reason = got[str(path)]
        assert outcome == "failed", path.name
        _assert_names_problem(reason, groups)
    assert all(got[str(p)] == ("new", None) for p in goods)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 6


def test_unreadable_file_fails_with_a_reason(tmp_path):
    folder = tmp_path / "core_exp_h100" / DATASET
    good = _good(folder)
    bad = write_json(folder / file_name(DATASET, "high", 11, 8, 16), make(DATASET, "high", 8, 16, n=2))
    bad.chmod(0)
    try:
        try:
            bad.open("rb").close()
            pytest.skip("running as root: a chmod 000 file stays readable")
        except PermissionError:
            pass
        con = open_rw(tmp_path / "s.duckdb")
        summary = run(con, folder)
        outcome, reason = outcomes(summary)[str(bad)]
        assert outcome == "failed" and "\n" not in reason
        assert "permission" in reason.lower() or "read" in reason.lower()
        assert outcomes(summary)[str(good)] == ("new", None)
    finally:
        bad.chmod(0o644)


def test_unreadable_file_simulated_fails_with_a_reason(tmp_path, monkeypatch):
    """As root chmod 000 is readable anyway; make open() refuse the file the way the kernel would."""
    folder = tmp_path / "core_exp_h100" / DATASET
    good = _good(folder)
    bad = write_json(folder / file_name(DATASET, "high", 11, 8, 16), make(DATASET, "high", 8, 16, n=2))
    refuse_to_open(monkeypatch, bad)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, folder)
    outcome, reason = outcomes(summary)[str(bad)]
    assert outcome == "failed" and "permission denied" in reason.lower() and "\n" not in reason
    assert outcomes(summary)[str(good)] == ("new", None)


def test_oversized_file_fails_without_being_read(tmp_path):
    folder = tmp_path / "core_exp_h100" / DATASET
    good = _good(folder)
    big = write_json(folder / file_name(DATASET, "high", 11, 8, 16), make(DATASET, "high", 8, 16, n=40))
    limit = good.stat().st_size + 1
    assert big.stat().st_size > limit
    con = open_rw(tmp_path / "s.duckdb")
    summary = ingest(con, [folder], IngestOptions(max_file_bytes=limit))
    outcome, reason = outcomes(summary)[str(big)]
    assert outcome == "failed" and "limit" in reason.lower() and "\n" not in reason
    assert outcomes(summary)[str(good)] == ("new", None)
    assert summary.bytes_read == good.stat().st_size  # the big file was never read
    assert con.execute("SELECT status FROM files WHERE path = $p", {"p": str(big)}).fetchone() == ("failed",)


def test_oversized_reason_gives_sizes_that_make_sense(tmp_path):
    folder = tmp_path / "core_exp_h100" / DATASET
    big = write_json(folder / file_name(DATASET, "high", 11, 8, 16), make(DATASET, "high", 8, 16, n=40))
    con = open_rw(tmp_path / "s.duckdb")
    summary = ingest(con, [folder], IngestOptions(max_file_bytes=10_000))
    _, reason = outcomes(summary)[str(big)]
    # a 10 KB limit must not read "0 MB, over the 0 MB limit"
    assert "0 MB limit" not in reason, reason


def test_strict_failure_is_one_error_line_and_a_traceback_only_with_debug(tmp_path):
    folder = tmp_path / "core_exp_h100" / DATASET
    _good(folder)
    bad = write_raw(folder / "broken.json", "{")
    db = str(tmp_path / "s.duckdb")
    plain = CliRunner().invoke(app, ["ingest", str(folder), "--db", db, "--strict"])
    assert plain.exit_code == 1
    assert "Traceback" not in plain.output
    errors = [line for line in plain.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and str(bad) in errors[0] and "unchanged" in errors[0]
    debug = CliRunner().invoke(app, ["--debug", "ingest", str(folder), "--db", db, "--strict"])
    assert debug.exit_code != 0
    assert debug.exception is not None and not isinstance(debug.exception, SystemExit)


_DEEP_CASES = {
    "top_level_key_10k": lambda: (
        '{"top_k": 8, "num_active_blocks": 16, "x": ' + "[" * 10_000 + "]" * 10_000 + ', "per_sample_results": []}'
    ),
    "sample_metadata_10k": lambda: (
        '{"top_k": 8, "num_active_blocks": 16, "per_sample_results": [{"metadata": '
        + '{"a": ' * 10_000
        + "1"
        + "}" * 10_000
        + "}]}"
    ),
    "whole_file_100k": lambda: "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("kind", sorted(_DEEP_CASES))
def test_deeply_nested_json_fails_that_file_only(tmp_path, kind):
    """Run in a subprocess: a crash of the process (DuckDB's parser) must not take pytest down."""
    folder = tmp_path / "core_exp_h100" / DATASET
    good = _good(folder)
    deep = write_raw(folder / file_name(DATASET, "high", 11, 8, 16), _DEEP_CASES[kind]())
    db = tmp_path / "s.duckdb"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from budgetdb.cli.app import main; main()",
            "ingest",
            str(folder),
            "--db",
            str(db),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode >= 0, f"process died with signal {-proc.returncode}"
    assert "Traceback" not in proc.stderr, proc.stderr[-600:]
    assert proc.returncode == 1, proc.stderr[-600:]
    failed = [line for line in proc.stderr.splitlines() if str(deep) in line]
    assert len(failed) == 1 and failed[0].startswith("failed: ")
    assert "nest" in failed[0].lower() or "deep" in failed[0].lower(), failed[0]
    con = open_store(db)
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {str(good): "ingested", str(deep): "failed"}
    con.close()
    assert os.path.exists(db)


def test_brackets_and_escapes_inside_strings_are_not_nesting(tmp_path):
    """A legitimate file whose strings hold thousands of brackets, quotes and backslashes ingests."""
    body = make(DATASET, "high", 8, 16, n=3, seed=3)
    texts = ["[" * 5000 + "{" * 5000, '\\"[[[' * 2000 + "\\", '"' + "\\" * 3 + '"[' * 3000, "]" * 100 + "[" * 100]
    body["per_sample_results"][0]["pred"] = texts[0]
    body["per_sample_results"][1]["metadata"]["question"] = texts[1]
    body["per_sample_results"][2]["metadata"]["answers"] = texts[2:]
    body["note"] = "}" * 70 + "{" * 70
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), body)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert outcomes(summary)[str(path)] == ("new", None)
    got = con.execute("SELECT pred, metadata->>'$.question', metadata->'$.answers' FROM samples ORDER BY ordinal").fetchall()
    assert got[0][0] == texts[0] and got[1][1] == texts[1] and json.loads(got[2][2]) == texts[2:]


def test_nesting_a_little_deeper_than_the_shape_needs_is_accepted(tmp_path):
    """Unknown keys may hold modestly nested values (here about 25 levels in all): not an error."""
    body = make(DATASET, "high", 8, 16, n=2, seed=4)
    nested = 1
    for _ in range(11):
        nested = {"k": [nested]}
    body["per_sample_results"][0]["debug_trace"] = nested
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), body)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert outcomes(summary)[str(path)] == ("new", None)
