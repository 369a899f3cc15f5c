"""Find the packaged `<name>.v<N>.sql` files and parse their `-- key: value` headers.

A header is the leading block of `--` comment lines:

    -- name: pareto_frontier
    -- version: 1
    -- description: The Pareto frontier of the config points of every dataset.
    --   (a line indented by two or more spaces continues the previous key)
    -- param: dataset VARCHAR[] = NULL -- only these datasets (NULL = all)
    -- param: latency_stat VARCHAR IN ('mean', 'p50') = 'mean' -- which statistic
    -- uses: config_points@v1
    -- returns: dataset, accuracy, latency

Only the header is parsed; the SQL runs as written, with `$name` bound by DuckDB.

`uses` names the queries this one reads, pinned to a version, as dbt's ref() does: the SQL
reads each by its bare name as a relation (`FROM config_points`), and the runner creates
those relations first (see runner.run). A dependency's parameters must be declared here too,
with the same type, choices and default: it runs with the values bound for this query.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from budgetdb.errors import BudgetdbError

from . import ranges
from .coerce import coerce_literal

TYPES = ("VARCHAR", "DOUBLE", "INTEGER", "BOOLEAN", "VARCHAR[]", "DOUBLE[]", "INTEGER[]")
CHECKSUMS = "checksums.txt"

_FILE_NAME = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.sql$")
_KEY_LINE = re.compile(r"^-- (?P<key>[a-z_]+):(?: (?P<value>.*))?$")
_CONTINUATION = re.compile(r"^--  +(?P<value>\S.*)$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z]+(?:\[\])?)"
    r"(?:\s+IN\s*\((?P<choices>[^)]*)\))?"
    rf"(?:\s+(?P<range>{ranges.SYNTAX}))?"  # BETWEEN 1 AND 100, > 0, >= 0 AND < 1 (queries/ranges.py)
    r"(?:\s*=\s*(?P<default>.+?))?"
    r"(?:\s+--\s+(?P<description>.*))?$"
)
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# String literals, quoted identifiers and comments: no placeholder is looked for inside them.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_REQUIRED_KEYS = ("name", "version", "description", "returns")
_OPTIONAL_KEYS = ("uses",)
_USE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)@v(?P<version>[1-9][0-9]*)$")


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
    range: ranges.Range | None = None  # declared in the header; ranges.of() adds the known ones


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
    uses: tuple[str, ...] = ()  # pinned refs (`name@vN`) of the queries this one reads

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
    uses = _parse_uses(file_name, *header["uses"]) if "uses" in header else ()
    # with dependencies a parameter may be only passed on to them: link() checks that
    _check_placeholders(file_name, text, params, check_unused=not uses)
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
        elif key in _REQUIRED_KEYS or key in _OPTIONAL_KEYS:
            if key in header:
                raise QueryDefinitionError(f"{file_name}:{number}: `{key}` is given twice")
            header[key] = (number, value)
        else:
            raise QueryDefinitionError(
                f"{file_name}:{number}: unknown header key {key!r}; use {', '.join(_REQUIRED_KEYS + _OPTIONAL_KEYS)} or param"
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
        valid = ranges.parse(match.group("range")) if match.group("range") else None
    except ValueError as exc:
        raise QueryDefinitionError(f"{file_name}:{line}: {exc}") from None
    if valid is not None and type_.rstrip("[]") not in ("INTEGER", "DOUBLE"):
        raise QueryDefinitionError(f"{file_name}:{line}: a range needs a number type (INTEGER, DOUBLE), not {type_}")
    if choices is not None and default is not None and default not in choices:
        raise QueryDefinitionError(f"{file_name}:{line}: default {default!r} is not one of the choices {choices}")
    return Param(
        name=match.group("name"),
        type=type_,
        default=default,
        description=(match.group("description") or "").strip(),
        choices=choices,
        required=default_text is None,
        range=valid,
    )


def _parse_uses(file_name: str, line: int, value: str) -> tuple[str, ...]:
    refs = [item.strip() for item in value.split(",")]
    for ref in refs:
        if not _USE.match(ref):
            raise QueryDefinitionError(
                f"{file_name}:{line}: `uses` takes pinned query versions like config_points@v1, separated by commas; got {ref!r}"
            )
    if len(set(refs)) != len(refs):
        raise QueryDefinitionError(f"{file_name}:{line}: `uses` names a query twice")
    return tuple(refs)


def _split_literals(text: str) -> list[str]:
    return [item for item in re.findall(r"'(?:[^']|'')*'|[^,\s][^,]*", text) if item.strip()]


def _code(text: str) -> str:
    """`text` with strings, quoted identifiers and comments (the header too) blanked, line numbers kept."""
    return _NOT_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


@lru_cache(maxsize=256)
def _placeholders(text: str) -> dict[str, int]:
    """{name: first line} of every `$name` the SQL itself binds."""
    code = _code(text)
    used: dict[str, int] = {}
    for match in _PLACEHOLDER.finditer(code):
        used.setdefault(match.group(1), code.count("\n", 0, match.start()) + 1)
    return used


def sql_params(spec: QuerySpec) -> tuple[str, ...]:
    """The parameters the file's own SQL binds (the others are only passed on to its dependencies)."""
    used = _placeholders(spec.sql)
    return tuple(p.name for p in spec.params if p.name in used)


