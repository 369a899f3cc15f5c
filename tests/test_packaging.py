"""The wheel holds every subpackage and every .sql/.j2 data file under the one `budgetdb`
namespace, and a plain (non-editable) install finds them."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"store": "budgetdb/store", "cli": "budgetdb/cli", "queries": "budgetdb/queries", "templates": "budgetdb/templates"}
SUBPACKAGES = ("budgetdb", "budgetdb.store", "budgetdb.cli", "budgetdb.queries", "budgetdb.templates")
_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "tests",
    "*.duckdb",
    "*.duckdb.wal",
    ".pytest_cache",
    ".hypothesis",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source tree (so no build/ folder lands in the repo)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=_IGNORE)
    out = work / "out"
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)]
    # Without build isolation only if this venv's setuptools can build wheels (bdist_wheel came in 70.1);
    # otherwise pip fetches the pinned backend of pyproject.toml.
    if importlib.util.find_spec("setuptools.command.bdist_wheel") or importlib.util.find_spec("wheel"):
        base.insert(4, "--no-build-isolation")
    built = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = out.glob("budgetdb-*.whl")
    return found


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _data_files(pattern: str, folder: str) -> list[str]:
    return [
        f"{FOLDERS[folder]}/{p.relative_to(REPO / folder).as_posix()}"
        for p in (REPO / folder).rglob(pattern)
        if "__pycache__" not in p.parts
    ]


def test_every_sql_and_template_file_is_in_the_wheel(wheel):
    names = _names(wheel)
    expected = (
        _data_files("*.sql", "store")
        + _data_files("*.sql", "queries")
        + _data_files("*.txt", "queries")
        + _data_files("*.j2", "templates")
    )
    assert any(n.startswith("budgetdb/store/migrations/") for n in expected)
    assert any(n.endswith(".j2") for n in expected) and any(n.startswith("budgetdb/queries/") for n in expected)
    missing = sorted(set(expected) - names)
    assert not missing


def test_every_module_of_every_subpackage_is_in_the_wheel(wheel):
    names = _names(wheel)
    for package in SUBPACKAGES:
        assert package.replace(".", "/") + "/__init__.py" in names, package
    expected = [m for folder in FOLDERS for m in _data_files("*.py", folder)]
    assert not sorted(set(expected) - names)


def test_nothing_lands_outside_the_budgetdb_namespace(wheel):
    names = _names(wheel)
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"budgetdb"}
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert archive.read(info).decode().split() == ["budgetdb"]
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "budgetdb = budgetdb.cli.app:main" in entry_points


_CHECK = """
import json, sys
from importlib import resources
import budgetdb, budgetdb.store, budgetdb.cli.app
from budgetdb.store import migrations
print(json.dumps({
    "file": budgetdb.store.__file__,
    "migrations": [m.name for m in migrations.available()],
    "queries": sorted(p.name for p in resources.files("budgetdb.queries").iterdir() if p.name.endswith(".sql")),
    "templates": sorted(p.name for p in resources.files("budgetdb.templates").iterdir() if p.name.endswith(".j2")),
}))
"""


def test_a_plain_install_finds_its_data_files(wheel, tmp_path):
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert found["file"].startswith(str(target)), "the check imported the editable source, not the wheel"
    assert found["migrations"] == sorted(p.name for p in (REPO / "store" / "migrations").glob("*.sql"))
    assert found["queries"] == sorted(p.name for p in (REPO / "queries").glob("*.sql"))
    assert found["templates"] == sorted(p.name for p in (REPO / "templates").glob("*.j2"))


def test_the_wheel_takes_its_version_from_budgetdb_version(wheel):
    import budgetdb

    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    assert f"Version: {budgetdb.__version__}" in lines
    assert wheel.name.startswith(f"budgetdb-{budgetdb.__version__}-")
