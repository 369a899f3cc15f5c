"""Planning an ingest: gather the facts and let plan.py's rules decide.

Facts: the files on disk (discover), their stored rows, a fingerprint of every file whose size
or mtime changed (sha256 and first look, in worker processes), DuckDB's look at the files the
first look could not judge, and, for a configuration with several non-shard files, the samples
each holds. Nothing is written: the plan is what `apply` writes, or what `--dry-run` prints.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import examples as examples_module
from . import ids, interrupts
from .discover import Candidate, discover
from .duckdb_messages import is_interrupted, load_error
from .fingerprint import Read, Unreadable
from .firstlook import Inspection
from .inspect import inspect
from .plan import (
    VANISHED,
    Action,
    Entry,
    FilePlan,
    Group,
    Loose,
    Mark,
    Member,
    Plan,
    Stored,
    Unit,
    classify,
    settle,
    variant_of,
)
from .workers import Pool, how_many

Progress = Callable[[str, int, int, int, int], None]  # (phase, done, total, samples added, bytes read)

_STORED = """
SELECT file_id, path, rel_path, root, size, mtime, sha256, status, reason, config_run_id, rank, hardware, experiment, dataset
FROM file_records
"""
_STORED_SAMPLES = """
SELECT example_id, sample_id, accuracy, T_vision_total, T_LLM_prefill, T_LLM_decode, T_total, T_decode_per_token,
       output_tokens, pred
