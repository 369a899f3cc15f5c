"""Find the packaged `<name>.v<N>.sql` files and parse their `-- key: value` headers.

A header is the leading block of `--` comment lines:

    -- name: pareto_frontier
    -- version: 1
    -- description: The Pareto frontier of the config points of every dataset.
    --   (a line indented by two or more spaces continues the previous key)
    -- param: dataset VARCHAR[] = NULL -- only these datasets (NULL = all)
    -- param: latency_stat VARCHAR IN ('mean', 'p50') = 'mean' -- which statistic
    -- returns: dataset, accuracy, latency

Only the header is parsed; the SQL runs as written, with `$name` bound by DuckDB.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from budgetdb.store.errors import BudgetdbError

from .coerce import coerce_literal

TYPES = ("VARCHAR", "DOUBLE", "INTEGER", "BOOLEAN", "VARCHAR[]", "DOUBLE[]", "INTEGER[]")
CHECKSUMS = "checksums.txt"

_FILE_NAME = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.sql$")
_KEY_LINE = re.compile(r"^-- (?P<key>[a-z_]+):(?: (?P<value>.*))?$")
_CONTINUATION = re.compile(r"^--  +(?P<value>\S.*)$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z]+(?:\[\])?)"
    r"(?:\s+IN\s*\((?P<choices>[^)]*)\))?"
    r"(?:\s*=\s*(?P<default>.+?))?"
    r"(?:\s+--\s+(?P<description>.*))?$"
)
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# String literals, quoted identifiers and comments: no placeholder is looked for inside them.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_REQUIRED_KEYS = ("name", "version", "description", "returns")


class QueryError(BudgetdbError):
    """Base class of the query layer's errors."""


class QueryDefinitionError(QueryError):
    """A packaged query file is malformed (names the file and line)."""


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


@dataclass(frozen=True)
class QuerySpec:
    name: str
    version: int
    description: str
    params: tuple[Param, ...]
    returns: tuple[str, ...]
    sql: str
    sha256: str
    file_name: str

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise QueryParamError(
            f"{self.ref} has no parameter {name!r}; its parameters are: {', '.join(p.name for p in self.params) or '(none)'}"
        )


def parse(file_name: str, text: str) -> QuerySpec:
    """Parse one query file; every problem is a QueryDefinitionError naming the file and line."""
    match = _FILE_NAME.match(file_name)
    if not match:
        raise QueryDefinitionError(f"{file_name}: query files are named <name>.v<N>.sql (lower-case name)")
    header, params = _read_header(file_name, text)
    for key in _REQUIRED_KEYS:
        if key not in header:
            raise QueryDefinitionError(f"{file_name}:1: header has no `-- {key}:` line")
    name_line, name = header["name"]
    if name != match.group("name"):
        raise QueryDefinitionError(f"{file_name}:{name_line}: name {name!r} does not match the file name")
    version_line, version = header["version"]
    if version != match.group("version"):
        raise QueryDefinitionError(f"{file_name}:{version_line}: version {version!r} does not match the file name")
    returns = tuple(column.strip() for column in header["returns"][1].split(",") if column.strip())
    _check_placeholders(file_name, text, params)
    return QuerySpec(
        name=name,
        version=int(version),
        description=header["description"][1],
        params=tuple(param for param, _ in params),
        returns=returns,
        sql=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        file_name=file_name,
    )


def _read_header(file_name: str, text: str):
    header: dict[str, tuple[int, str]] = {}
    params: list[tuple[Param, int]] = []
    last_key = None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.startswith("--"):
            break
        if continued := _CONTINUATION.match(line):
            if last_key is None or last_key == "param":
                raise QueryDefinitionError(f"{file_name}:{number}: a continuation line must follow a description or returns line")
            first_line, value = header[last_key]
            header[last_key] = (first_line, f"{value} {continued.group('value')}")
            continue
        keyed = _KEY_LINE.match(line)
        if not keyed:
            raise QueryDefinitionError(f"{file_name}:{number}: expected `-- key: value` in the header, got {line!r}")
        key, value = keyed.group("key"), (keyed.group("value") or "").strip()
        if key == "param":
            param = _parse_param(file_name, number, value)
            if any(p.name == param.name for p, _ in params):
                raise QueryDefinitionError(f"{file_name}:{number}: parameter {param.name!r} is declared twice")
            params.append((param, number))
        elif key in _REQUIRED_KEYS:
            if key in header:
                raise QueryDefinitionError(f"{file_name}:{number}: `{key}` is given twice")
            header[key] = (number, value)
        else:
            raise QueryDefinitionError(
                f"{file_name}:{number}: unknown header key {key!r}; use {', '.join(_REQUIRED_KEYS)} or param"
            )
        last_key = key
    return header, params


