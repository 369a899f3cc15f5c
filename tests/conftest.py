"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from seed_fixture import build_seed_store


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory):
    """Path of a store whose queries give the seed report's figures (tests/seed_fixture.py).

    Built once per session (a few seconds); open it read-only.
    """
    path = tmp_path_factory.mktemp("seed") / "seed.duckdb"
    build_seed_store(path)
    return path


@pytest.fixture(autouse=True)
def _no_user_query_folders(monkeypatch):
    """The packaged queries only, whatever $BUDGETDB_QUERIES the shell running the tests has."""
    monkeypatch.delenv("BUDGETDB_QUERIES", raising=False)
