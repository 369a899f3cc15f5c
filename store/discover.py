"""Find result files under the given paths and read what their location says about them."""

from __future__ import annotations

import os
import re
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


@dataclass(frozen=True)
class Candidate:
    """A `.json` file found on disk, with what its path and name say about it."""

    path: str
    root: str
    rel_path: str
    hardware: str
    experiment: str
    dataset: str
    rank: int | None
    name_dataset: str | None
    name_variant: str | None
    size: int
    mtime: float


def discover(
    paths: Sequence[os.PathLike | str], hardware: str | None = None
) -> tuple[list[Candidate], list[str], list[tuple[str, str]]]:
    """Every `.json` file under `paths` (recursive, symlinked folders not followed).

    Returns the candidates sorted by path, the folders that were scanned whole (for
    vanished-file detection), and the folders that could not be listed, with why.
    """
    found: dict[str, Candidate] = {}
    scanned: list[str] = []
    unlisted: list[tuple[str, str]] = []
    for given in paths:
        start = Path(given).expanduser().absolute()
        if start.is_dir():
            scanned.append(str(start))

            def refused(exc: OSError) -> None:
                unlisted.append((str(exc.filename), exc.strerror or str(exc)))

            for folder, dirnames, filenames in os.walk(start, onerror=refused, followlinks=False):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.lower().endswith(".json"):
                        _add(found, Path(folder, name), start, hardware)
        elif start.is_file():
            _add(found, start, start.parent.parent, hardware)
        elif start.is_symlink():
            raise BudgetdbError(f"{given}: broken symbolic link")
        else:
            raise BudgetdbError(f"{given}: no such file or folder")
    return [found[p] for p in sorted(found)], scanned, unlisted


def _add(found: dict[str, Candidate], path: Path, start: Path, hardware: str | None) -> None:
    if str(path) in found:
        return
    try:
        stat = path.stat()
    except OSError:
        if not path.is_symlink():
            return  # vanished since the folder was listed
        stat = path.lstat()  # a looping or dangling link: ingest fails it, naming why it cannot be read
    else:
        if not path.is_file():
            return
    root, hw = _hardware_root(path, start)
    hw = hw or hardware or "unknown"
    parent = path.parent
    rel = path.relative_to(root) if root in path.parents else Path(path.name)
    between = rel.parts[:-2]
    match = _CONFIG_NAME.match(path.name)
    dataset = parent.name if parent != root else (match.group("dataset") if match else parent.name)
    rank = _RANK.search(path.name)
    variant = None
    if match and match.group("size"):
        variant = f"imgsize{match.group('size')}"
    elif match and match.group("tokens"):
        variant = f"visiontoken{match.group('tokens')}"
    found[str(path)] = Candidate(
        path=str(path),
        root=str(root),
        rel_path=rel.as_posix(),
        hardware=hw,
        experiment="/".join(between),
        dataset=dataset,
        rank=int(rank.group(1)) if rank else None,
        name_dataset=match.group("dataset") if match else None,
        name_variant=variant,
        size=stat.st_size,
        mtime=stat.st_mtime,
    )


def _hardware_root(path: Path, start: Path) -> tuple[Path, str | None]:
    """The nearest `core_exp_<hw>` folder above the file, else the folder the scan started at."""
    for parent in path.parents:
        match = _HARDWARE_DIR.match(parent.name)
        if match:
            return parent, match.group(1)
    return start, None
