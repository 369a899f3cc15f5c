"""Where the CLI writes files (report -o, --plots DIR, export --parquet DIR), and how.

- A path that resolves to the store itself (its DuckDB file or write-ahead log, a DuckLake's
  catalog file, or a place inside its data folder) is refused before anything runs.
- A symlink is followed: its target is written, the link stays a link.
- A regular file is replaced atomically (written beside its target, then renamed over it) and
  keeps the target's permission bits; a new file gets the umask's, as a shell redirection does.
- Anything else that exists (a device such as /dev/null or /dev/stdout, a FIFO) is written
  through, as `> PATH` would write it: budgetdb never turns it into a regular file.
- Disk full, permission denied, a read-only file system: one line naming the path.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from budgetdb.errors import BudgetdbError


class OutputPathError(BudgetdbError):
    """An output path budgetdb will not write, or could not."""


def store_paths(db, data_path) -> tuple[set[Path], Path | None]:
    """The store's own files (resolved), and a DuckLake's local data folder (or None)."""
    from budgetdb.store import locate

    location = locate(db, data_path)
    files: set[Path] = set()
    if location.path is not None:
        for suffix in ("", ".wal"):
            files.add(Path(os.path.realpath(str(location.path) + suffix)))
    folder = None
    if location.is_lake and location.data_path and "://" not in location.data_path:
        folder = Path(os.path.realpath(location.data_path))
    return files, folder


def refuse_store(path: Path, what: str, store: tuple[set[Path], Path | None]) -> None:
    """OutputPathError when `path` resolves to one of the store's files or into its data folder."""
    files, folder = store
    resolved = Path(os.path.realpath(path))
    if resolved in files:
        raise OutputPathError(f"{what} {path} is the store itself ({resolved}); write somewhere else")
    if folder is not None and (resolved == folder or folder in resolved.parents):
        raise OutputPathError(f"{what} {path} is inside the store's data folder ({folder}); write somewhere else")


def write_text(path: Path, text: str, *, what: str = "--out") -> None:
    """Write `text` (UTF-8) to `path` as the module says: atomically for a regular file, through
    for a device or FIFO, the target of a symlink, the target's mode kept."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _failed(what, path, exc) from None
    data = text.encode("utf-8")
    try:
        if mode is not None and stat.S_ISDIR(mode):
            raise OutputPathError(f"{what} {path} is a folder; give a file name")
        if mode is not None and not stat.S_ISREG(mode):
            with open(target, "wb") as handle:  # a device or FIFO: written through, never replaced
                handle.write(data)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, data, None if mode is None else stat.S_IMODE(mode))
    except OSError as exc:
        raise _failed(what, path, exc) from None


def _replace(target: Path, data: bytes, mode: int | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _failed(what: str, path: Path, exc: OSError) -> OutputPathError:
    return OutputPathError(f"cannot write {what} {path}: {exc.strerror or exc}")