def _check_placeholders(file_name: str, text: str, params, check_unused: bool) -> None:
    if not _code(text).strip():
        raise QueryDefinitionError(f"{file_name}: no SQL after the header")
    used = _placeholders(text)
    declared = {param.name: line for param, line in params}
    for name, line in sorted(used.items(), key=lambda item: item[1]):
        if name not in declared:
            raise QueryDefinitionError(f"{file_name}:{line}: ${name} is used but not declared with `-- param: {name} ...`")
    if check_unused:
        for name, line in declared.items():
            if name not in used:
                raise QueryDefinitionError(f"{file_name}:{line}: parameter {name!r} is declared but ${name} is never used")


def _header_line(spec: QuerySpec, prefix: str) -> int:
    """The line of the header that starts with `prefix` (1 when there is none)."""
    for number, line in enumerate(spec.sql.split("\n"), start=1):
        if not line.startswith("--"):
            break
        if line.startswith(prefix):
            return number
    return 1


def _param_text(param: Param) -> str:
    choices = f" IN ({', '.join(map(repr, param.choices))})" if param.choices is not None else ""
    valid = f" ({ranges.of(param)})" if ranges.of(param) is not None else ""
    default = "" if param.required else f" = {'NULL' if param.default is None else repr(param.default)}"
    return f"{param.name} {param.type}{choices}{valid}{default}"


# -- dependencies ----------------------------------------------------------------------------------


def resolve(every: dict[str, dict[int, QuerySpec]], ref: str) -> QuerySpec | None:
    """The spec of a pinned `name@vN` in `every`, or None."""
    match = _USE.match(ref)
    return every.get(match.group("name"), {}).get(int(match.group("version"))) if match else None


def closure(spec: QuerySpec, every: dict[str, dict[int, QuerySpec]]) -> tuple[QuerySpec, ...]:
    """`spec` and every query it uses, directly or not: each once, each after the queries it
    reads (depth first, in `uses` order), `spec` last. A cycle or an unknown ref is a
    QueryDefinitionError naming the file and line of the `uses` that breaks."""
    order: list[QuerySpec] = []
    done: set[str] = set()

    def visit(current: QuerySpec, path: tuple[QuerySpec, ...]) -> None:
        if current.ref in done:
            return
        for ref in current.uses:
            dependency = resolve(every, ref)
            if dependency is None:
                name = ref.partition("@")[0]
                known = ", ".join(f"{name}@v{v}" for v in sorted(every.get(name, {}))) or ", ".join(sorted(every))
                raise QueryDefinitionError(f"{_uses_line(current)}: uses {ref}, which does not exist; valid: {known}")
            cycle = [s.ref for s in (*path, current)]
            if dependency.ref in cycle:
                chain = " -> ".join(cycle[cycle.index(dependency.ref) :] + [dependency.ref])
                raise QueryDefinitionError(f"{_uses_line(current)}: dependency cycle: {chain}")
            visit(dependency, (*path, current))
        done.add(current.ref)
        order.append(current)

    visit(spec, ())
    return tuple(order)


