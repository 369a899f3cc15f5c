"""Numpy steps: the part of a packaged query that SQL cannot do fast enough, versioned like its SQL.

A query file may name one in its header (`-- numpy: config_resamples.v1.py`): the Python file of
the same name and version beside it. Its SQL then selects the step's input rows; the step turns
them (a dict of numpy arrays, one per column) into the query's rows. The file is published like a
query file (checksums.txt, never edited); its sha256 is listed next to the SQL's in `budgetdb
query list` and in the report's footer, and what runs is exactly the text that was hashed.

A step file declares, as module-level literals (read without running the file):

    PARAMS = ("resamples", "seed", "latency_stat")       # the query parameters it reads
    COLUMNS = (("config_run_id", "BIGINT"), ("r", "INTEGER"), ...)   # its rows: the query's `returns`

and `compute(inputs: dict[str, numpy.ndarray], params: dict) -> dict[str, numpy.ndarray]`. It
imports numpy and the standard library's math and typing only, so its sha256 covers all it does.
Steps come only with budgetdb: a query folder of your own holds SQL, never Python to run.
"""

from __future__ import annotations

import ast
import hashlib
import re
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .registry import STEP_FILE, NumpyStep, QueryDefinitionError, QueryRunError, QuerySpec

if TYPE_CHECKING:
    import duckdb

COLUMN_TYPES = ("BIGINT", "INTEGER", "DOUBLE")
ALLOWED_IMPORTS = ("__future__", "math", "typing", "numpy")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def parse(file_name: str, text: str) -> NumpyStep:
    """Read a step file's declarations without running it; QueryDefinitionError names the file and line."""
    if not STEP_FILE.match(file_name):
        raise QueryDefinitionError(f"{file_name}: a numpy step is named <name>.v<N>.py after its query file")
    try:
        tree = ast.parse(text, file_name)
    except SyntaxError as exc:
        raise QueryDefinitionError(f"{file_name}:{exc.lineno}: {exc.msg}") from None
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] not in ALLOWED_IMPORTS or (isinstance(node, ast.ImportFrom) and node.level):
                    raise QueryDefinitionError(
                        f"{file_name}:{node.lineno}: a numpy step imports only {', '.join(ALLOWED_IMPORTS)} "
                        f"(its sha256 must cover all it does), not {module or '.'}"
                    )
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("PARAMS", "COLUMNS"):
                try:
                    found[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    raise QueryDefinitionError(f"{file_name}:{node.lineno}: {node.targets[0].id} must be a literal") from None
        elif isinstance(node, ast.FunctionDef) and node.name == "compute":
            found["compute"] = True
    for key in ("PARAMS", "COLUMNS", "compute"):
        if key not in found:
            raise QueryDefinitionError(f"{file_name}: a numpy step defines PARAMS, COLUMNS and compute(); {key} is missing")
    params, columns = found["PARAMS"], found["COLUMNS"]
    if not isinstance(params, tuple) or not all(isinstance(p, str) and _IDENTIFIER.match(p) for p in params):
        raise QueryDefinitionError(f"{file_name}: PARAMS is a tuple of parameter names")
    if not isinstance(columns, tuple) or not all(
        isinstance(c, tuple) and len(c) == 2 and _IDENTIFIER.match(str(c[0])) and c[1] in COLUMN_TYPES for c in columns
    ):
        raise QueryDefinitionError(
            f"{file_name}: COLUMNS is a tuple of (name, type) pairs, the types among {', '.join(COLUMN_TYPES)}"
        )
    return NumpyStep(file_name, text, hashlib.sha256(text.encode("utf-8")).hexdigest(), params, columns)


_MODULES: dict[str, types.ModuleType] = {}


def _module(step: NumpyStep) -> types.ModuleType:
    """The step's module, run from the very text that was hashed (once per sha256)."""
    module = _MODULES.get(step.sha256)
    if module is None:
        module = types.ModuleType(f"budgetdb.queries.step_{step.sha256[:12]}")
        module.__file__ = step.file_name
        exec(compile(step.text, step.file_name, "exec"), module.__dict__)  # a packaged file, its sha256 checked by the tests
        _MODULES[step.sha256] = module
    return module


def run(step: NumpyStep, ref: str, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The step's columns, each a numpy array (float64 for DOUBLE, int64 for the integer types:
    `create_table` casts them to their declared types, refusing what does not fit)."""
    import numpy as np

    arrays = {name: np.ma.filled(values, np.nan) if np.ma.isMaskedArray(values) else values for name, values in inputs.items()}
    try:
        out = _module(step).compute(arrays, {name: params[name] for name in step.params})
    except Exception as exc:  # a step's bug or a value it cannot take: one line naming it
        raise QueryRunError(f"{ref} failed in its numpy step {step.file_name}: {type(exc).__name__}: {exc}") from exc
    columns = {name: np.asarray(out[name]).astype(np.float64 if kind == "DOUBLE" else np.int64) for name, kind in step.columns}
    if len({len(values) for values in columns.values()}) > 1:
        raise QueryRunError(f"{ref}: its numpy step {step.file_name} gave columns of different lengths")
    return columns


_STEP_ROWS = "budgetdb_numpy_step_rows"  # the name the step's arrays are registered under, for one INSERT


def create_table(con: duckdb.DuckDBPyConnection, table: str, step: NumpyStep, columns: Mapping[str, Any]) -> None:
    """CREATE TEMP TABLE `table` (a runner.table() name) holding the step's rows: its arrays are
    scanned by DuckDB where they are (a NaN in a DOUBLE column is NULL), no value converted in Python."""
    # The one text put into SQL: the table name (runner.table) and the step's COLUMNS, checked
    # by parse() to be lower-case identifiers and known types.
    declared = ", ".join(f"{name} {kind}" for name, kind in step.columns)
    con.execute(f"CREATE TEMP TABLE {table} ({declared})")
    con.register(_STEP_ROWS, dict(columns))
    try:
        names = ", ".join(name for name, _ in step.columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {_STEP_ROWS}")
    finally:
        con.unregister(_STEP_ROWS)


def attach(spec: QuerySpec, steps: Mapping[str, str]) -> QuerySpec:
    """`spec` with the numpy step its header names, from `steps` ({file name: text}); checked."""
    from dataclasses import replace

    if spec.numpy_file is None:
        return spec
    at = f"{spec.where}:{spec.line('-- numpy:')}"
    if spec.numpy_file not in steps:
        raise QueryDefinitionError(
            f"{at}: names the numpy step {spec.numpy_file}, which is not there; numpy steps come only with budgetdb "
            "(a query folder of your own holds SQL, never Python to run)"
        )
    step = parse(spec.numpy_file, steps[spec.numpy_file])
    if step.names != spec.returns:
        raise QueryDefinitionError(
            f"{at}: {spec.numpy_file} gives the columns {', '.join(step.names)}; `returns` says {', '.join(spec.returns)}"
        )
    return replace(spec, numpy=step)
