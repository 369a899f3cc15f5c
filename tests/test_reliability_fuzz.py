"""Fuzz: random per-sample records, and random byte-level damage to a valid result file.
Whatever the bytes, ingest either stores the file faithfully (rebuild_result equals json.loads
of the bytes) or fails that one file with a one-line reason; it never crashes, never stores
what json.loads cannot read, and never changes a row of another file.

The fast variants are derandomized (the same examples on every run, so CI cannot flake);
`pytest -m slow` runs many more, freshly random each time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetdb.store.rebuild import rebuild_result

from ingest_support import file_name, json_diff, make, open_rw, outcomes, run, write_json

DATASET = "okvqa"
VIEWS = ("samples", "config_runs", "files")
FAST = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


class _Store:
    """A store holding a few files, and the one path every example is written to (same folder,
    so a damaged file can even claim another file's configuration)."""

    def __init__(self, root: Path):
        hw_root = root / "core_exp_h100"
        self.others = [
            write_json(hw_root / DATASET / file_name(DATASET, "low", 2, k, 12), make(DATASET, "low", k, 12, n=3, seed=k))
            for k in (4, 6, 8)
        ]
        self.path = hw_root / DATASET / file_name(DATASET, "high", 11, 8, 16)
        self.con = open_rw(root / "s.duckdb")
        run(self.con, hw_root)
        self.before = self._others_digest()
        self._clock = itertools.count(1)

    def _others_digest(self) -> str:
        digest = hashlib.sha256()
        for table, order in (("file_records", "file_id"), ("sample_records", "file_id, ordinal")):
            rows = self.con.execute(
                f"SELECT * FROM {table} WHERE file_id IN (SELECT file_id FROM file_records WHERE list_contains($p, path)) "
                f"ORDER BY {order}",
                {"p": [str(p) for p in self.others]},
            ).fetchall()
            digest.update(repr(rows).encode())
        return digest.hexdigest()

    def check(self, data: bytes) -> str:
        """Ingest `data` as the example file; judge the result against json.loads; return the outcome."""
        self.path.write_bytes(data)
        # a fresh mtime every time: two examples of the same size written within one clock tick
        # would otherwise look unchanged (a documented limit of size+mtime change detection)
        stamp = 1_700_000_000_000_000_000 + next(self._clock) * 1_000_000_000
        os.utime(self.path, ns=(stamp, stamp))
        try:
            expected = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            expected = _INVALID
        outcome, reason = outcomes(run(self.con, self.path))[str(self.path)]
        status = self.con.execute("SELECT status FROM file_records WHERE path = $p", {"p": str(self.path)}).fetchone()
        if outcome == "failed":
            assert reason and "\n" not in reason, reason
        elif outcome == "skipped":
            assert expected is not _INVALID, "skipped a file json.loads cannot read"
            assert isinstance(expected, dict), expected
            assert not (
                isinstance(expected.get("per_sample_results"), list) or {"top_k", "num_active_blocks"} <= expected.keys()
            ), "skipped a configuration result"
        else:
            assert outcome in ("new", "updated", "unchanged"), (outcome, reason)
            assert expected is not _INVALID, f"stored a file json.loads cannot read ({outcome})"
            assert status == ("ingested",), status
            diffs = json_diff(expected, rebuild_result(self.con, str(self.path)))
            assert not diffs, diffs[:5]
        for view in VIEWS:
            self.con.execute(f"SELECT * FROM {view}").fetchall()
        assert self._others_digest() == self.before, "a row of another file changed"
        return outcome


_INVALID = object()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    made = _Store(tmp_path_factory.mktemp("fuzz"))
    yield made
    made.con.close()


# -- random per-sample records -------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_floats = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 1e308, -1e-308, 5e-324, 3_600_000.5]))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), _floats, _text)
_any = st.recursive(
    _scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)), max_leaves=8
)
# every key the harness writes, plus keys of the older shapes, plus anything
_KEYS = st.one_of(
    st.sampled_from(
        list(make(DATASET, "high", 8, 16, n=1, seed=0)["per_sample_results"][0])
        + ["T_vision_encoder", "T_projector", "input_text_tokens", "Pred", "t_total"]
    ),
    _text,
)


