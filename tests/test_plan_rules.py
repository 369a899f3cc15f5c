"""The decision rules of store/plan.py on plan data alone: no JSON file, no store.

Each case is a configuration's files (shard rank, status stored before, on disk or not, the
samples each holds) and what must become of each one."""

from __future__ import annotations

import pytest

from budgetdb.store.examples import Examples, Sample
from budgetdb.store.plan import Decision, Member, Stored, classify, decide_group, variant_of


def files(*specs) -> Examples:
    """Samples as (example_id, sample_id, measurement) triples; a measurement is any number."""
    return Examples(tuple(Sample(e, s, (m,)) for e, s, m in specs))


def member(path, *samples, rank=None, stored=None, on_disk=True, ids=True) -> Member:
    examples = files(*samples) if ids else Examples(tuple(Sample(None, s, (m,)) for _, s, m in samples))
    return Member(path, f"exp/okvqa/{path}", rank, stored, on_disk, examples)


A = ((1, 0, 0.1), (2, 1, 0.2), (3, 2, 0.3), (4, 3, 0.4))  # a merged run of four examples
SUBSET = ((2, 1, 0.2), (4, 3, 0.4))  # two of them, copied by the recovery tool
OTHER_HALF = ((5, 0, 0.5), (6, 1, 0.6))
REMEASURED = ((1, 0, 9.1), (2, 1, 9.2), (3, 2, 9.3), (4, 3, 9.4))

CASES = {
    "one merged file": ([member("m.json", *A)], {"m.json": "ingested"}),
    "a recovery file within the merged file is superseded by it": (
        [member("m.json", *A), member("r.json", *SUBSET)],
        {"m.json": "ingested", "r.json": ("superseded", "its samples are all in exp/okvqa/m.json")},
    ),
    "the larger file wins whatever the order of names": (
        [member("a.json", *SUBSET), member("z.json", *A)],
        {"a.json": ("superseded", "its samples are all in exp/okvqa/z.json"), "z.json": "ingested"},
    ),
    "a zero-sample file is within any other": (
        [member("m.json", *A), member("empty.json")],
        {"m.json": "ingested", "empty.json": ("superseded", "its samples are all in exp/okvqa/m.json")},
    ),
    "two copies: the one stored before stays": (
        [member("a.json", *A), member("b.json", *A, stored="ingested")],
        {"a.json": ("superseded", "same samples as exp/okvqa/b.json"), "b.json": "ingested"},
    ),
    "disjoint examples are pooled": (
        [member("a.json", *A), member("b.json", *OTHER_HALF)],
        {"a.json": "ingested", "b.json": "ingested"},
    ),
    "an example measured twice differently fails the whole configuration": (
        [member("a.json", *A), member("b.json", *REMEASURED), member("m.json_rank0", *SUBSET, rank=0)],
        {
            path: (
                "failed",
                "exp/okvqa/a.json and exp/okvqa/b.json both hold example_id 1 with different measurements "
                "and neither holds all the other's samples; remove one of them (then ingest with --prune)",
            )
            for path in ("a.json", "b.json", "m.json_rank0")
        },
    ),
    "padding across two recovery files: first of one share, last of another": (
        # 3 examples on 2 GPUs: shares [1, 3] and [2, 1]; the recovery tool wrote each rank apart
        [member("r0.json", (1, 0, 0.1), (3, 1, 0.3)), member("r1.json", (2, 0, 0.2), (1, 1, 0.7))],
        {"r0.json": "ingested", "r1.json": "ingested"},
    ),
    "the same example differently in the middle of shares is no padding": (
        [member("r0.json", (1, 0, 0.1), (3, 1, 0.3), (4, 2, 0.4)), member("r1.json", (2, 0, 0.2), (3, 1, 0.9), (5, 2, 0.5))],
        {
            path: ("failed", "exp/okvqa/r0.json and exp/okvqa/r1.json both hold example_id 3 with different measurements")
            for path in ("r0.json", "r1.json")
        },
    ),
    "as many padded examples as shares is no padding": (
        [member("r0.json", (1, 0, 0.1), (2, 1, 0.2)), member("r1.json", (2, 0, 0.8), (1, 1, 0.9))],
        {path: ("failed", "both hold example_id 1 with different measurements") for path in ("r0.json", "r1.json")},
    ),
    "a copy of a sample in two otherwise disjoint files is no conflict": (
        [member("a.json", (1, 0, 0.1), (2, 1, 0.2)), member("b.json", (2, 1, 0.2), (3, 2, 0.3))],
        {"a.json": "ingested", "b.json": "ingested"},
    ),
    "without example_id: the file stored before stays, the others fail as before": (
        [member("a.json", *A, ids=False), member("b.json", *A, ids=False, stored="ingested")],
        {
            "a.json": (
                "failed",
                "same configuration as exp/okvqa/b.json; without a metadata.example_id in every sample "
                "a folder holds one merged file per configuration",
            ),
            "b.json": "ingested",
        },
    ),
    "shards are superseded by a counted file": (
        [member("m.json", *A), member("s0.json", *SUBSET, rank=0), member("s1.json", *OTHER_HALF, rank=1)],
        {
            "m.json": "ingested",
            "s0.json": ("superseded", "superseded by merged file exp/okvqa/m.json"),
            "s1.json": ("superseded", "superseded by merged file exp/okvqa/m.json"),
        },
    ),
    "shards alone are pooled, one per rank (the one stored before keeps it)": (
        [
            member("s0a.json", *SUBSET, rank=0),
            member("s0b.json", *SUBSET, rank=0, stored="ingested"),
            member("s1.json", *OTHER_HALF, rank=1),
        ],
        {
            "s0a.json": ("failed", "repeats shard rank 0 of exp/okvqa/s0b.json"),
            "s0b.json": "ingested",
            "s1.json": "ingested",
        },
    ),
    "a file gone from disk keeps its samples until another holds them": (
        [member("m.json", *A, stored="ingested", on_disk=False), member("r.json", *SUBSET)],
        {"m.json": "ingested", "r.json": ("superseded", "its samples are all in exp/okvqa/m.json")},
    ),
    "a file gone from disk that holds no samples takes no part": (
        [member("old.json", *A, stored="superseded", on_disk=False), member("r.json", *SUBSET)],
        {"r.json": "ingested"},
    ),
}


