"""The per-file work of planning: a file's bytes read once for their sha256 and the first look
(and, where a configuration has several files, the samples they hold). Pure work on one file,
run in this process or in worker processes (store/workers.py); nothing here imports duckdb.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from . import examples as examples_module
from .examples import Examples
from .firstlook import Inspection, first_look


@dataclass(frozen=True)
class Read:
    """What reading a file found."""

    sha256: str
    look: Inspection  # status "unknown": the first look could not judge it, DuckDB will
    examples: Examples | None = None  # only when asked for


@dataclass(frozen=True)
class Unreadable:
    reason: str


def open_file(path: str) -> int:
    """A descriptor for reading `path`; never blocks (a named pipe opens at once, and is refused)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def read_bytes(path: str, max_bytes: int) -> bytes:
    """The file's bytes; OSError if it cannot be read, ValueError if it is not a regular file
    or grew over `max_bytes` since it was listed."""
    fd = open_file(path)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file any more")
        if info.st_size > max_bytes:
            raise ValueError(f"grew to {info.st_size} bytes, over the limit of {max_bytes}")
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 24):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def fingerprint(path: str, max_bytes: int, with_examples: bool = False) -> Read | Unreadable:
    """sha256 and first look of the file at `path` (and its samples by example, if asked)."""
    try:
        data = read_bytes(path, max_bytes)
    except OSError as exc:
        return Unreadable(f"cannot read: {exc.strerror or exc}")
    except ValueError as exc:
        return Unreadable(f"cannot read: {exc}")
    found = Read(hashlib.sha256(data).hexdigest(), first_look(path, data))
    if with_examples and found.look.status != "failed":
        return Read(found.sha256, found.look, examples_module.from_json(data))
    return found
