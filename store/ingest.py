"""`budgetdb ingest`: bring result files into the store completely, once, and atomically.

A run: find the files, skip the ones whose size+mtime (then sha256) are unchanged, inspect
the rest, group files by configuration (a merged file supersedes its shards; shards alone
are pooled), then write each group (with any group a moved file links it to) in one
transaction, so a killed run leaves every configuration either as it was or complete.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from budgetdb import __version__
from budgetdb.errors import IngestFailedError

from . import concurrency, ids, samples, writer
from .discover import Candidate, discover
from .duckdb_messages import is_conflict, load_error
from .inspect import Inspection, first_look, inspect
from .memory import WrittenBlocks
from .summary import IngestSummary, Outcome

MAX_FILE_BYTES = 256 << 20  # real result files are a few MB; ingest needs ~10x a file in memory
BATCH_BYTES = 512 << 20


@dataclass(frozen=True)
class IngestOptions:
    hardware: str | None = None
    prune: bool = False
    strict: bool = False
    max_file_bytes: int = MAX_FILE_BYTES
    batch_bytes: int = BATCH_BYTES


@dataclass(frozen=True)
class _Stored:
    file_id: int
    path: str
    rel_path: str
    size: int
    mtime: float
    sha256: str | None
    status: str
    reason: str | None
    config_run_id: int | None
    rank: int | None


@dataclass
class _Plan:
    """A file read this run that will be written."""

    candidate: Candidate
    sha256: str | None
    inspection: Inspection
    variant: str
    config_run_id: int


@dataclass
class _Member:
    """A file of a configuration group: read this run (plan) or already stored."""

    path: str
    rel_path: str
    rank: int | None
    plan: _Plan | None = None
    stored: _Stored | None = None


Progress = Callable[[str, int, int, int, int], None]  # (phase, done, total, samples added, bytes read)


def ingest(
    con: duckdb.DuckDBPyConnection, paths, options: IngestOptions = IngestOptions(), progress: Progress | None = None
) -> IngestSummary:
    paths = [Path(p) for p in paths]
    # a fresh run per attempt: another writer's commit may have changed what is stored
    return concurrency.ingest_until_clean(con, lambda: _Run(con, options, progress).execute(paths))


class _Run:
    def __init__(self, con, options: IngestOptions, progress: Progress | None):
        self.con = con
        self.options = options
        self._progress = progress
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self.run_id = int(time.time_ns() // 1000)
        self.outcomes: dict[str, Outcome] = {}
        self.file_rows: list[writer.FileRow] = []
        self.touches: list[tuple[int, int, float]] = []
        self.pruned: list[_Stored] = []
        self.summary = IngestSummary(self.run_id, [])
        self.dropped: set[str] = set()
        self.pending: list[tuple] = []
        self.written = WrittenBlocks(con)

    # -- the run ---------------------------------------------------------------------------

    def execute(self, paths: list[Path]) -> IngestSummary:
        started = time.monotonic()
        candidates, scanned, self.unlisted = discover(paths, self.options.hardware)
        self.candidates = {c.path: c for c in candidates}
        for folder, why in self.unlisted:
            self.outcomes[folder] = Outcome(
                folder, folder, "failed", f"cannot list this folder: {why}; its files in the store are kept as they are"
            )
        self.stored = self._load_stored()
        to_read = self._classify(candidates)
        plans = self._inspect(to_read)
        self._find_vanished(scanned, [str(p.expanduser().absolute()) for p in paths])
        plans += self._retry_conflict_losers(plans)
        units = self._units(plans)
        samples.prepare(self.con)
        batches = _by_size(units, self.options.batch_bytes, key=self._unit_bytes)
        if self.options.strict:
            self._strict_write(batches)
        else:
            self._write_loose()
            for batch in self._counted(batches):
                self._write_unit(batch)
        self.summary.outcomes = sorted(self.outcomes.values(), key=lambda o: o.path)
        self.summary.seconds = time.monotonic() - started
        self._record_run(paths)
        return self.summary

    def progress(self, phase: str, done: int, total: int) -> None:
        if self._progress:
            self._progress(phase, done, total, self.summary.samples_added, self.summary.bytes_read)

    def _load_stored(self) -> dict[str, _Stored]:
        rows = self.con.execute(
            "SELECT file_id, path, rel_path, size, mtime, sha256, status, reason, config_run_id, rank FROM file_records"
        ).fetchall()
        return {row[1]: _Stored(*row) for row in rows}

    def _classify(self, candidates: list[Candidate]) -> list[tuple[Candidate, str, Inspection | None]]:
        """Decide which files must be read; hash only those whose size or mtime changed."""
        to_hash = []
        for c in candidates:
            stored = self.stored.get(c.path)
            # a failure without sha256 was about reading the file (permissions, a change under way), not
            # about its bytes: try again, even if size and mtime are the same (chmod keeps the mtime)
            judged = stored is not None and (stored.sha256 is not None or stored.status != "failed")
            if stored is not None and judged and stored.size == c.size and stored.mtime == c.mtime:
                self._unchanged(c, stored)
            elif c.size > self.options.max_file_bytes:
                self._fail(c, f"file is {_size_text(c.size)}, over the {_size_text(self.options.max_file_bytes)} limit")
            else:
                to_hash.append(c)
        to_read = []
        settled = len(candidates) - len(to_hash)
        if settled:
            self.progress("scan", settled, len(candidates))
        for i, (c, fingerprint) in enumerate(zip(to_hash, _fingerprints(c.path for c in to_hash), strict=True)):
            self.progress("scan", settled + i + 1, len(candidates))
            if isinstance(fingerprint, OSError):
                self._fail(c, f"cannot read: {fingerprint.strerror or fingerprint}")
                continue
            digest, found = fingerprint
            self.summary.bytes_read += c.size
            stored = self.stored.get(c.path)
            if stored and stored.sha256 == digest:
                self.touches.append((stored.file_id, c.size, c.mtime))
                self._unchanged(c, stored)
                continue
            if found.status == "failed":
                self._fail(c, found.reason or "failed", digest)
                continue
            to_read.append((c, digest, found if found.status != "unknown" else None))
        return to_read

    def _unchanged(self, c: Candidate, stored: _Stored) -> None:
        if stored.status == "failed":
            self._outcome(c, "failed", f"{stored.reason} (unchanged since it failed)")
        else:
            self._outcome(c, "unchanged")

    def _inspect(self, to_read: list[tuple[Candidate, str, Inspection | None]]) -> list[_Plan]:
        """Files the head could not judge take a DuckDB pass, in batches."""
        found = {c.path: head for c, _, head in to_read if head is not None}
        rest = [c for c, _, head in to_read if head is None]
        for batch in _by_size(rest, self.options.batch_bytes, key=lambda c: c.size):
            found.update(zip((c.path for c in batch), self._inspect_batch(batch), strict=True))
        self.progress("inspect", len(to_read), len(to_read))
        plans = [self._judge(c, digest, found[c.path]) for c, digest, _ in to_read]
        return [plan for plan in plans if plan]

    def _inspect_file(self, c: Candidate, digest: str | None) -> _Plan | None:
        """Read one stored file again (a shard to pool, a conflict to retry)."""
        try:
            _, found = _fingerprint(c.path)
        except OSError as exc:
            found = Inspection(c.path, "failed", f"cannot read: {exc.strerror or exc}")
        if found.status == "unknown":
            found = self._inspect_batch([c])[0]
        return self._judge(c, digest, found)

    def _inspect_batch(self, batch: list[Candidate]) -> list[Inspection]:
        max_size = max(c.size for c in batch) + 1
        try:
            found = inspect(self.con, [c.path for c in batch], max_size)
            return [found[c.path] for c in batch]
        except duckdb.Error as exc:
            if len(batch) == 1:
                return [Inspection(batch[0].path, "failed", load_error(exc))]
        return [self._inspect_batch([c])[0] for c in batch]

    def _judge(self, c: Candidate, digest: str | None, found: Inspection) -> _Plan | None:
        if found.status == "skipped":
            self._record(c, digest, "skipped", found.reason)
            if c.name_dataset:  # the name promised a result: say so, the file may be a broken one
                self.outcomes[c.path].warnings.append("named like a result file but holds none; skipped")
            return None
        if found.status == "failed":
            if _stat_changed(c):  # gone or changed since it was hashed: that, not its bytes, made it fail
                self._fail(c, "changed while being read; run ingest again")
            else:
                self._fail(c, found.reason or "failed", digest)
            return None
        if c.name_dataset and c.name_dataset != c.dataset:
            found.warnings.append(f"file name says dataset {c.name_dataset!r}, its folder says {c.dataset!r}")
        variant = (
            found.tier or (f"max_crops={found.max_crops}" if found.max_crops is not None else None) or c.name_variant or "unknown"
        )
        assert found.top_k is not None and found.num_active_blocks is not None  # judge() fails a file without them
        config_run_id = ids.config_run_id(c.hardware, c.experiment, c.dataset, variant, found.top_k, found.num_active_blocks)
        return _Plan(c, digest, found, variant, config_run_id)

    def _find_vanished(self, scanned: list[str], given: list[str]) -> None:
        prefixes = tuple(s.rstrip(os.sep) + os.sep for s in scanned)
        unlisted = tuple(folder.rstrip(os.sep) + os.sep for folder, _ in self.unlisted)
        for stored in self.stored.values():
            if stored.path in self.candidates or stored.path.startswith(unlisted):
                continue  # on disk, or maybe on disk in a folder that could not be listed
            if stored.path.startswith(prefixes) or stored.path in given:
                if self.options.prune:
                    self.pruned.append(stored)
                    self.outcomes[stored.path] = Outcome(stored.path, stored.rel_path, "pruned")
                else:
                    self.outcomes[stored.path] = Outcome(
                        stored.path, stored.rel_path, "vanished", "no longer on disk; use --prune to remove it from the store"
                    )

    def _retry_conflict_losers(self, plans: list[_Plan]) -> list[_Plan]:
        """Files that failed only because another file held their configuration (or shard
        rank) get another chance whenever that configuration changes."""
        affected = {p.config_run_id for p in plans} | {s.config_run_id for s in self.pruned}
        affected |= {self.stored[p.candidate.path].config_run_id for p in plans if p.candidate.path in self.stored}
        planned = {p.candidate.path for p in plans}
        retried = []
        for stored in self.stored.values():
            if (
                stored.status == "failed"
                and stored.config_run_id in affected
                and stored.path in self.candidates
                and stored.path not in planned
            ):
                plan = self._inspect_file(self.candidates[stored.path], stored.sha256)
                if plan:
                    retried.append(plan)
        return retried

    # -- grouping ----------------------------------------------------------------------------

    def _units(self, plans: list[_Plan]) -> list[list[int]]:
        """Configuration groups to rewrite, joined where a file moved from one to another."""
        self.plans = {p.candidate.path: p for p in plans}
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        for plan in plans:
            find(plan.config_run_id)
            old = self.stored.get(plan.candidate.path)
            if old and old.config_run_id is not None:
                parent[find(old.config_run_id)] = find(plan.config_run_id)
        for stored in self.pruned:
            if stored.config_run_id is not None:
                find(stored.config_run_id)
        units: dict[int, list[int]] = {}
        for gid in parent:
            units.setdefault(find(gid), []).append(gid)
        return sorted(units.values())

    def _members(self, gid: int) -> list[_Member]:
        pruned = {s.path for s in self.pruned}
        members = []
        for stored in self.stored.values():
            replaced = stored.path in self.plans or stored.path in pruned
            if stored.config_run_id == gid and stored.status in ("ingested", "superseded") and not replaced:
                members.append(_Member(stored.path, stored.rel_path, stored.rank, stored=stored))
        for plan in self.plans.values():
            if plan.config_run_id == gid:
                members.append(_Member(plan.candidate.path, plan.candidate.rel_path, plan.candidate.rank, plan=plan))
        return sorted(members, key=lambda m: (m.rank is not None, m.rank or 0, m.path))

    def _decide(self, gid: int) -> list[tuple[_Member, str, str | None]]:
        """Merged file wins over shards; a second merged file or a repeated shard rank fails."""
        members = self._members(gid)
        merged = [m for m in members if m.rank is None]
        decisions: list[tuple[_Member, str, str | None]] = []
        keep = next((m for m in merged if m.stored and m.stored.status == "ingested"), merged[0] if merged else None)
        for m in merged:
            if keep is not None and m is not keep:
                decisions.append(
                    (m, "failed", f"same configuration as {keep.rel_path}; a folder holds one merged file per configuration")
                )
        if keep:
            decisions.append((keep, "ingested", None))
        ranks: dict[int, _Member] = {}
        shards = [m for m in members if m.rank is not None]
        for m in sorted(shards, key=lambda m: (m.rank, not (m.stored and m.stored.status == "ingested"), m.path)):
            if keep:
                decisions.append((m, "superseded", f"superseded by merged file {keep.rel_path}"))
            elif m.rank is None:
                raise AssertionError("shards have a rank")
            elif m.rank in ranks:
                decisions.append((m, "failed", f"repeats shard rank {m.rank} of {ranks[m.rank].rel_path}"))
            else:
                ranks[m.rank] = m
                decisions.append((m, "ingested", None))
        return decisions

    # -- writing -----------------------------------------------------------------------------

    def _write_loose(self) -> None:
        """Rows for skipped and failed files, pruned files outside any rewritten group, touches."""
        self._begin()
        self._apply_loose()
        self._commit()

    def _apply_loose(self) -> None:
        writer.delete_files(self.con, [s.file_id for s in self.pruned if s.config_run_id is None])
        writer.delete_files(self.con, [row.file_id for row in self.file_rows])
        writer.insert_files(self.con, self.file_rows, self.now, self.run_id)
        for file_id, size, mtime in self.touches:
            writer.touch(self.con, file_id, size, mtime)
        self.file_rows, self.touches = [], []

    def _write_unit(self, unit: list[int]) -> None:
        for _ in range(len(self.plans) + 1):
            self._begin()
            try:
                self._apply_unit(unit)
                self._check_unchanged(unit)
                self._commit()
                return
            except (duckdb.Error, _Changed) as exc:
                if is_conflict(exc):
                    raise  # another writer committed first: ingest() retries the run
                self._rollback()
                culprit = self._culprit(unit, exc)
                if culprit is None:
                    raise
                self._drop_plan(culprit, exc)
        raise AssertionError("unreachable: every retry drops one file")

    def _strict_write(self, batches: list[list[list[int]]]) -> None:
        failed = [o for o in self.outcomes.values() if o.outcome == "failed"]
        if failed:
            raise IngestFailedError(f"{failed[0].path}: {failed[0].reason}; --strict: the store was left unchanged")
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._apply_loose()
            for batch in self._counted(batches):
                self._apply_unit(batch)
                self._check_unchanged(batch)
        except (duckdb.Error, _Changed) as exc:
            self._rollback()
            raise IngestFailedError(f"{exc}; --strict: the store was left unchanged") from exc
        self._commit()

    def _counted(self, batches: list[list[list[int]]]) -> Iterator[list[int]]:
        """The groups of each batch of units as one unit, with the write progress after each."""
        total, done = sum(map(len, batches)), 0
        for batch in batches:
            yield [gid for unit in batch for gid in unit]
            done += len(batch)
            self.progress("write", done, total)

    def _apply_unit(self, unit: list[int]) -> None:
        self._reactivate_shards(unit)
        decided, supersede = [], []
        for gid in unit:
            for member, status, reason in self._decide(gid):
                if member.plan:
                    decided.append((member.plan, status, reason))
                elif member.stored is not None and status != member.stored.status:
                    supersede.append((member, reason))
                    self._outcome_stored(member.stored, status, reason)
        writer.delete_files(self.con, [s.file_id for s in self.pruned if s.config_run_id in unit])
        writer.delete_files(
            self.con, [self.stored[p.candidate.path].file_id for p, _, _ in decided if p.candidate.path in self.stored]
        )
        for member, reason in supersede:
            assert member.stored is not None and reason is not None  # only stored files are superseded, with a reason
            writer.supersede(self.con, member.stored.file_id, reason)
        loaded = self._load_samples([p for p, status, _ in decided if status == "ingested"])
        rows = [self._plan_row(p, status, reason, loaded.get(ids.file_id(p.candidate.path))) for p, status, reason in decided]
        writer.insert_files(self.con, rows, self.now, self.run_id)
        self.pending.append((loaded, rows))

    def _load_samples(self, plans: list[_Plan]) -> dict[int, samples.Loaded]:
        loads = [
            samples.SampleLoad(ids.file_id(p.candidate.path), p.candidate.path, p.config_run_id)
            for p in plans
            if p.inspection.has_samples
        ]
        return samples.load(self.con, loads, max((p.candidate.size for p in plans), default=0) + 1)

    def _reactivate_shards(self, unit: list[int]) -> None:
        """Shards stored as superseded whose merged file left: read them again to pool them."""
        for gid in unit:
            for member, status, _ in self._decide(gid):
                if member.stored and member.stored.status == "superseded" and status == "ingested":
                    if member.path in self.dropped:
                        continue
                    candidate = self.candidates.get(member.path)
                    if candidate is None:
                        continue
                    plan = self._inspect_file(candidate, member.stored.sha256)
                    if plan:
                        self.plans[member.path] = plan

    def _unit_plans(self, unit: list[int]) -> list[_Plan]:
        return [p for p in self.plans.values() if p.config_run_id in unit]

    def _unit_bytes(self, unit: list[int]) -> int:
        return sum(p.candidate.size for p in self._unit_plans(unit))

    def _check_unchanged(self, unit: list[int]) -> None:
        changed = [p.candidate.path for p in self._unit_plans(unit) if _stat_changed(p.candidate)]
        if changed:
            raise _Changed(changed)

    def _culprit(self, unit: list[int], exc: Exception) -> str | None:
        """The file that made a unit fail: named by the error, or found by reading each alone."""
        if isinstance(exc, _Changed):
            return exc.paths[0]
        plans = self._unit_plans(unit)
        for plan in plans:
            if plan.candidate.path in str(exc):
                return plan.candidate.path
        for plan in plans:
            try:
                self.con.execute("BEGIN TRANSACTION")
                self._load_samples([plan])
            except duckdb.Error:
                return plan.candidate.path
            finally:
                self.con.execute("ROLLBACK")
        return None

    def _drop_plan(self, path: str, exc: Exception) -> None:
        plan = self.plans.pop(path)
        self.dropped.add(path)
        # a file that changed or went away since it was listed failed for that, not for its bytes
        changed = isinstance(exc, _Changed) or _stat_changed(plan.candidate)
        reason = "changed while being read; run ingest again" if changed else load_error(exc, path)
        # no sha256 for a file caught changing: the bytes hashed were never judged, so the next run reads it again
        self._fail(plan.candidate, reason, None if changed else plan.sha256)
        self._write_loose()

    def _commit(self) -> None:
        self.con.execute("COMMIT")
        self.written.release()
        pending, self.pending = self.pending, []
        for loaded, rows in pending:
            for facts in loaded.values():
                self.summary.samples_added += facts.n_samples
                self.summary.nan_latencies += facts.nan_latencies
                self.summary.zero_latencies += facts.zero_latencies
            for row in rows:
                previous = self.stored.get(row.path)
                kind = row.status if row.status in ("superseded", "failed") else ("updated" if previous else "new")
                self._outcome(self.candidates[row.path], kind, row.reason, row.warnings or [], row.n_samples or 0)

    def _rollback(self) -> None:
        self.con.execute("ROLLBACK")
        self.pending = []

    def _begin(self) -> None:
        if not self.options.strict:
            self.con.execute("BEGIN TRANSACTION")

    def _record_run(self, paths: list[Path]) -> None:
        counts = self.summary.counts
        self.con.execute(
            """INSERT INTO ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                self.run_id,
                self.now,
                datetime.now(UTC).replace(tzinfo=None),
                [str(p) for p in paths],
                __version__,
                counts["new"],
                counts["updated"],
                counts["unchanged"],
                counts["superseded"],
                counts["skipped"],
                counts["failed"],
                counts["vanished"],
                counts["pruned"],
                self.summary.samples_added,
                self.summary.nan_latencies,
                self.summary.zero_latencies,
            ],
        )

    # -- rows and outcomes ---------------------------------------------------------------------

    def _plan_row(self, plan: _Plan, status: str, reason: str | None, loaded: samples.Loaded | None) -> writer.FileRow:
        """`loaded` is None where the samples were not read (superseded or failed files)."""
        c, found = plan.candidate, plan.inspection
        warnings = list(found.warnings)
        shape = found.shape
        if status == "ingested":
            loaded = loaded or samples.Loaded()
            if {"T_vision_encoder", "T_projector"} & set(loaded.sample_keys):
                shape = "legacy_timing"
            if isinstance(found.num_samples, int) and found.num_samples != loaded.n_samples:
                warnings.append(f"num_samples says {found.num_samples}, per_sample_results has {loaded.n_samples}")
            if loaded.implausible_latencies:
                warnings.append(
                    f"{loaded.implausible_latencies} stage latencies are negative, infinite or over 1 hour; "
                    "the samples view shows them as missing"
                )
        return writer.FileRow(
            file_id=ids.file_id(c.path),
            path=c.path,
            root=c.root,
            rel_path=c.rel_path,
            size=c.size,
            mtime=c.mtime,
            sha256=plan.sha256,
            shape=shape,
            status=status,
            reason=reason,
            warnings=warnings or None,
            hardware=c.hardware,
            experiment=c.experiment,
            dataset=c.dataset,
            tier=found.tier,
            variant=plan.variant,
            top_k=found.top_k,
            num_active_blocks=found.num_active_blocks,
            rank=c.rank,
            config_run_id=plan.config_run_id,
            n_samples=loaded.n_samples if loaded else found.n_samples,
            # NULL: the file has no per_sample_results list at all (not even an empty one)
            sample_keys=list(loaded.sample_keys) if loaded and found.has_samples else None,
            summary=found.summary,
        )

    def _record(self, c: Candidate, digest: str | None, status: str, reason: str | None) -> None:
        self.file_rows.append(
            writer.FileRow(
                file_id=ids.file_id(c.path),
                path=c.path,
                root=c.root,
                rel_path=c.rel_path,
                size=c.size,
                mtime=c.mtime,
                sha256=digest,
                shape=None,
                status=status,
                reason=reason,
                warnings=None,
                hardware=c.hardware,
                experiment=c.experiment,
                dataset=c.dataset,
                tier=None,
                variant=None,
                top_k=None,
                num_active_blocks=None,
                rank=c.rank,
                config_run_id=None,
                n_samples=None,
                sample_keys=None,
                summary=None,
            )
        )
        self._outcome(c, status, reason)

    def _fail(self, c: Candidate, reason: str, digest: str | None = None) -> None:
        stored = self.stored.get(c.path)
        if stored and stored.status in ("ingested", "superseded"):
            self._outcome(c, "failed", f"{reason} (the version stored earlier is kept)")
        else:
            self._record(c, digest, "failed", reason)

    def _outcome(self, c: Candidate, kind: str, reason: str | None = None, warnings=(), samples: int = 0) -> None:
        self.outcomes[c.path] = Outcome(c.path, c.rel_path, kind, reason, list(warnings), samples)

    def _outcome_stored(self, stored: _Stored, status: str, reason: str | None) -> None:
        self.outcomes[stored.path] = Outcome(stored.path, stored.rel_path, status, reason)


class _Changed(Exception):
    def __init__(self, paths: list[str]):
        super().__init__(f"changed while being read: {paths[0]}")
        self.paths = paths


def _stat_changed(c: Candidate) -> bool:
    try:
        stat = os.stat(c.path)
    except OSError:
        return True
    return stat.st_size != c.size or stat.st_mtime != c.mtime


def _fingerprint(path: str) -> tuple[str, Inspection]:
    """sha256 of the file's bytes, and the first look at them (inspect.first_look)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return hashlib.sha256(data).hexdigest(), first_look(path, data)


def _fingerprints(paths) -> Iterator[tuple[str, Inspection] | OSError]:
    """`_fingerprint` of each path, in order, two at a time: hashing and reading release the GIL."""

    def attempt(path: str):
        try:
            return _fingerprint(path)
        except OSError as exc:
            return exc

    pool = ThreadPoolExecutor(max_workers=2)
    try:
        yield from pool.map(attempt, paths)
    finally:  # interrupted: do not read the files still queued
        pool.shutdown(cancel_futures=True)


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