@pytest.mark.parametrize("members, expected", list(CASES.values()), ids=list(CASES))
def test_decide_group(members, expected):
    got = decide_group(members)
    assert set(got) == set(expected)
    for path, want in expected.items():
        status, reason = (want, None) if isinstance(want, str) else want
        assert got[path].status == status, path
        if reason is None:
            assert got[path].reason is None, path
        else:
            assert reason in got[path].reason, path
        assert got[path].conflict == (status == "failed" and "different measurements" in (reason or "")), path


def test_a_conflict_is_marked_as_one():
    got = decide_group([member("a.json", *A), member("b.json", *REMEASURED)])
    assert {d.conflict for d in got.values()} == {True}
    assert decide_group([member("a.json", *A)]) == {"a.json": Decision("ingested")}


def _stored(size=10, mtime=1.0, sha256="x", status="ingested") -> Stored:
    return Stored(1, "/p", "p", "/", size, mtime, sha256, status, None, None, None, "h100", "", "okvqa")


@pytest.mark.parametrize(
    "size, mtime, stored, expected",
    [
        (10, 1.0, None, "read"),  # new
        (10, 1.0, _stored(), "keep"),  # as stored
        (11, 1.0, _stored(), "read"),  # grew
        (10, 2.0, _stored(), "read"),  # touched: the sha256 says whether it changed
        (10, 1.0, _stored(sha256=None, status="failed"), "read"),  # failed being read: try again
        (10, 1.0, _stored(status="failed"), "keep"),  # failed for its bytes: until they change
        (10, 1.0, _stored(sha256=None, status="superseded"), "keep"),
        (2000, 1.0, None, "too_big"),
        (2000, 1.0, _stored(size=2000), "keep"),
    ],
)
def test_classify(size, mtime, stored, expected):
    assert classify(size, mtime, stored, max_bytes=1000) == expected


@pytest.mark.parametrize(
    "tier, name_variant, image_size, max_crops, expected",
    [
        ("high", "imgsize560x336", "560x336", 15, "high"),
        (None, "imgsize560x336", None, 2, "imgsize560x336"),  # the file name's size wins over max_crops
        (None, None, "336x560", 2, "imgsize336x560"),  # else the samples' theoretical_image_size
        (None, "visiontoken1296", None, 12, "visiontoken1296"),
        (None, None, None, 2, "max_crops=2"),
        (None, None, None, None, "unknown"),
    ],
)
def test_variant_of(tier, name_variant, image_size, max_crops, expected):
    assert variant_of(tier, name_variant, image_size, max_crops) == expected
