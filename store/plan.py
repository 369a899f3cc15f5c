"""What an ingest will do, decided before anything is written: pure functions and the frozen plan.

`planner.make_plan` gathers the facts (files on disk, their stored records, fingerprints, first
looks, the samples of files that share a configuration) and calls the rules here; `apply`
writes the plan. The rules, as docs/schema.md states them:

- a file whose size and mtime are as stored is not read again (`classify`);
- a configuration's variant is its tier, else the image size (file name, else the samples'
  theoretical_image_size) or vision-token target of the file name, else max_crops (`variant_of`);
- within a configuration (`decide_group`): shards (`_rank<R>`) are superseded by any counted
  non-shard file, else pooled one per rank; several non-shard files are decided by their samples
  (example_id and measurement): a file whose samples are all in another is superseded by it,
  the rest are pooled, unless two of them hold one example with different measurements that no
  padding of the multi-GPU sampler explains: then the whole configuration fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import combinations

from .discover import Candidate
from .examples import Examples
from .fingerprint import Read
from .firstlook import Inspection


class Action(StrEnum):
    INGEST = "ingest"  # its samples are stored: the configuration's one counted file
    POOL = "pool"  # its samples are stored with those of the configuration's other counted files
    SUPERSEDE = "supersede"  # no samples stored: another file holds them (the reason names it)
    SKIP = "skip"  # not a configuration result
    FAIL = "fail"
    PRUNE = "prune"  # gone from disk (or another spelling of a stored file): its rows are removed
    VANISH = "vanish"  # gone from disk, kept in the store (no --prune)
    TOUCH = "touch"  # same bytes, new size or mtime: only those are updated
    MOVE = "move"  # a stored file found under a new path (same bytes): its rows follow it
    KEEP = "keep"  # nothing to do


VANISHED = "no longer on disk; use --prune to remove it from the store"
OUTCOME_OF_STATUS = {"ingested": "new", "superseded": "superseded", "failed": "failed", "skipped": "skipped"}


@dataclass(frozen=True)
class Stored:
    """A file_records row, as planning needs it."""

    file_id: int
    path: str
    rel_path: str
    root: str
    size: int
    mtime: float
    sha256: str | None
    status: str
    reason: str | None
    config_run_id: int | None
    rank: int | None
    hardware: str
    experiment: str
    dataset: str

    @property
    def judged(self) -> bool:
        """Was the file's content judged? A failure without sha256 was about reading it
        (permissions, a change under way), not about its bytes: it is read again."""
        return self.sha256 is not None or self.status != "failed"


def classify(size: int, mtime: float, stored: Stored | None, max_bytes: int) -> str:
    """ "keep" (as stored), "too_big", or "read"."""
    if stored is not None and stored.judged and stored.size == size and stored.mtime == mtime:
        return "keep"
    if size > max_bytes:
        return "too_big"
    return "read"


def variant_of(tier: str | None, name_variant: str | None, image_size: str | None, max_crops: int | None) -> str:
    """The vision configuration: the tier; else the image size or vision-token target (they
    are the configuration in files from before tiers, whose max_crops can be equal for two
    sizes: 560x336 and 336x560 both have max_crops 2); else max_crops; else unknown."""
    if tier:
        return tier
    if name_variant:
        return name_variant
    if image_size:
        return f"imgsize{image_size}"
    if max_crops is not None:
        return f"max_crops={max_crops}"
    return "unknown"


# -- one configuration's files --------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A file of a configuration, as the decision sees it."""

    path: str
    rel_path: str
    rank: int | None  # None: not a shard
    stored_status: str | None = None  # before this run; None for a file not stored
    loadable: bool = True  # on disk this run; False: gone, kept in the store (no --prune)
    examples: Examples | None = None  # its samples, for non-shard files of a configuration that has several


@dataclass(frozen=True)
class Decision:
    status: str  # ingested, superseded or failed
    reason: str | None = None
    conflict: bool = False  # failed with the whole configuration: two files measured an example differently


def decide_group(members: Sequence[Member]) -> dict[str, Decision]:
    """Status of every member that takes part (files gone from disk take part only if their
    samples are stored: a superseded or failed one is left as it is and gets no decision)."""
    active = [m for m in members if m.loadable or m.stored_status == "ingested"]
    files = sorted((m for m in active if m.rank is None), key=lambda m: m.path)
    shards = [m for m in active if m.rank is not None]
    decisions: dict[str, Decision] = {}
    if len(files) == 1:
        decisions[files[0].path] = Decision("ingested")
    elif files:
        decided = _decide_files(files)
        if isinstance(decided, str):  # a conflict: the whole configuration fails
            return {m.path: Decision("failed", decided, conflict=True) for m in active}
        decisions.update(decided)
    counted = [m for m in files if decisions[m.path].status == "ingested"]
    if counted:
        for m in shards:
            decisions[m.path] = Decision("superseded", f"superseded by merged file {counted[0].rel_path}")
        return decisions
    holders: dict[int, Member] = {}
    for m in sorted(shards, key=lambda m: (m.rank, m.stored_status != "ingested", m.path)):
        assert m.rank is not None
        if m.rank in holders:
            decisions[m.path] = Decision("failed", f"repeats shard rank {m.rank} of {holders[m.rank].rel_path}")
        else:
            holders[m.rank] = m
            decisions[m.path] = Decision("ingested")
    return decisions


