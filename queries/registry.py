"""Parse one query file's `-- key: value` header into a frozen QuerySpec.

A header is the leading block of `--` comment lines:

    -- name: pareto_frontier
    -- version: 3
    -- description: The Pareto frontier of the config points of every dataset.
    --   (a line indented by two or more spaces continues the previous key)
    -- param: min_points INTEGER = 2 -- a parameter this query adds
    -- param: latency_stat VARCHAR IN ('mean', 'p50') = 'p95' -- one whose default it changes
    -- uses: config_points
    -- returns: dataset, accuracy, latency

Only the header is parsed; the SQL runs as written, with `$name` bound by DuckDB.

`uses` names the queries this one reads, as dbt's ref() does: `config_points` is the latest
version (or the one a run pins), `config_points@v2` always version 2. The SQL reads each by
its bare name (`FROM config_points`). A dependency's parameters are this query's parameters
too (they flow by name); the header declares only those it adds or whose default it changes.
Which versions a `uses` gets and how parameters merge: catalog.py.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from budgetdb.errors import BudgetdbError

from . import ranges
from .coerce import coerce_literal
from .sqltext import code, placeholders

TYPES = ("VARCHAR", "DOUBLE", "INTEGER", "BOOLEAN", "VARCHAR[]", "DOUBLE[]", "INTEGER[]")
CHECKSUMS = "checksums.txt"
# keyword-only arguments of the functions that take a query's parameters as keywords
# (queries.run, queries.compile, budgetdb.query): a parameter may not be named like one
RESERVED_PARAMS = ("catalog", "data_path", "db", "pins", "queries", "session")

FILE_NAME = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.sql$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
USE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?:@v(?P<version>[1-9][0-9]*))?$")
_KEY_LINE = re.compile(r"^-- (?P<key>[a-z_]+):(?: (?P<value>.*))?$")
_CONTINUATION = re.compile(r"^--  +(?P<value>\S.*)$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z]+(?:\[\])?)"
    r"(?:\s+IN\s*\((?P<choices>[^)]*)\))?"
    rf"(?:\s+(?P<range>{ranges.SYNTAX}))?"  # BETWEEN 1 AND 100, > 0, >= 0 AND < 1 (queries/ranges.py)
    r"(?:\s*=\s*(?P<default>.+?))?"
    r"(?:\s+--\s+(?P<description>.*))?$"
)
_REQUIRED_KEYS = ("name", "version", "description", "returns")
_OPTIONAL_KEYS = ("uses", "numpy")


class QueryError(BudgetdbError):
    """Base class of the query layer's errors."""


class QueryDefinitionError(QueryError):
    """A query file is malformed, or its `uses` cannot be resolved (names the file and line)."""


class QueryNotFoundError(QueryError):
    """No query or no such version of it."""


class QueryParamError(QueryError):
    """An unknown parameter, or a value that does not fit the declared type."""


class QueryRunError(QueryError):
    """DuckDB refused to run a query (e.g. a parameter the SQL itself checks, like step > 0)."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    description: str
    choices: tuple[Any, ...] | None = None
    required: bool = False
    range: ranges.Range | None = None  # declared in the header; ranges.of() adds the known ones


@dataclass(frozen=True)
class NumpyStep:
    """A query's numpy step (queries/numpy_steps.py): the Python file beside its SQL file."""

    file_name: str
    text: str
    sha256: str
    params: tuple[str, ...]  # the query parameters it reads
    columns: tuple[tuple[str, str], ...]  # its rows' (name, DuckDB type): the query's `returns`

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


@dataclass(frozen=True)
class QuerySpec:
    name: str
    version: int
    description: str
    params: tuple[Param, ...]  # as declared in this file (Plan.params adds those of the queries it uses)
    returns: tuple[str, ...]
    sql: str
    sha256: str
    file_name: str
    uses: tuple[str, ...] = ()  # as written: `name` (latest, or the run's pin) or `name@vN`
    source: str = "packaged"  # "packaged", or the user folder (as given) the file is in
    path: str = ""  # how messages name the file: the file name for packaged ones, else FOLDER/FILE
    numpy_file: str | None = None  # `-- numpy: <name>.v<N>.py`: its rows come from that step (numpy_steps.py)
    numpy: NumpyStep | None = None  # that step, attached by the catalog (packaged queries only)

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def where(self) -> str:
        return self.path or self.file_name

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise QueryParamError(
            f"{self.ref} has no parameter {name!r}; its parameters are: {', '.join(p.name for p in self.params) or '(none)'}"
        )

    def line(self, prefix: str) -> int:
        """The header line that starts with `prefix` (1 when there is none)."""
        for number, line in enumerate(self.sql.split("\n"), start=1):
            if not line.startswith("--"):
                break
            if line.startswith(prefix):
                return number
        return 1


