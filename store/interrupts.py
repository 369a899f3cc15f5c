"""Ctrl-C always ends an ingest.

Python turns SIGINT into KeyboardInterrupt at the next bytecode, but code that catches
exceptions it did not expect can lose it: DuckDB's Python client imports pandas while it binds
a parameter and takes any exception of that import (a KeyboardInterrupt raised in the middle of
it included) as "pandas is not installed", so a Ctrl-C in that moment vanished and the run went
on to commit and exit 0. `watching()` records every SIGINT in a flag nothing clears, and
`check()`, which `transaction.atomic` calls before each COMMIT (and ingest between its phases),
raises KeyboardInterrupt once one came: the run ends at the next boundary at the latest, and the
transaction it was in is rolled back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_received = threading.Event()
_watchers = 0


@contextmanager
def watching() -> Iterator[None]:
    """Remember every SIGINT while the block runs (main thread only; a SIGINT that is ignored or
    left to the operating system's default stays so)."""
    global _watchers
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN (a background job), SIG_DFL or a handler not set from Python
        yield
        return

    def remember(signum, frame):
        _received.set()
        previous(signum, frame)

    _watchers += 1
    signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _watchers -= 1
        if _watchers == 0:
            _received.clear()


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT came while watching (even one something swallowed)."""
    if _watchers and _received.is_set():
        raise KeyboardInterrupt