def _uses_line(spec: QuerySpec) -> str:
    return f"{spec.file_name}:{_header_line(spec, '-- uses:')}"


def _check_dependencies(spec: QuerySpec, every: dict[str, dict[int, QuerySpec]]) -> None:
    if not spec.uses:
        return
    closure(spec, every)  # an unknown ref or a cycle raises here
    declared = {p.name: p for p in spec.params}
    code = _code(spec.sql)
    passed_on: set[str] = set()
    for ref in spec.uses:
        dependency = resolve(every, ref)
        assert dependency is not None  # closure() raised on an unknown ref
        passed_on |= {p.name for p in dependency.params}
        for param in dependency.params:
            mine = declared.get(param.name)
            if mine is None:
                raise QueryDefinitionError(
                    f"{_uses_line(spec)}: uses {ref}, whose parameter {param.name!r} is not declared here; "
                    f"declare it the same way: `-- param: {_param_text(param)}`"
                )
            if (mine.type, mine.choices, mine.default, mine.required, ranges.of(mine)) != (
                param.type,
                param.choices,
                param.default,
                param.required,
                ranges.of(param),
            ):
                raise QueryDefinitionError(
                    f"{spec.file_name}:{_header_line(spec, f'-- param: {param.name} ')}: parameter {_param_text(mine)} "
                    f"differs from {ref}'s {_param_text(param)}; a dependency runs with this query's values, "
                    "so type, choices and default must be the same (and any range)"
                )
        if not re.search(rf"\b{dependency.name}\b", code):
            raise QueryDefinitionError(f"{_uses_line(spec)}: uses {ref} but never reads from {dependency.name}")
    used = _placeholders(spec.sql)
    for param in spec.params:
        if param.name not in used and param.name not in passed_on:
            raise QueryDefinitionError(
                f"{spec.file_name}:{_header_line(spec, f'-- param: {param.name} ')}: parameter {param.name!r} is declared "
                f"but neither ${param.name} nor any query it uses reads it"
            )


def link(specs) -> dict[str, dict[int, QuerySpec]]:
    """{name: {version: spec}} of `specs`, once every `uses` is checked: it names an existing
    version, no cycle, the dependency's parameters declared alike here, every parameter read
    by the SQL or a dependency. Errors name the file and line."""
    every: dict[str, dict[int, QuerySpec]] = {}
    for spec in specs:
        if spec.version in every.get(spec.name, {}):
            raise QueryDefinitionError(f"{spec.file_name}: {spec.ref} is defined twice")
        every.setdefault(spec.name, {})[spec.version] = spec
    for versions in every.values():
        for spec in versions.values():
            _check_dependencies(spec, every)
    return every


def _package_files() -> dict[str, str]:
    folder = resources.files("budgetdb.queries")
    # bytes, not read_text: the checksum is of the file exactly as stored (no newline translation)
    return {entry.name: entry.read_bytes().decode("utf-8") for entry in folder.iterdir() if entry.name.endswith(".sql")}


@lru_cache(maxsize=1)
def load_all() -> dict[str, dict[int, QuerySpec]]:
    """Every packaged query, dependencies checked: {name: {version: spec}}."""
    return link(parse(file_name, text) for file_name, text in sorted(_package_files().items()))


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