def _decide_files(files: list[Member]) -> dict[str, Decision] | str:
    """Several non-shard files of one configuration: by their samples (or, when some sample has
    no example_id, the one stored before, else the first by path; the others fail)."""
    if any(m.examples is None or not m.examples.identified for m in files):
        keep = next((m for m in files if m.stored_status == "ingested"), files[0])
        why = (
            f"same configuration as {keep.rel_path}; without a metadata.example_id in every sample "
            "a folder holds one merged file per configuration"
        )
        return {m.path: Decision("ingested") if m is keep else Decision("failed", why) for m in files}
    kept: list[Member] = []
    decisions: dict[str, Decision] = {}
    # a file can only be within one at least as large; of equal ones the stored one stays
    for m in sorted(files, key=lambda m: (-len(_samples(m)), m.stored_status != "ingested", m.path)):
        holder = next((k for k in kept if _examples(m).within(_examples(k))), None)
        if holder is None:
            kept.append(m)
        elif _examples(holder).within(_examples(m)):
            decisions[m.path] = Decision("superseded", f"same samples as {holder.rel_path}")
        else:
            decisions[m.path] = Decision("superseded", f"its samples are all in {holder.rel_path}")
    conflict = _conflict(kept)
    if conflict is not None:
        return conflict
    decisions.update({m.path: Decision("ingested") for m in kept})
    return decisions


def _examples(m: Member) -> Examples:
    assert m.examples is not None
    return m.examples


def _samples(m: Member):
    return _examples(m).samples


