"""Find result files under the given paths and read what their location says about them.

A file's identity is its real path (symbolic links and `..` resolved): the same tree reached as
`../demo/core_exp_h100`, by its absolute path or through a symlinked folder is the same files.
Hardware, experiment and dataset come from the real path when it has a `core_exp_<hw>` folder,
else from the path as found (a `.json` link into a folder of blobs keeps its place in the tree).
"""

from __future__ import annotations

import os
import re
import stat as st
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from budgetdb.errors import BudgetdbError

_HARDWARE_DIR = re.compile(r"^core_exp_(.+)$")
_RANK = re.compile(r"_rank(\d+)\.json$", re.IGNORECASE)
_CONFIG_NAME = re.compile(
    r"^(?P<dataset>.+?)_(?:imgsizetier-(?P<tier>[^_]+)_crops\d+|imgsize(?P<size>\d+x\d+)|visiontoken(?P<tokens>\d+))"
    r"_topk(?P<top_k>\d+)_blocks(?P<blocks>\d+)(?:_rank\d+)?\.json$",
    re.IGNORECASE,
)
_KINDS = (
    (st.S_ISFIFO, "a named pipe (FIFO)"),
    (st.S_ISCHR, "a character device"),
    (st.S_ISBLK, "a block device"),
    (st.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class Candidate:
    """A `.json` file found on disk, with what its path and name say about it."""

    path: str  # the real path: the file's identity
    root: str
    rel_path: str
    hardware: str
    experiment: str
    dataset: str
    rank: int | None
    name_dataset: str | None
    name_variant: str | None  # imgsize<H>x<W> or visiontoken<T> from the file name
    size: int
    mtime: float
    problem: str | None = None  # why it cannot be read at all (not a regular file)


@dataclass(frozen=True)
class Discovery:
    candidates: list[Candidate]  # sorted by path
    scanned: list[str]  # real paths of the folders scanned whole (for vanished-file detection)
    unlisted: list[tuple[str, str]]  # folders that could not be listed, and why


def discover(paths: Sequence[os.PathLike | str], hardware: str | None = None) -> Discovery:
    """Every `.json` file under `paths` (recursive, symlinked folders not followed)."""
    found: dict[str, Candidate] = {}
    scanned: list[str] = []
    unlisted: list[tuple[str, str]] = []
    for given in paths:
        start = Path(given).expanduser().absolute()
        if start.is_dir():
            scanned.append(os.path.realpath(start))

            def refused(exc: OSError) -> None:
                unlisted.append((os.path.realpath(str(exc.filename)), exc.strerror or str(exc)))

            for folder, dirnames, filenames in os.walk(start, onerror=refused, followlinks=False):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.lower().endswith(".json"):
                        _add(found, Path(folder, name), start, hardware)
        elif start.exists():
            _add(found, start, start.parent.parent, hardware)
        elif start.is_symlink():
            raise BudgetdbError(f"{given}: broken symbolic link")
        else:
            raise BudgetdbError(f"{given}: no such file or folder")
    return Discovery([found[p] for p in sorted(found)], scanned, unlisted)


def _add(found: dict[str, Candidate], path: Path, start: Path, hardware: str | None) -> None:
    problem = None
    try:
        info = os.stat(path)
    except OSError:
        if not os.path.islink(path):
            return  # vanished since the folder was listed
        info = os.lstat(path)  # a looping or dangling link: ingest fails it, naming why it cannot be read
        real = path
    else:
        if st.S_ISDIR(info.st_mode):
            return
        kind = next((what for test, what in _KINDS if test(info.st_mode)), None)
        if kind is not None or not st.S_ISREG(info.st_mode):
            problem = f"not a regular file but {kind or 'a special file'}; only regular files are read"
            real = path  # never opened: the name it was found under is what there is to say
        else:
            real = Path(os.path.realpath(path))
    if str(real) in found:
        return  # the same file under another name
    located = _locate(real, Path(os.path.realpath(start))) or _locate(path, start)
    if located is None:  # no core_exp_<hw> folder on either path: the folder given is the root
        located = _relative(real, Path(os.path.realpath(start))) or _relative(path, start) or (start, Path(path.name))
    root, rel = located
    hw = _hardware_of(root) or hardware or "unknown"
    parts = rel.parts
    match = _CONFIG_NAME.match(path.name)
    dataset = parts[-2] if len(parts) >= 2 else (match.group("dataset") if match else path.parent.name)
    rank = _RANK.search(path.name)
    variant = None
    if match and match.group("size"):
        variant = f"imgsize{match.group('size')}"
    elif match and match.group("tokens"):
        variant = f"visiontoken{match.group('tokens')}"
    found[str(real)] = Candidate(
        path=str(real),
        root=str(root),
        rel_path=rel.as_posix(),
        hardware=hw,
        experiment="/".join(parts[:-2]),
        dataset=dataset,
        rank=int(rank.group(1)) if rank else None,
        name_dataset=match.group("dataset") if match else None,
        name_variant=variant,
        size=info.st_size,
        mtime=info.st_mtime,
        problem=problem,
    )


def _locate(path: Path, start: Path) -> tuple[Path, Path] | None:
    """The nearest `core_exp_<hw>` folder above the file and the path below it, if any."""
    for parent in path.parents:
        if _HARDWARE_DIR.match(parent.name):
            return parent, path.relative_to(parent)
    return None


def _relative(path: Path, start: Path) -> tuple[Path, Path] | None:
    return (start, path.relative_to(start)) if start in path.parents else None


def _hardware_of(root: Path) -> str | None:
    match = _HARDWARE_DIR.match(root.name)
    return match.group(1) if match else None