def parse(file_name: str, text: str, *, source: str = "packaged", path: str = "", any_file_name: bool = False) -> QuerySpec:
    """Parse one query file; every problem is a QueryDefinitionError naming the file (`path`) and line.

    The file is named `<name>.v<N>.sql` after its header; with `any_file_name` (a file run
    directly) another name is fine, but a name of that form must still match the header."""
    where = path or file_name
    match = FILE_NAME.match(file_name)
    if not match and not any_file_name:
        raise QueryDefinitionError(f"{where}: query files are named <name>.v<N>.sql (lower-case name)")
    header, params = _read_header(where, text)
    for key in _REQUIRED_KEYS:
        if key not in header:
            raise QueryDefinitionError(f"{where}:1: header has no `-- {key}:` line")
    name_line, name = header["name"]
    version_line, version = header["version"]
    if not NAME.match(name):
        raise QueryDefinitionError(f"{where}:{name_line}: a query name is lower-case letters, digits and _, got {name!r}")
    if not re.fullmatch(r"[1-9][0-9]*", version):
        raise QueryDefinitionError(f"{where}:{version_line}: a version is a whole number >= 1, got {version!r}")
    if match and name != match.group("name"):
        raise QueryDefinitionError(f"{where}:{name_line}: name {name!r} does not match the file name")
    if match and version != match.group("version"):
        raise QueryDefinitionError(f"{where}:{version_line}: version {version!r} does not match the file name")
    returns = tuple(column.strip() for column in header["returns"][1].split(",") if column.strip())
    uses = _parse_uses(where, *header["uses"]) if "uses" in header else ()
    numpy_file = None
    if "numpy" in header:
        numpy_line, numpy_file = header["numpy"]
        if numpy_file != f"{name}.v{version}.py":
            raise QueryDefinitionError(
                f"{where}:{numpy_line}: a numpy step is the file of the query's name and version beside it: "
                f"`-- numpy: {name}.v{version}.py`, not {numpy_file!r}"
            )
    # with dependencies a parameter may be only passed on to them, and a numpy step may read it:
    # the catalog checks those
    _check_placeholders(where, text, params, check_unused=not uses and numpy_file is None)
    return QuerySpec(
        name=name,
        version=int(version),
        description=header["description"][1],
        params=tuple(param for param, _ in params),
        returns=returns,
        sql=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        file_name=file_name,
        uses=uses,
        source=source,
        path=path,
        numpy_file=numpy_file,
    )


def _read_header(where: str, text: str):
    header: dict[str, tuple[int, str]] = {}
    params: list[tuple[Param, int]] = []
    last_key = None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.startswith("--"):
            break
        if continued := _CONTINUATION.match(line):
            if last_key is None or last_key == "param":
                raise QueryDefinitionError(f"{where}:{number}: a continuation line must follow a description or returns line")
            first_line, value = header[last_key]
            header[last_key] = (first_line, f"{value} {continued.group('value')}")
            continue
        keyed = _KEY_LINE.match(line)
        if not keyed:
            raise QueryDefinitionError(f"{where}:{number}: expected `-- key: value` in the header, got {line!r}")
        key, value = keyed.group("key"), (keyed.group("value") or "").strip()
        if key == "param":
            param = _parse_param(where, number, value)
            if any(p.name == param.name for p, _ in params):
                raise QueryDefinitionError(f"{where}:{number}: parameter {param.name!r} is declared twice")
            params.append((param, number))
        elif key in _REQUIRED_KEYS or key in _OPTIONAL_KEYS:
            if key in header:
                raise QueryDefinitionError(f"{where}:{number}: `{key}` is given twice")
            header[key] = (number, value)
        else:
            raise QueryDefinitionError(
                f"{where}:{number}: unknown header key {key!r}; use {', '.join(_REQUIRED_KEYS + _OPTIONAL_KEYS)} or param"
            )
        last_key = key
    return header, params