def _conflict(kept: list[Member]) -> str | None:
    """Files none of which holds another's samples are pooled, unless two of them measured one
    example differently. The multi-GPU sampler's padding does that legitimately: it repeats the
    run's first examples at the end of the last GPUs' shares, so after the recovery tool
    regrouped a crashed run's shards, one file can hold an example as the first sample of a
    share (sample_id 0) and another its repeat as the last (sample_id L-1, every share having L
    samples), for fewer examples than there were shares."""
    last = max((s.sample_id for m in kept for s in _samples(m) if s.sample_id is not None), default=None)
    padded: dict[int, tuple[Member, Member]] = {}
    for a, b in combinations(kept, 2):
        for example in sorted(_examples(a).ids() & _examples(b).ids()):
            mine, theirs = _examples(a).of(example), _examples(b).of(example)
            if _copies(mine, theirs):
                continue  # the same measurement in both files
            if last is not None and len(mine) == len(theirs) == 1 and {mine[0].sample_id, theirs[0].sample_id} == {0, last}:
                padded.setdefault(example, (a, b))
                continue
            return _conflict_reason(a, b, example)
    shares = -(-sum(len(_samples(m)) for m in kept) // ((last or 0) + 1))
    if len(padded) >= shares:  # padding repeats fewer examples than there are shares
        example = min(padded)
        return _conflict_reason(*padded[example], example)
    return None


def _copies(mine, theirs) -> bool:
    a, b = Counter(s.measurement for s in mine), Counter(s.measurement for s in theirs)
    return a <= b or b <= a


def _conflict_reason(a: Member, b: Member, example: int) -> str:
    return (
        f"{a.rel_path} and {b.rel_path} both hold example_id {example} with different measurements "
        "and neither holds all the other's samples; remove one of them (then ingest with --prune)"
    )


# -- the plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file of a configuration group, with every fact its row needs."""

    member: Member
    config_run_id: int
    variant: str | None
    candidate: Candidate | None  # None: gone from disk, kept in the store
    stored: Stored | None  # its row before this run (already at its new path if it moved)
    read: Read | None
    look: Inspection | None  # the judged look (first look or DuckDB's); None when not read
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    config_run_id: int
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Write:
    """One file of a unit: `rewrite` (delete its rows, load its samples if ingested, insert its
    row), `update` (only its status changes: a file whose stored samples another file now holds),
    `failrow` (its row says it failed; it has no stored version to keep) or `keep`."""

    entry: Entry
    status: str
    reason: str | None  # as stored
    mode: str
    action: Action
    outcome: str
    note: str | None = None  # what the run reports, when it is not `reason`
    conflict: bool = False

    @property
    def load(self) -> bool:
        return self.mode == "rewrite" and self.status == "ingested"

    @property
    def said(self) -> str | None:
        return self.note if self.note is not None else self.reason


def settle(group: Group, failed: Mapping[str, str] | None = None) -> tuple[Write, ...]:
    """The writes of a group's files: decided by `decide_group`, with the files in `failed`
    (path -> why; found while writing) out of the decision: a failed file keeps the version stored
    before, if any, as if it were gone from disk."""
    failed = failed or {}
    members = []
    for e in group.entries:
        if e.member.path not in failed:
            members.append(e.member)
        elif _keeps_old(e):
            members.append(replace(e.member, loadable=False))
    decisions = decide_group(members)
    counted = sum(1 for d in decisions.values() if d.status == "ingested")
    writes = []
    for e in group.entries:
        path = e.member.path
        decision = decisions.get(path)
        if path in failed:
            why = failed[path]
            if not _keeps_old(e):
                writes.append(Write(e, "failed", why, "failrow", Action.FAIL, "failed"))
                continue
            assert e.stored is not None
            kept = f"{why} (the version stored earlier is kept)"
            if decision is None or decision.status == e.stored.status:
                writes.append(Write(e, e.stored.status, e.stored.reason, "keep", Action.FAIL, "failed", kept))
            else:
                writes.append(Write(e, decision.status, decision.reason, "update", Action.FAIL, "failed", kept))
            continue
        if decision is None:  # gone from disk and holding no samples: left as it is
            assert e.stored is not None
            writes.append(Write(e, e.stored.status, e.stored.reason, "keep", Action.VANISH, "vanished", VANISHED))
            continue
        writes.append(_write(e, decision, counted))
    return tuple(writes)


def _keeps_old(e: Entry) -> bool:
    return e.stored is not None and e.stored.status in ("ingested", "superseded") and e.stored.config_run_id == e.config_run_id


def _write(e: Entry, decision: Decision, counted: int) -> Write:
    action = {"ingested": Action.POOL if counted > 1 else Action.INGEST, "superseded": Action.SUPERSEDE}.get(
        decision.status, Action.FAIL
    )
    stored = e.stored
    if e.candidate is None:  # gone from disk: its stored samples stay or go, nothing is read
        assert stored is not None
        if decision.status == stored.status:
            return Write(e, stored.status, stored.reason, "keep", Action.VANISH, "vanished", VANISHED)
        return Write(e, decision.status, decision.reason, "update", action, OUTCOME_OF_STATUS[decision.status])
    unchanged = (
        stored is not None
        and e.read is not None
        and stored.sha256 == e.read.sha256
        and (stored.status, stored.reason, stored.config_run_id) == (decision.status, decision.reason, e.config_run_id)
    )
    if unchanged:
        outcome = "failed" if decision.status == "failed" else "unchanged"  # a failure is said every run
        return Write(e, decision.status, decision.reason, "keep", Action.KEEP, outcome, conflict=decision.conflict)
    if decision.status == "ingested":
        outcome = "updated" if stored is not None else "new"
    else:
        outcome = OUTCOME_OF_STATUS[decision.status]
    return Write(e, decision.status, decision.reason, "rewrite", action, outcome, conflict=decision.conflict)


@dataclass(frozen=True)
class Unit:
    """Configuration groups written in one transaction: a group with every group a file moved
    out of or into; `leaving` are stored rows that leave them (pruned, skipped, another config)."""

    groups: tuple[Group, ...]
    leaving: tuple[Stored, ...] = ()
    marks: tuple[Mark, ...] = ()  # rows of files that left for no configuration (now skipped)

    @property
    def config_run_ids(self) -> tuple[int, ...]:
        return tuple(g.config_run_id for g in self.groups)

    def size(self) -> int:
        return sum(e.candidate.size for g in self.groups for e in g.entries if e.candidate is not None and e.read is not None)

    def files(self) -> int:
        return sum(len(g.entries) for g in self.groups)


@dataclass(frozen=True)
class Mark:
    """A row for a file outside every unit: skipped, or failed with no stored version to keep."""

    candidate: Candidate
    sha256: str | None
    status: str
    reason: str | None


@dataclass(frozen=True)
class Loose:
    """Written in one transaction before the units: rows of files outside every configuration."""

    marks: tuple[Mark, ...] = ()
    deletes: tuple[int, ...] = ()  # file_ids: pruned rows outside any unit, rows a mark replaces
    touches: tuple[tuple[int, int, float], ...] = ()  # (file_id, size, mtime): same bytes, new stat
    moves: tuple[tuple[Stored, Candidate], ...] = ()  # a stored row and where its file is now

    def __bool__(self) -> bool:
        return bool(self.marks or self.deletes or self.touches or self.moves)


@dataclass(frozen=True)
class FilePlan:
    """What the run does with one file, for people (`ingest --dry-run`) and the summary."""

    path: str
    rel_path: str
    action: Action
    outcome: str  # new, updated, unchanged, moved, superseded, skipped, failed, vanished, pruned
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    hardware: str | None = None
    experiment: str | None = None
    dataset: str | None = None
    variant: str | None = None
    top_k: int | None = None
    num_active_blocks: int | None = None
    rank: int | None = None


@dataclass(frozen=True)
class Plan:
    files: tuple[FilePlan, ...]  # sorted by path; every file the run looked at
    loose: Loose
    units: tuple[Unit, ...]
    workers: int = 0  # worker processes that fingerprinted files (0: this process did)
    bytes_read: int = 0

    def failed(self) -> list[FilePlan]:
        return [f for f in self.files if f.outcome == "failed"]
