"""Writing an ingest plan: the rows of files outside every configuration first, then the units,
packed into batches of up to `batch_bytes` of files, each batch in one `with atomic(con):`.

A file that fails while a batch is written (its samples do not load, or it changed since it was
read) is taken out of its configuration's decision (`plan.settle(group, failed)`: its other
files are decided again without it) and the batch is written again. `--strict` writes
everything in one transaction and stops at the first failure.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from budgetdb import __version__
from budgetdb.errors import IngestFailedError

from . import ids, samples, writer
from .duckdb_messages import is_conflict, is_interrupted, load_error
from .memory import WrittenBlocks
from .plan import Entry, Group, Mark, Member, Plan, Unit, Write, settle
from .summary import IngestSummary, Outcome
from .transaction import atomic, snapshot

Progress = Callable[[str, int, int, int, int], None]


@dataclass(frozen=True)
class ApplyOptions:
    strict: bool = False
    batch_bytes: int = 512 << 20


class _Changed(Exception):
    def __init__(self, paths: list[str]):
        super().__init__(f"changed while being read: {paths[0]}")
        self.paths = paths


def apply(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    paths,
    options: ApplyOptions,
    progress: Progress | None = None,
    started: float | None = None,
):
    """Write `plan` into the store behind `con`; return what the run did."""
    return _Apply(con, plan, options, progress).run([str(p) for p in paths], started or time.monotonic())


class _Apply:
    def __init__(self, con: duckdb.DuckDBPyConnection, plan: Plan, options: ApplyOptions, progress: Progress | None):
        self.con = con
        self.plan = plan
        self.options = options
        self._progress = progress
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self.run_id = int(time.time_ns() // 1000)
        self.outcomes = {f.path: Outcome(f.path, f.rel_path, f.outcome, f.reason, list(f.warnings)) for f in plan.files}
        self.summary = IngestSummary(self.run_id, [], bytes_read=plan.bytes_read, workers=plan.workers)
        self.failed: dict[str, str] = {}  # files that failed while being written, and why
        self.changed: set[str] = set()  # ... of them, those that changed since they were read
        self.written = WrittenBlocks(con)
        self.files_done = 0
        self.warnings: dict[str, list[str]] = {}  # of the rows written, by path

    def progress(self, phase: str, done: int, total: int) -> None:
        if self._progress:
            self._progress(phase, done, total, self.summary.samples_added, self.summary.bytes_read)

    def run(self, paths: list[str], started: float) -> IngestSummary:
        samples.prepare(self.con)
        batches = _by_size(list(self.plan.units), self.options.batch_bytes)
        self.total_files = sum(unit.files() for unit in self.plan.units)
        if self.options.strict:
            self._strict(batches)
        else:
            if self.plan.loose:
                with atomic(self.con):
                    self._loose()
            for batch in batches:
                self._write_batch(batch)
        self.summary.outcomes = sorted(self.outcomes.values(), key=lambda o: o.path)
        self.summary.seconds = time.monotonic() - started
        self._record_run(paths)
        return self.summary

    def _strict(self, batches: list[list[Unit]]) -> None:
        failed = [f for f in self.plan.files if f.outcome == "failed"]
        if failed:
            raise IngestFailedError(f"{failed[0].path}: {failed[0].reason}; --strict: the store was left unchanged")
        try:
            with atomic(self.con):
                self._loose()
                done = []
                for batch in batches:
                    done.append(self._write_units(batch))
                    self._check_unchanged(batch)
                    self.files_done += sum(unit.files() for unit in batch)
                    self.progress("write", self.files_done, self.total_files)
        except (duckdb.Error, _Changed) as exc:
            if is_interrupted(exc):
                raise
            raise IngestFailedError(f"{exc}; --strict: the store was left unchanged") from exc
        for writes, loaded in done:
            self._committed(writes, loaded)

    # -- rows outside the units -----------------------------------------------------------------

    def _loose(self) -> None:
        loose = self.plan.loose
        writer.delete_files(self.con, list(loose.deletes))
        for stored, c in loose.moves:
            writer.relocate(
                self.con,
                stored.file_id,
                {
                    "file_id": ids.file_id(c.path),
                    "path": c.path,
                    "root": c.root,
                    "rel_path": c.rel_path,
                    "size": c.size,
                    "mtime": c.mtime,
                },
            )
        self._marks(loose.marks)
        for file_id, size, mtime in loose.touches:
            writer.touch(self.con, file_id, size, mtime)

    def _marks(self, marks) -> None:
        writer.delete_files(self.con, [ids.file_id(m.candidate.path) for m in marks])
        writer.insert_files(self.con, [_mark_row(m) for m in marks], self.now, self.run_id)

    # -- the units ---------------------------------------------------------------------------------

    def _probe(self, batch: list[Unit]) -> None:
        """A file fails for sharing its configuration (two files measured an example differently,
        or samples without example_id) only if the files can be read: one whose samples do not
        load fails for that, on its own, first."""
        for unit in batch:
            for group in unit.groups:
                if not any(w.status == "failed" and w.mode != "failrow" for w in settle(group, self.failed)):
                    continue
                for e in group.entries:
                    if e.member.path not in self.failed and (why := self._unloadable(e)) is not None:
                        self.failed[e.member.path] = why

    def _unloadable(self, e: Entry) -> str | None:
        if e.candidate is None or e.look is None or not e.look.has_samples:
            return None
        try:
            with snapshot(self.con):
                samples.load(
                    self.con, [samples.SampleLoad(ids.file_id(e.candidate.path), e.candidate.path, e.config_run_id)], _size(e) + 1
                )
        except duckdb.Error as exc:
            if is_interrupted(exc):
                raise
            return load_error(exc, e.candidate.path)
        return None

    def _write_batch(self, batch: list[Unit]) -> None:
        self._probe(batch)
        for _ in range(sum(unit.files() for unit in batch) + 1):
            try:
                with atomic(self.con):
                    writes, loaded = self._write_units(batch)
                    self._check_unchanged(batch)
            except (duckdb.Error, _Changed) as exc:
                if is_conflict(exc) or is_interrupted(exc):
                    raise  # another writer committed first: ingest() retries the run
                culprit = self._culprit(batch, exc)
                if culprit is None:
                    raise
                batch = self._drop(batch, culprit, exc)
                continue
            self.written.release()
            self._committed(writes, loaded)
            self.files_done += sum(unit.files() for unit in batch)
            self.progress("write", self.files_done, self.total_files)
            return
        raise AssertionError("unreachable: every retry drops one file")

    def _write_units(self, batch: list[Unit]) -> tuple[list[Write], dict[int, samples.Loaded]]:
        con = self.con
        writes = [w for unit in batch for group in unit.groups for w in settle(group, self.failed)]
        writer.delete_files(con, [s.file_id for unit in batch for s in unit.leaving])
        self._marks([m for unit in batch for m in unit.marks])
        gone = []
        for w in writes:
            if w.mode in ("rewrite", "failrow"):
                if w.entry.stored is not None:
                    gone.append(w.entry.stored.file_id)
                gone.append(ids.file_id(w.entry.member.path))
            elif w.mode == "update":
                assert w.entry.stored is not None
                writer.set_status(con, w.entry.stored.file_id, w.status, w.reason)
        writer.delete_files(con, sorted(set(gone)))
        loads = [w for w in writes if w.load and w.entry.look is not None and w.entry.look.has_samples]
        loaded = samples.load(
            con,
            [samples.SampleLoad(ids.file_id(w.entry.member.path), w.entry.member.path, w.entry.config_run_id) for w in loads],
            max((_size(w.entry) for w in loads), default=0) + 1,
        )
        rows = [self._row(w, loaded) for w in writes if w.mode in ("rewrite", "failrow")]
        writer.insert_files(con, rows, self.now, self.run_id)
        samples.mark_repeats(con, [gid for unit in batch for gid in unit.config_run_ids])
        return writes, loaded

    def _check_unchanged(self, batch: list[Unit]) -> None:
        changed = [
            w.entry.member.path
            for unit in batch
            for group in unit.groups
            for w in settle(group, self.failed)
            if w.mode == "rewrite" and w.entry.candidate is not None and _stat_changed(w.entry)
        ]
        if changed:
            raise _Changed(changed)

    def _culprit(self, batch: list[Unit], exc: Exception) -> str | None:
        """The file that made a batch fail: named by the error, or found by loading each alone."""
        if isinstance(exc, _Changed):
            return exc.paths[0]
        loads = [
            w
            for unit in batch
            for group in unit.groups
            for w in settle(group, self.failed)
            if w.load and w.entry.look is not None and w.entry.look.has_samples
        ]
        for w in loads:
            if w.entry.member.path in str(exc):
                return w.entry.member.path
        for w in loads:
            try:
                with snapshot(self.con):
                    samples.load(
                        self.con,
                        [samples.SampleLoad(ids.file_id(w.entry.member.path), w.entry.member.path, w.entry.config_run_id)],
                        _size(w.entry) + 1,
                    )
            except duckdb.Error as error:
                if is_interrupted(error):
                    raise
                return w.entry.member.path
        return None

    def _drop(self, batch: list[Unit], path: str, exc: Exception) -> list[Unit]:
        """`path` failed: decide its configuration again without it."""
        entry = next(e for unit in batch for group in unit.groups for e in group.entries if e.member.path == path)
        # a file that changed or went away since it was listed failed for that, not for its bytes
        changed = isinstance(exc, _Changed) or _stat_changed(entry)
        self.failed[path] = "changed while being read; run ingest again" if changed else load_error(exc, path)
        if changed:
            self.changed.add(path)
        stored = entry.stored
        if stored is None or stored.config_run_id in (None, entry.config_run_id):
            return batch
        if stored.status not in ("ingested", "superseded"):
            return batch
        # it moved here from another configuration of the unit: its old version stays there
        back = Entry(
            Member(path, stored.rel_path, stored.rank, stored.status, False), stored.config_run_id, None, None, stored, None, None
        )
        return [_moved_back(unit, entry, back) for unit in batch]

    def _row(self, w: Write, loaded: dict[int, samples.Loaded]) -> writer.FileRow:
        e = w.entry
        if w.mode == "failrow":
            assert e.candidate is not None
            sha = None if e.member.path in self.changed or e.read is None else e.read.sha256
            return _mark_row(Mark(e.candidate, sha, "failed", w.reason))
        assert e.candidate is not None and e.look is not None and e.read is not None
        c, look = e.candidate, e.look
        facts: samples.Loaded | None = None
        warnings = list(e.warnings)
        shape = look.shape
        if w.status == "ingested":
            facts = loaded.get(ids.file_id(c.path)) or samples.Loaded()
            if {"T_vision_encoder", "T_projector"} & set(facts.sample_keys):
                shape = "legacy_timing"
            if isinstance(look.num_samples, int) and look.num_samples != facts.n_samples:
                warnings.append(f"num_samples says {look.num_samples}, per_sample_results has {facts.n_samples}")
            if facts.implausible_latencies:
                warnings.append(
                    f"{facts.implausible_latencies} stage latencies are negative, infinite or over 1 hour; "
                    "the samples view shows them as missing"
                )
            if facts.accuracies_out_of_range:
                warnings.append(f"{facts.accuracies_out_of_range} sample accuracies are outside [0, 1] (stored as written)")
        self.warnings[c.path] = warnings
        return writer.FileRow(
            file_id=ids.file_id(c.path),
            path=c.path,
            root=c.root,
            rel_path=c.rel_path,
            size=c.size,
            mtime=c.mtime,
            sha256=e.read.sha256,
            shape=shape,
            status=w.status,
            reason=w.reason,
            warnings=warnings or None,
            hardware=c.hardware,
            experiment=c.experiment,
            dataset=c.dataset,
            tier=look.tier,
            variant=e.variant,
            top_k=look.top_k,
            num_active_blocks=look.num_active_blocks,
            rank=c.rank,
            config_run_id=e.config_run_id,
            n_samples=facts.n_samples if facts else look.n_samples,
            # NULL: the file has no per_sample_results list at all (not even an empty one)
            sample_keys=list(facts.sample_keys) if facts and look.has_samples else None,
            summary=look.summary,
        )

    def _committed(self, writes: list[Write], loaded: dict[int, samples.Loaded]) -> None:
        for facts in loaded.values():
            self.summary.nan_latencies += facts.nan_latencies
            self.summary.zero_latencies += facts.zero_latencies
        for w in writes:
            if w.mode == "keep" and w.entry.member.path not in self.failed:
                continue
            e = w.entry
            found = loaded.get(ids.file_id(e.member.path)) if w.load else None
            n = found.n_samples if found else 0
            earlier = self.outcomes[e.member.path].warnings if e.member.path in self.outcomes else []
            warnings = self.warnings.get(e.member.path, earlier) if w.mode == "rewrite" else earlier
            if w.outcome in ("new", "updated"):
                self.summary.samples_added += n
            self.outcomes[e.member.path] = Outcome(e.member.path, e.member.rel_path, w.outcome, w.said, warnings, n)

    def _record_run(self, paths: list[str]) -> None:
        counts = self.summary.counts
        writer.insert_run(
            self.con,
            {
                "run_id": self.run_id,
                "started_at": self.now,
                "finished_at": datetime.now(UTC).replace(tzinfo=None),
                "paths": paths,
                "budgetdb_version": __version__,
                **{f"files_{name}": count for name, count in counts.items()},
                "samples_added": self.summary.samples_added,
                "nan_latencies": self.summary.nan_latencies,
                "zero_latencies": self.summary.zero_latencies,
            },
        )


def _moved_back(unit: Unit, entry: Entry, back: Entry) -> Unit:
    groups = []
    for group in unit.groups:
        entries = tuple(e for e in group.entries if e is not entry)
        if group.config_run_id == back.config_run_id:
            entries = (*entries, back)
        groups.append(Group(group.config_run_id, entries))
    return dataclasses.replace(unit, groups=tuple(groups))


def _mark_row(mark: Mark) -> writer.FileRow:
    c = mark.candidate
    return writer.FileRow(
        file_id=ids.file_id(c.path),
        path=c.path,
        root=c.root,
        rel_path=c.rel_path,
        size=c.size,
        mtime=c.mtime,
        sha256=mark.sha256,
        shape=None,
        status=mark.status,
        reason=mark.reason,
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


def _size(e: Entry) -> int:
    return e.candidate.size if e.candidate is not None else 0


def _stat_changed(e: Entry) -> bool:
    c = e.candidate
    if c is None:
        return False
    try:
        info = os.stat(c.path)
    except OSError:
        return True
    return info.st_size != c.size or info.st_mtime != c.mtime


def _by_size(units: list[Unit], limit: int) -> list[list[Unit]]:
    batches: list[list[Unit]] = []
    current: list[Unit] = []
    total = 0
    for unit in units:
        if current and total + unit.size() > limit:
            batches.append(current)
            current, total = [], 0
        current.append(unit)
        total += unit.size()
    if current:
        batches.append(current)
    return batches