def _typical(key: str):
    """A value of the kind the harness writes for `key` (so most records get past the types)."""
    sample = make(DATASET, "high", 8, 16, n=1, seed=0)["per_sample_results"][0]
    if key not in sample or sample[key] is None:
        return _any
    value = sample[key]
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-(2**63), 2**63 - 1)
    if isinstance(value, float):
        return _floats
    if isinstance(value, str):
        return _text
    if key in ("actual_image_size", "actual_tiling"):
        return st.one_of(st.none(), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3))
    if key == "T_decode_per_step":
        return st.lists(st.lists(_floats, max_size=3), max_size=3)
    return _any


@st.composite
def _records(draw):
    records = []
    for _ in range(draw(st.integers(0, 4))):
        record = {}
        for key in draw(st.lists(_KEYS, max_size=12, unique=True)):
            record[key] = draw(st.one_of(_typical(key), _any) if draw(st.booleans()) else _typical(key))
        records.append(record)
    return records


def _with_records(records) -> bytes:
    body = make(DATASET, "high", 8, 16, n=1, seed=1)
    body["per_sample_results"] = records
    return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")


@FAST
@given(records=_records())
def test_random_sample_records_are_stored_faithfully_or_fail_alone(store, records):
    store.check(_with_records(records))


@pytest.mark.slow
@LONG
@given(records=_records())
def test_random_sample_records_long(store, records):
    store.check(_with_records(records))


# -- random damage to a valid file ---------------------------------------------------------------


def _valid_file() -> bytes:
    body = make(DATASET, "high", 8, 16, n=3, seed=2)
    body["per_sample_results"][1]["T_LLM_prefill"] = math.nan  # NaN/Infinity as the harness writes them
    body["per_sample_results"][2]["T_total"] = math.inf
    body["actual_vision_tokens_std"] = math.nan
    return json.dumps(body, indent=2).encode("utf-8")


VALID = _valid_file()
_edit = st.tuples(
    # digit and letter swaps often keep the JSON valid (other numbers, renamed keys, other text)
    st.sampled_from(["digit", "letter", "digit", "letter", "replace", "insert", "delete", "duplicate", "truncate"]),
    st.floats(0, 1, exclude_max=True),
    st.one_of(
        st.binary(min_size=1, max_size=4),
        st.sampled_from(
            [
                b"NaN",
                b"-Infinity",
                b"nan",
                b"inf",
                b"null",
                b"[",
                b"]",
                b"{",
                b"}",
                b'"',
                b",",
                b"\\",
                b"\xff",
                b"\xc3",
                b"0",
                b"-",
                b"1e999",
                b"true",
            ]
        ),
    ),
    st.integers(1, 64),
)


_DIGITS = b"0123456789"
_LETTERS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"


def _damage(data: bytes, edits) -> bytes:
    for kind, where, chunk, length in edits:
        at = int(where * len(data)) if data else 0
        if kind in ("digit", "letter"):
            alphabet = _DIGITS if kind == "digit" else _LETTERS
            spots = [i for i, byte in enumerate(data) if byte in alphabet]
            if spots:
                at = spots[int(where * len(spots))]
                data = data[:at] + alphabet[length % len(alphabet) :][:1] + data[at + 1 :]
        elif kind == "replace":
            data = data[:at] + chunk + data[at + len(chunk) :]
        elif kind == "insert":
            data = data[:at] + chunk + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + length :]
        elif kind == "duplicate":
            data = data[: at + length] + data[at:]
        else:
            data = data[:at]
    return data


@FAST
@given(edits=st.lists(_edit, min_size=1, max_size=4))
def test_damaged_files_are_stored_faithfully_or_fail_alone(store, edits):
    store.check(_damage(VALID, edits))


@pytest.mark.slow
@LONG
@given(edits=st.lists(_edit, min_size=1, max_size=4))
def test_damaged_files_long(store, edits):
    store.check(_damage(VALID, edits))