def _parse_param(where: str, line: int, value: str) -> Param:
    match = _PARAM.match(value)
    if not match:
        raise QueryDefinitionError(
            f"{where}:{line}: expected `-- param: name TYPE [IN (...)] [= default] [-- description]`, got {value!r}"
        )
    if match.group("name") in RESERVED_PARAMS:
        raise QueryDefinitionError(
            f"{where}:{line}: a parameter may not be named {match.group('name')!r}: queries.run and budgetdb.query "
            f"take it as an option (reserved: {', '.join(RESERVED_PARAMS)})"
        )
    type_ = match.group("type")
    if type_ not in TYPES:
        raise QueryDefinitionError(f"{where}:{line}: unknown type {type_}; use one of {', '.join(TYPES)}")
    try:
        choices = None
        if match.group("choices") is not None:
            choices = tuple(coerce_literal(item.strip(), type_) for item in _split_literals(match.group("choices")))
        default_text = match.group("default")
        default = coerce_literal(default_text, type_) if default_text is not None else None
        valid = ranges.parse(match.group("range")) if match.group("range") else None
    except ValueError as exc:
        raise QueryDefinitionError(f"{where}:{line}: {exc}") from None
    if valid is not None and type_.rstrip("[]") not in ("INTEGER", "DOUBLE"):
        raise QueryDefinitionError(f"{where}:{line}: a range needs a number type (INTEGER, DOUBLE), not {type_}")
    if choices is not None and default is not None and default not in choices:
        raise QueryDefinitionError(f"{where}:{line}: default {default!r} is not one of the choices {choices}")
    return Param(
        name=match.group("name"),
        type=type_,
        default=default,
        description=(match.group("description") or "").strip(),
        choices=choices,
        required=default_text is None,
        range=valid,
    )


def _parse_uses(where: str, line: int, value: str) -> tuple[str, ...]:
    refs = [item.strip() for item in value.split(",")]
    for ref in refs:
        if not USE.match(ref):
            raise QueryDefinitionError(
                f"{where}:{line}: `uses` takes query names, each the latest version (config_points) or pinned "
                f"(config_points@v2), separated by commas; got {ref!r}"
            )
    names = [ref.partition("@")[0] for ref in refs]
    if len(set(names)) != len(names):
        raise QueryDefinitionError(f"{where}:{line}: `uses` names a query twice (the SQL reads one relation per name)")
    return tuple(refs)


def _split_literals(text: str) -> list[str]:
    return [item for item in re.findall(r"'(?:[^']|'')*'|[^,\s][^,]*", text) if item.strip()]


def sql_params(spec: QuerySpec) -> tuple[str, ...]:
    """The parameters the file's own SQL binds (the others are only passed on to its dependencies)."""
    used = placeholders(spec.sql)
    return tuple(p.name for p in spec.params if p.name in used)


def _check_placeholders(where: str, text: str, params, check_unused: bool) -> None:
    if not code(text).strip():
        raise QueryDefinitionError(f"{where}: no SQL after the header")
    used = placeholders(text)
    declared = {param.name: line for param, line in params}
    for name, line in sorted(used.items(), key=lambda item: item[1]):
        if name not in declared:
            raise QueryDefinitionError(f"{where}:{line}: ${name} is used but not declared with `-- param: {name} ...`")
    if check_unused:
        for name, line in declared.items():
            if name not in used:
                raise QueryDefinitionError(f"{where}:{line}: parameter {name!r} is declared but ${name} is never used")


def param_text(param: Param) -> str:
    """The parameter as a header declares it (without its description)."""
    choices = f" IN ({', '.join(map(repr, param.choices))})" if param.choices is not None else ""
    valid = f" ({ranges.of(param)})" if ranges.of(param) is not None else ""
    default = "" if param.required else f" = {'NULL' if param.default is None else repr(param.default)}"
    return f"{param.name} {param.type}{choices}{valid}{default}"


STEP_FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.py$")


def package_files() -> dict[str, str]:
    folder = resources.files("budgetdb.queries")
    # bytes, not read_text: the checksum is of the file exactly as stored (no newline translation)
    return {entry.name: entry.read_bytes().decode("utf-8") for entry in folder.iterdir() if entry.name.endswith(".sql")}


def package_steps() -> dict[str, str]:
    """The packaged numpy steps (`<name>.v<N>.py` beside their query files), as stored."""
    folder = resources.files("budgetdb.queries")
    return {entry.name: entry.read_bytes().decode("utf-8") for entry in folder.iterdir() if STEP_FILE.match(entry.name)}


def read_checksums() -> dict[str, str]:
    """checksums.txt: `<sha256>  <file name>` for every published query version and numpy step."""
    text = resources.files("budgetdb.queries").joinpath(CHECKSUMS).read_text("utf-8")
    listed = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            digest, file_name = line.split()
            listed[file_name] = digest
    return listed


def checksum_lines() -> str:
    """The checksums.txt lines of the files now packaged, query files and numpy steps (to publish a new version)."""
    published = {**package_files(), **package_steps()}
    lines = [f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}  {name}" for name, text in sorted(published.items())]
    return "\n".join(lines) + "\n"