FROM sample_records WHERE file_id = ? ORDER BY ordinal
"""


@dataclass(frozen=True)
class PlanOptions:
    hardware: str | None = None
    prune: bool = False
    max_file_bytes: int = 256 << 20
    batch_bytes: int = 512 << 20
    workers: int | None = None  # None: one per core, for work worth it; 1: this process


@dataclass
class _Judged:
    candidate: Candidate
    read: Read
    look: Inspection
    variant: str
    config_run_id: int
    warnings: tuple[str, ...]


def make_plan(
    con: duckdb.DuckDBPyConnection | None, paths: Sequence, options: PlanOptions, progress: Progress | None = None
) -> Plan:
    """The plan for ingesting `paths` into the store behind `con` (None: an empty store)."""
    return _Planner(con, options, progress).plan([Path(p) for p in paths])


class _Planner:
    def __init__(self, con: duckdb.DuckDBPyConnection | None, options: PlanOptions, progress: Progress | None):
        self.con = con
        self.options = options
        self._progress = progress
        self.files: dict[str, FilePlan] = {}
        self.marks: dict[str, Mark] = {}  # outside every unit
        self.deletes: list[int] = []
        self.touches: list[tuple[int, int, float]] = []
        self.moves: list[tuple[Stored, Candidate]] = []
        self.at: dict[str, Stored] = {}  # a file's stored row, at the path it has now
        self.claimed: set[str] = set()  # stored paths accounted for (at a file, moved, dropped, gone)
        self.path_of: dict[str, str] = {}  # stored path -> the file's path now, where they differ
        self.removed: set[str] = set()  # stored paths whose rows go (pruned, another spelling)
        self.same: dict[str, Read | None] = {}  # on disk with the bytes stored (read this run or not)
        self.looks: dict[str, Inspection] = {}  # the judged look of such a file, where it was read
        self.kept: set[str] = set()  # failed this run, their stored version kept
        self.judged: dict[str, _Judged] = {}
        self.leaving: dict[int, list[Stored]] = {}  # rows leaving a configuration's group
        self.redecide: set[int] = set()  # configurations that lost a row outside their unit
        self.unit_marks: dict[int, list[Mark]] = {}
        self.con_for_looks: duckdb.DuckDBPyConnection | None = None  # an in-memory DuckDB for a plan without a store
        self.samples_of: dict[str, examples_module.Examples | None] = {}
        self.bytes_read = 0
        self.workers = 0
        self.checked = 0
        self.to_check = 0

    def progress(self, phase: str, done: int, total: int) -> None:
        if self._progress:
            self._progress(phase, done, total, 0, self.bytes_read)

    # -- the steps ------------------------------------------------------------------------------

    def plan(self, paths: list[Path]) -> Plan:
        found = discover(paths, self.options.hardware)
        self.candidates = {c.path: c for c in found.candidates}
        self.unlisted = tuple(folder.rstrip(os.sep) + os.sep for folder, _ in found.unlisted)
        for folder, why in found.unlisted:
            self.files[folder] = FilePlan(
                folder,
                folder,
                Action.FAIL,
                "failed",
                f"cannot list this folder: {why}; its files in the store are kept as they are",
            )
        self.stored = self._load_stored()
        self._respell()
        to_read = self._classify(found.candidates)
        interrupts.check()
        jobs = len(to_read)
        size = sum(c.size for c in to_read)
        with Pool(how_many(self.options.workers, jobs, size), self.options.max_file_bytes) as pool:
            self.to_check = len(self.candidates)
            self.checked = len(self.candidates) - jobs
            if self.checked:
                self.progress("scan", self.checked, self.to_check)
            reads = self._fingerprints(pool, [(c, False) for c in to_read])
            self._judge(to_read, reads)
            self._vanished(found.scanned, paths)
            groups = self._groups(pool)
            self.workers = pool.started
        if self.con_for_looks is not None:
            self.con_for_looks.close()
        units = self._units(groups)
        for group in groups.values():
            self._describe(group)
        marks = tuple(m for path, m in sorted(self.marks.items()))
        loose = Loose(marks, tuple(self.deletes), tuple(self.touches), tuple(self.moves))
        return Plan(tuple(self.files[p] for p in sorted(self.files)), loose, units, self.workers, self.bytes_read)

    def _load_stored(self) -> dict[str, Stored]:
        if self.con is None:
            return {}
        return {row[1]: Stored(*row) for row in self.con.execute(_STORED).fetchall()}

    def _respell(self) -> None:
        """Rows stored under another spelling of a file's real path (stores from before real
        paths, or `../tree` and `/abs/tree` ingested both): one row per file follows it there."""
        claims: dict[str, list[Stored]] = {}
        for stored in self.stored.values():
            if stored.path in self.candidates:
                claims.setdefault(stored.path, []).append(stored)
                continue
            try:
                real = os.path.realpath(stored.path)
            except (OSError, ValueError):
                continue
            if real != stored.path and real in self.candidates:
                claims.setdefault(real, []).append(stored)
        rank = {"ingested": 0, "superseded": 1, "failed": 2}
        for real, rows in claims.items():
            rows.sort(key=lambda s: (rank.get(s.status, 3), s.path != real, s.path))
            keep: Stored | None = rows[0]
            drop = rows[1:]
            candidate = self.candidates[real]
            self.claimed.update(s.path for s in rows)
            assert keep is not None
            if keep.path != real:
                if (keep.hardware, keep.experiment, keep.dataset) != (
                    candidate.hardware,
                    candidate.experiment,
                    candidate.dataset,
                ):
                    drop = rows  # the old spelling put it elsewhere: read it again, from its real path
                    keep = None
                else:
                    self.moves.append((keep, candidate))
                    self.path_of[keep.path] = real
                    keep = _moved(keep, candidate)
            if keep is not None:
                self.at[real] = keep
            for s in drop:
                self.files[s.path] = FilePlan(s.path, s.rel_path, Action.PRUNE, "pruned", f"another spelling of {real}")
                if s.path == real:  # its row must be gone before the kept one moves to its path
                    self.deletes.append(s.file_id)
                    self.removed.add(s.path)
                    if s.config_run_id is not None:
                        self.redecide.add(s.config_run_id)
                else:
                    self._remove(s)

    def _remove(self, stored: Stored) -> None:
        """A stored row goes: inside its configuration's unit if it holds or shaped samples; a
        file that failed for its configuration's sake leaves the others to be decided again."""
        self.removed.add(stored.path)
        if stored.config_run_id is not None and stored.status in ("ingested", "superseded"):
            self.leaving.setdefault(stored.config_run_id, []).append(stored)
        else:
            self.deletes.append(stored.file_id)
            if stored.config_run_id is not None:
                self.redecide.add(stored.config_run_id)

    def _classify(self, candidates: list[Candidate]) -> list[Candidate]:
        to_read = []
        for c in candidates:
            stored = self.at.get(c.path)
            if c.problem:
                self._fail(c, c.problem, None)
                continue
            verdict = classify(c.size, c.mtime, stored, self.options.max_file_bytes)
            if verdict == "keep":
                assert stored is not None
                self.same[c.path] = None
                self._unchanged(c, stored)
            elif verdict == "too_big":
                self._fail(c, f"file is {_size_text(c.size)}, over the {_size_text(self.options.max_file_bytes)} limit")
            else:
                to_read.append(c)
        return to_read

    def _unchanged(self, c: Candidate, stored: Stored) -> None:
        moved = next((old for old, new in self.moves if new.path == c.path), None)
        if stored.status == "failed":
            self._plan(c, Action.KEEP, "failed", f"{stored.reason} (unchanged since it failed)")
        elif moved is not None:
            self._plan(c, Action.MOVE, "moved", f"moved from {moved.path}")
        else:
            self._plan(c, Action.KEEP, "unchanged")

    def _fingerprints(self, pool: Pool, jobs: list[tuple[Candidate, bool]]) -> dict[str, Read | Unreadable]:
        def done(i: int) -> None:
            self.bytes_read += jobs[i][0].size
            self.checked += 1
            self.progress("scan", self.checked, self.to_check)
            interrupts.check()

        results = pool.map([(c.path, with_examples) for c, with_examples in jobs], done)
        for (c, _), result in zip(jobs, results, strict=True):
            if not isinstance(result, Read):
                self.bytes_read -= c.size  # not read after all
        return {c.path: r for (c, _), r in zip(jobs, results, strict=True)}

    def _judge(self, to_read: list[Candidate], reads: dict[str, Read | Unreadable]) -> None:
        unknown: list[tuple[Candidate, Read]] = []
        gone = self._gone_by_sha()
        for c in to_read:
            result = reads[c.path]
            stored = self.at.get(c.path)
            if isinstance(result, Unreadable):
                self._fail(c, result.reason, None)  # about the moment, not the bytes: read again next run
                continue
            if stored is not None and stored.sha256 == result.sha256:
                self.touches.append((ids.file_id(c.path), c.size, c.mtime))
                self.same[c.path] = result
                self._unchanged(c, stored)
                continue
            if stored is None:
                origin = self._origin(c, result.sha256, gone)
                if origin is not None:
                    self.moves.append((origin, c))
                    self.claimed.add(origin.path)
                    self.path_of[origin.path] = c.path
                    self.at[c.path] = _moved(origin, c)
                    self.same[c.path] = result
                    self._unchanged(c, self.at[c.path])
                    continue
            if result.look.status == "failed":
                self._fail(c, result.look.reason or "failed", result.sha256)
            elif result.look.status == "unknown":
                unknown.append((c, result))
            else:
                self._judged(c, result, result.look)
        if unknown:
            self._inspect(unknown)
        self.progress("inspect", len(to_read), len(to_read))

    def _gone_by_sha(self) -> dict[str, list[Stored]]:
        """Stored rows of files that are gone from disk, by sha256: where a moved file came from."""
        gone: dict[str, list[Stored]] = {}
        for stored in self.stored.values():
            if stored.sha256 is None or stored.path in self.claimed or stored.path.startswith(self.unlisted):
                continue
            gone.setdefault(stored.sha256, []).append(stored)
        return gone

    def _origin(self, c: Candidate, sha256: str, gone: dict[str, list[Stored]]) -> Stored | None:
        for stored in gone.get(sha256, []):
            same_place = (stored.hardware, stored.experiment, stored.dataset) == (c.hardware, c.experiment, c.dataset)
            if same_place and stored.path not in self.claimed and not os.path.lexists(stored.path):
                return stored
        return None

    def _inspect(self, unknown: list[tuple[Candidate, Read]]) -> None:
        """Files the first look could not judge: one DuckDB pass per batch, each file alone if
        the batch fails (an interrupt is no file's fault: it goes on)."""
        con = self._duckdb()
        for batch in _by_size(unknown, self.options.batch_bytes, key=lambda item: item[0].size):
            for (c, read), look in zip(batch, self._inspect_batch(con, [c for c, _ in batch]), strict=True):
                if look.status == "failed":
                    if _stat_changed(c):  # gone or changed since it was hashed: that, not its bytes, made it fail
                        self._fail(c, "changed while being read; run ingest again", None)
                    else:
                        self._fail(c, look.reason or "failed", read.sha256)
                else:
                    self._judged(c, read, look)
            interrupts.check()

    def _inspect_batch(self, con: duckdb.DuckDBPyConnection, batch: list[Candidate]) -> list[Inspection]:
        max_size = max(c.size for c in batch) + 1
        try:
            found = inspect(con, [c.path for c in batch], max_size)
            return [found[c.path] for c in batch]
        except duckdb.Error as exc:
            if is_interrupted(exc):
                raise  # no file's fault
            if len(batch) == 1:
                return [Inspection(batch[0].path, "failed", load_error(exc))]
        return [self._inspect_batch(con, [c])[0] for c in batch]

    def _judged(self, c: Candidate, read: Read, look: Inspection) -> None:
        stored = self.at.get(c.path)
        if look.status == "skipped":
            notes = ("named like a result file but holds none; skipped",) if c.name_dataset else ()
            mark = Mark(c, read.sha256, "skipped", look.reason)
            if stored is not None and stored.config_run_id is not None and stored.status in ("ingested", "superseded"):
                self.leaving.setdefault(stored.config_run_id, []).append(stored)
                self.unit_marks.setdefault(stored.config_run_id, []).append(mark)
            else:
                self.marks[c.path] = mark
            self._plan(c, Action.SKIP, "skipped", look.reason, notes)
            return
        assert look.top_k is not None and look.num_active_blocks is not None  # judge() fails a file without them
        warnings = list(look.warnings)
        if c.name_dataset and c.name_dataset != c.dataset:
            warnings.append(f"file name says dataset {c.name_dataset!r}, its folder says {c.dataset!r}")
        variant = variant_of(look.tier, c.name_variant, look.image_size, look.max_crops)
        config_run_id = ids.config_run_id(c.hardware, c.experiment, c.dataset, variant, look.top_k, look.num_active_blocks)
        self.judged[c.path] = _Judged(c, read, look, variant, config_run_id, tuple(warnings))

    def _vanished(self, scanned: list[str], given: list[Path]) -> None:
        prefixes = tuple(s.rstrip(os.sep) + os.sep for s in scanned)
        named = {os.path.realpath(p) for p in given} | {str(p.expanduser().absolute()) for p in given}
        for stored in self.stored.values():
            if stored.path in self.claimed or stored.path in self.candidates or stored.path.startswith(self.unlisted):
                continue  # on disk, or maybe on disk in a folder that could not be listed
            if stored.path.startswith(prefixes) or stored.path in named:
                self.claimed.add(stored.path)
                if self.options.prune:
                    self.files[stored.path] = FilePlan(stored.path, stored.rel_path, Action.PRUNE, "pruned")
                    self._remove(stored)
                else:
                    self.files[stored.path] = FilePlan(stored.path, stored.rel_path, Action.VANISH, "vanished", VANISHED)

    # -- configuration groups ---------------------------------------------------------------------

    def _groups(self, pool: Pool) -> dict[int, Group]:
        """Every configuration whose files changed, with all its files (read now if they were not)."""
        affected = set(self.leaving) | self.redecide
        for judged in self.judged.values():
            affected.add(judged.config_run_id)
            stored = self.at.get(judged.candidate.path)
            if stored is not None and stored.config_run_id is not None:
                affected.add(stored.config_run_id)
        members: dict[int, dict[str, Stored | None]] = {gid: {} for gid in sorted(affected)}
        for path, judged in self.judged.items():
            members[judged.config_run_id][path] = self.at.get(path)
        for stored in self.stored.values():
            if stored.config_run_id not in affected or stored.path in self.removed:
                continue
            path = self.path_of.get(stored.path, stored.path)
            if path in self.judged or (path in self.marks and path not in self.kept):
                continue  # read again this run (and judged, or now failed or skipped)
            on_disk = path in self.same
            if stored.status == "ingested" or (stored.status in ("superseded", "failed") and on_disk):
                members[stored.config_run_id][path] = self.at.get(path, stored)
        self._read_members(pool, members)
        return {
            gid: Group(gid, tuple(self._entry(gid, path, rows[path]) for path in sorted(rows))) for gid, rows in members.items()
        }

    def _read_members(self, pool: Pool, members: dict[int, dict[str, Stored | None]]) -> None:
        """Files of changed configurations that were not read this run are read now; so are the
        samples of every non-shard file of a configuration that has several."""
        jobs: list[tuple[Candidate, bool]] = []
        for rows in members.values():
            files = [path for path, stored in rows.items() if self._rank(path, stored) is None and self._takes_part(path, stored)]
            for path, stored in rows.items():
                wants_samples = len(files) > 1 and path in files
                on_disk = path in self.candidates and path not in self.kept
                unread = path not in self.judged and self.same.get(path) is None
                if on_disk and (unread or wants_samples):
                    jobs.append((self.candidates[path], wants_samples))
                elif wants_samples and stored is not None and stored.status == "ingested" and self.con is not None:
                    found = self.con.execute(_STORED_SAMPLES, [stored.file_id]).fetchall()
                    self.samples_of[path] = examples_module.from_rows(found)
        if not jobs:
            return
        self.to_check += len(jobs)
        reads = self._fingerprints(pool, jobs)
        unknown: list[tuple[Candidate, Read]] = []
        for c, wants_samples in jobs:
            result = reads[c.path]
            if isinstance(result, Unreadable):
                self._fail(c, result.reason, None)
                continue
            if wants_samples:
                self.samples_of[c.path] = result.examples
            judged = self.judged.get(c.path)
            if judged is not None:
                self.judged[c.path] = dataclasses.replace(judged, read=result)
                continue
            stored = self.at.get(c.path)
            if stored is None or result.sha256 != stored.sha256 or result.look.status in ("failed", "skipped"):
                self._fail(c, "changed while being read; run ingest again", None)  # since it was listed
                continue
            self.same[c.path] = result
            if result.look.status == "unknown":
                unknown.append((c, result))
            else:
                self.looks[c.path] = result.look
        for batch in _by_size(unknown, self.options.batch_bytes, key=lambda item: item[0].size):
            for (c, _), look in zip(batch, self._inspect_batch(self._duckdb(), [c for c, _ in batch]), strict=True):
                if look.status == "ok":
                    self.looks[c.path] = look
                else:
                    self._fail(c, "changed while being read; run ingest again", None)

    def _duckdb(self):
        if self.con is not None:
            return self.con
        if self.con_for_looks is None:
            self.con_for_looks = duckdb.connect()
        return self.con_for_looks

    def _rank(self, path: str, stored: Stored | None) -> int | None:
        c = self.candidates.get(path)
        return c.rank if c is not None else (stored.rank if stored is not None else None)

    def _takes_part(self, path: str, stored: Stored | None) -> bool:
        """Does the file take part in its configuration's decision (plan.decide_group)?"""
        on_disk = path in self.candidates and path not in self.kept
        return on_disk or (stored is not None and stored.status == "ingested")

    def _entry(self, gid: int, path: str, stored: Stored | None) -> Entry:
        """A member with its facts; one that cannot be read now keeps what is stored."""
        c = self.candidates.get(path)
        judged = self.judged.get(path)
        rank = self._rank(path, stored)
        rel_path = c.rel_path if c is not None else (stored.rel_path if stored is not None else path)
        stored_status = stored.status if stored is not None and stored.config_run_id == gid else None
        if judged is not None and path not in self.kept:
            member = Member(path, rel_path, rank, stored_status, True, self.samples_of.get(path))
            return Entry(member, gid, judged.variant, c, stored, judged.read, judged.look, judged.warnings)
        read, look = self.same.get(path), self.looks.get(path)
        if c is None or path in self.kept or read is None or look is None:
            member = Member(path, rel_path, rank, stored_status, False, self.samples_of.get(path))
            return Entry(member, gid, None, None, stored, None, None)
        variant = variant_of(look.tier, c.name_variant, look.image_size, look.max_crops)
        member = Member(path, rel_path, rank, stored_status, True, self.samples_of.get(path))
        return Entry(member, gid, variant, c, stored, read, look, look.warnings)

    def _units(self, groups: dict[int, Group]) -> tuple[Unit, ...]:
        """Groups joined where a file moved from one configuration to another."""
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        for gid in groups:
            find(gid)
        for judged in self.judged.values():
            stored = self.at.get(judged.candidate.path)
            if stored is not None and stored.config_run_id is not None and stored.config_run_id in groups:
                parent[find(stored.config_run_id)] = find(judged.config_run_id)
        joined: dict[int, list[int]] = {}
        for gid in groups:
            joined.setdefault(find(gid), []).append(gid)
        units = []
        for gids in sorted(sorted(g) for g in joined.values()):
            leaving = tuple(s for gid in gids for s in self.leaving.get(gid, []))
            marks = tuple(m for gid in gids for m in self.unit_marks.get(gid, []))
            units.append(Unit(tuple(groups[g] for g in gids), leaving, marks))
        return tuple(units)

    # -- what the plan says -------------------------------------------------------------------------

    def _describe(self, group: Group) -> None:
        for write in settle(group):
            path = write.entry.member.path
            if path in self.kept or (write.mode == "keep" and path in self.files):
                continue  # its failure, move or touch says more
            self._plan_entry(write.entry, write.action, write.outcome, write.said)

    def _plan_entry(self, e: Entry, action: Action, outcome: str, reason: str | None) -> None:
        c = e.candidate
        look = e.look
        self.files[e.member.path] = FilePlan(
            e.member.path,
            e.member.rel_path,
            action,
            outcome,
            reason,
            e.warnings,
            hardware=c.hardware if c else (e.stored.hardware if e.stored else None),
            experiment=c.experiment if c else (e.stored.experiment if e.stored else None),
            dataset=c.dataset if c else (e.stored.dataset if e.stored else None),
            variant=e.variant,
            top_k=look.top_k if look else None,
            num_active_blocks=look.num_active_blocks if look else None,
            rank=e.member.rank,
        )

    def _plan(self, c: Candidate, action: Action, outcome: str, reason: str | None = None, warnings=()) -> None:
        self.files[c.path] = FilePlan(
            c.path,
            c.rel_path,
            action,
            outcome,
            reason,
            tuple(warnings),
            hardware=c.hardware,
            experiment=c.experiment,
            dataset=c.dataset,
            rank=c.rank,
        )

    def _fail(self, c: Candidate, reason: str, sha256: str | None = None) -> None:
        """A file that cannot be stored: the version stored before, if any, stays."""
        stored = self.at.get(c.path)
        if stored is not None and stored.status in ("ingested", "superseded"):
            self.kept.add(c.path)
            self._plan(c, Action.FAIL, "failed", f"{reason} (the version stored earlier is kept)")
        else:
            self.marks[c.path] = Mark(c, sha256, "failed", reason)
            self._plan(c, Action.FAIL, "failed", reason)


def _moved(stored: Stored, c: Candidate) -> Stored:
    """The row as it is once moved to `c`'s path (apply moves it before anything else)."""
    return dataclasses.replace(stored, file_id=ids.file_id(c.path), path=c.path, rel_path=c.rel_path, root=c.root)


def _stat_changed(c: Candidate) -> bool:
    try:
        info = os.stat(c.path)
    except OSError:
        return True
    return info.st_size != c.size or info.st_mtime != c.mtime


def _size_text(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _by_size(items: list, limit: int, key) -> list[list]:
    batches: list[list] = []
    current: list = []
    total = 0
    for item in items:
        if current and total + key(item) > limit:
            batches.append(current)
            current, total = [], 0
        current.append(item)
        total += key(item)
    if current:
        batches.append(current)
    return batches
