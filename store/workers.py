"""Fingerprints in worker processes, so that hashing and first looks use every core.

A worker is `python -m budgetdb.store.fingerprint_worker`, started with `subprocess` (fork and
exec at once, safe while DuckDB's threads run) in a session of its own (a Ctrl-C in the terminal
reaches only the parent, which ends its workers), talking over pipes. Unlike multiprocessing's
`fork` (unsafe once DuckDB runs threads) or `spawn`/`forkserver` (which import the caller's
`__main__` again, so a script without a main guard broke the pool), it depends on nothing of the
caller's process. A worker that cannot start leaves its share to this process.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence

from . import fingerprint as reading
from .fingerprint import Read, Unreadable
from .fingerprint_worker import receive, send

Job = tuple[str, bool]  # (path, with_examples)
Result = Read | Unreadable

IN_PROCESS_BYTES = 24 << 20  # less to read than this: workers would cost more to start than they save
IN_FLIGHT = 2  # requests a worker holds at once: one to work on, one waiting


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def how_many(requested: int | None, jobs: int, total_bytes: int) -> int:
    """Workers to start for `jobs` files of `total_bytes`: 0 means this process does the work."""
    wanted = default_workers() if requested is None else requested
    if wanted <= 1 or jobs < 2 or (requested is None and total_bytes < IN_PROCESS_BYTES):
        return 0
    return min(wanted, jobs)


class Pool:
    """Worker processes that live until `close()` (or the end of a `with` block)."""

    def __init__(self, size: int, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = size
        self.procs: list[subprocess.Popen] = []
        self.started = 0  # workers that answered: what a run reports

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        if self.procs or self.size <= 0 or not sys.executable:
            return
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        # the caller's import path, so a budgetdb found there is found by the workers too
        env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path, env.get("PYTHONPATH", "")] if p)
        for _ in range(self.size):
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-P", "-m", "budgetdb.store.fingerprint_worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    bufsize=0,  # unbuffered: select() must see every byte not yet read
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError:
                break
            self.procs.append(proc)
        ready = []
        for proc in self.procs:
            try:
                hello = receive(proc.stdout)
            except (OSError, EOFError, ValueError):
                hello = None
            if isinstance(hello, tuple) and hello[:1] == ("ready",):
                ready.append(proc)
            else:
                _end(proc)
        self.procs = ready
        self.started = len(ready)

    def map(self, jobs: Sequence[Job], done: Callable[[int], None] | None = None) -> list[Result]:
        """The result of every job, in order; `done(i)` after each one arrives."""
        results: list[Result | None] = [None] * len(jobs)
        for i, result in self._results(jobs):
            results[i] = result
            if done:
                done(i)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _results(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        self._start()
        if not self.procs:
            for i, (path, with_examples) in enumerate(jobs):
                yield i, reading.fingerprint(path, self.max_bytes, with_examples)
            return
        queue = list(reversed(range(len(jobs))))
        held: dict[int, list[int]] = {id(p): [] for p in self.procs}
        selector = selectors.DefaultSelector()
        try:
            for proc in self.procs:
                assert proc.stdout is not None
                selector.register(proc.stdout, selectors.EVENT_READ, proc)
            for proc in self.procs:
                self._feed(proc, queue, held, jobs)
            while any(held.values()):
                for key, _ in selector.select():
                    proc = key.data
                    try:
                        message = receive(proc.stdout)
                    except (OSError, EOFError):
                        message = None
                    if message is None:  # the worker died: what it held is done here
                        selector.unregister(proc.stdout)
                        for i in held.pop(id(proc)):
                            yield i, reading.fingerprint(jobs[i][0], self.max_bytes, jobs[i][1])
                        _end(proc)
                        self.procs.remove(proc)
                        continue
                    i, result = message
                    if isinstance(result, BaseException):
                        raise result
                    held[id(proc)].remove(i)
                    self._feed(proc, queue, held, jobs)
                    yield i, result
            while queue:  # every worker died
                i = queue.pop()
                yield i, reading.fingerprint(jobs[i][0], self.max_bytes, jobs[i][1])
        finally:
            selector.close()

    def _feed(self, proc: subprocess.Popen, queue: list[int], held: dict[int, list[int]], jobs: Sequence[Job]) -> None:
        while queue and len(held[id(proc)]) < IN_FLIGHT:
            i = queue.pop()
            path, with_examples = jobs[i]
            try:
                send(proc.stdin, (i, path, self.max_bytes, with_examples))
            except OSError:
                queue.append(i)
                return
            held[id(proc)].append(i)

    def close(self) -> None:
        for proc in self.procs:
            _end(proc)
        self.procs = []


def _end(proc: subprocess.Popen) -> None:
    """Stop a worker: at once (it holds nothing worth waiting for), then reap it."""
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()