def _parse_param(file_name: str, line: int, value: str) -> Param:
    match = _PARAM.match(value)
    if not match:
        raise QueryDefinitionError(
            f"{file_name}:{line}: expected `-- param: name TYPE [IN (...)] [= default] [-- description]`, got {value!r}"
        )
    type_ = match.group("type")
    if type_ not in TYPES:
        raise QueryDefinitionError(f"{file_name}:{line}: unknown type {type_}; use one of {', '.join(TYPES)}")
    try:
        choices = None
        if match.group("choices") is not None:
            choices = tuple(coerce_literal(item.strip(), type_) for item in _split_literals(match.group("choices")))
        default_text = match.group("default")
        default = coerce_literal(default_text, type_) if default_text is not None else None
    except ValueError as exc:
        raise QueryDefinitionError(f"{file_name}:{line}: {exc}") from None
    if choices is not None and default is not None and default not in choices:
        raise QueryDefinitionError(f"{file_name}:{line}: default {default!r} is not one of the choices {choices}")
    return Param(
        name=match.group("name"),
        type=type_,
        default=default,
        description=(match.group("description") or "").strip(),
        choices=choices,
        required=default_text is None,
    )


def _split_literals(text: str) -> list[str]:
    return [item for item in re.findall(r"'(?:[^']|'')*'|[^,\s][^,]*", text) if item.strip()]


def _check_placeholders(file_name: str, text: str, params) -> None:
    # blank out strings and comments (header included), keeping line numbers
    code = _NOT_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    if not code.strip():
        raise QueryDefinitionError(f"{file_name}: no SQL after the header")
    used: dict[str, int] = {}
    for match in _PLACEHOLDER.finditer(code):
        line = code.count("\n", 0, match.start()) + 1
        used.setdefault(match.group(1), line)
    declared = {param.name: line for param, line in params}
    for name, line in sorted(used.items(), key=lambda item: item[1]):
        if name not in declared:
            raise QueryDefinitionError(f"{file_name}:{line}: ${name} is used but not declared with `-- param: {name} ...`")
    for name, line in declared.items():
        if name not in used:
            raise QueryDefinitionError(f"{file_name}:{line}: parameter {name!r} is declared but ${name} is never used")


def _package_files() -> dict[str, str]:
    folder = resources.files("budgetdb.queries")
    # bytes, not read_text: the checksum is of the file exactly as stored (no newline translation)
    return {entry.name: entry.read_bytes().decode("utf-8") for entry in folder.iterdir() if entry.name.endswith(".sql")}


@lru_cache(maxsize=1)
def load_all() -> dict[str, dict[int, QuerySpec]]:
    """Every packaged query: {name: {version: spec}}."""
    found: dict[str, dict[int, QuerySpec]] = {}
    for file_name, text in sorted(_package_files().items()):
        spec = parse(file_name, text)
        found.setdefault(spec.name, {})[spec.version] = spec
    return found


def read_checksums() -> dict[str, str]:
    """checksums.txt: `<sha256>  <file name>` for every published query version."""
    text = resources.files("budgetdb.queries").joinpath(CHECKSUMS).read_text("utf-8")
    listed = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            digest, file_name = line.split()
            listed[file_name] = digest
    return listed


def checksum_lines() -> str:
    """The checksums.txt text for the files now packaged (to publish a new version)."""
    lines = [f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}  {name}" for name, text in sorted(_package_files().items())]
    return "\n".join(lines) + "\n"

