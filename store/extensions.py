"""DuckDB extensions from pinned PyPI packages, loaded from their files: no network at run time.

`pip install 'budgetdb[lake]'` brings `duckdb-extension-ducklake` and
`duckdb-extension-postgres-scanner`, built for the pinned duckdb; each ships its extension as
`<package>/extensions/v<duckdb version>/<name>.duckdb_extension`. DuckDB is told never to
install or auto-load anything, so a missing file is an error here, not a download.
"""

from __future__ import annotations

from importlib import resources

import duckdb

from budgetdb.errors import BudgetdbError

PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    # only for a data path on object storage (s3://...); see docs/scale.md
    "httpfs": "duckdb_extension_httpfs",
    "aws": "duckdb_extension_aws",
}

# No extension is fetched or loaded behind our back; LOAD '<file>' is the only way in.
OFFLINE = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class ExtensionMissingError(BudgetdbError):
    pass


def offline_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that cannot reach an extension repository."""
    return duckdb.connect(":memory:", config=dict(OFFLINE))


def _install_hint(name: str) -> str:
    if name in ("ducklake", "postgres_scanner"):
        return "pip install 'budgetdb[lake]'"
    return f"pip install {PACKAGES[name].replace('_', '-')}=={duckdb.__version__}"


def extension_file(name: str) -> str:
    """The path of extension `name`'s file in its installed package."""
    package = PACKAGES[name]
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise ExtensionMissingError(
            f"this store needs DuckDB's {name} extension: {_install_hint(name)} "
            f"(the {package.replace('_', '-')} package, version {duckdb.__version__})"
        ) from None
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ExtensionMissingError(
            f"{package.replace('_', '-')} has no {name} extension for duckdb {duckdb.__version__} ({path}); "
            f"install the version that matches duckdb: {_install_hint(name)}"
        )
    return str(path)


def load(con: duckdb.DuckDBPyConnection, name: str) -> None:
    path = extension_file(name)
    con.execute("LOAD '" + path.replace("'", "''") + "'")
