"""Where queries come from, and what running one means: which version each `uses` gets and which
parameters it takes.

Sources, in order: the folders given (`--queries DIR`, `budgetdb.query(queries=...)`), those of
$BUDGETDB_QUERIES (os.pathsep-separated), then the packaged queries. A name@version is defined
once: a user file that redefines a packaged version is refused (a published version never
changes), and of two user files defining one, the first folder's is used. A file that does not
parse is a problem of that file only: it fails when it, or a query using it, is asked for, and
`check()` lists it.

Resolving a query's `uses` (a plan, computed once per query and pins, then cached):
- `name@vN` is version N, always (published files pin what they read and keep their answers);
- `name` is the version the run pins (`pins={"config_points": 2}`), else the latest one.
Each query of the tree reads the version its own `uses` names, so one tree may hold two versions
of one name (the runner gives each its own temporary table).

Parameters flow by name: a query takes its own parameters and every parameter of the queries it
uses. Redeclaring one keeps its type, may narrow its choices and may change its default, which
then applies to the queries it flows to. Two dependencies that take one name differently
(another default, say) need the query to declare it, choosing the value both get.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from . import numpy_steps
from .registry import (
    FILE_NAME,
    USE,
    Param,
    QueryDefinitionError,
    QueryNotFoundError,
    QueryParamError,
    QuerySpec,
    package_files,
    package_steps,
    param_text,
    parse,
    sql_params,
)
from .sqltext import placeholders, reads

ENV = "BUDGETDB_QUERIES"
PACKAGED = "packaged"

Pins = Mapping[str, int] | Iterable[str] | None


@dataclass(frozen=True)
class Problem:
    ref: str | None  # the name@version the file defines (from its file name), if it says
    message: str  # one line, naming the file (and line)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Broken:
    where: str
    error: QueryDefinitionError


@dataclass(frozen=True)
class Step:
    """One query of a plan, with the versions its `uses` got."""

    spec: QuerySpec
    reads: tuple[tuple[str, str], ...]  # (name its SQL reads, the ref it gets)
    key: tuple  # what it computes apart from parameter values: its ref and sha256 and, nested, its dependencies
    binds: tuple[str, ...]  # the parameters its SQL or the SQL of a query below it binds


@dataclass(frozen=True)
class Plan:
    """A query with every dependency resolved: what `run` executes, in order, and its parameters."""

    spec: QuerySpec
    params: tuple[Param, ...]  # its own and every parameter flowing to the queries it uses
    steps: tuple[Step, ...]  # each query once, after the queries it reads; `spec` last

    @property
    def ref(self) -> str:
        return self.spec.ref

    @property
    def specs(self) -> tuple[QuerySpec, ...]:
        return tuple(step.spec for step in self.steps)

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise QueryParamError(
            f"{self.ref} has no parameter {name!r}; its parameters are: {', '.join(p.name for p in self.params) or '(none)'}"
        )


@dataclass(frozen=True)
class _Node:
    spec: QuerySpec
    deps: tuple[_Node, ...]
    params: tuple[Param, ...]
    key: tuple
    binds: tuple[str, ...]


class Catalog:
    """Every query of some folders and the package: {name: {version: spec}}, plus the files' problems."""

    def __init__(self, specs: Iterable[QuerySpec] = (), *, problems: Iterable[Problem] = (), folders: Iterable[str] = ()):
        self.folders = tuple(folders)
        self._entries: dict[str, dict[int, QuerySpec | _Broken]] = {}
        self._problems = list(problems)
        self._nodes: dict[frozenset, dict[str, _Node]] = {}
        self._plans: dict[tuple[str, frozenset], Plan] = {}
        for spec in specs:
            self.add(spec)

    # -- building ---------------------------------------------------------------------------------

    def add(self, spec: QuerySpec) -> None:
        self._nodes.clear()  # what an unpinned `uses` gets may change
        self._plans.clear()
        known = self._entries.get(spec.name, {}).get(spec.version)
        if known is not None:
            self._problems.append(Problem(spec.ref, _duplicate(spec.where, spec.ref, known)))
            return
        self._entries.setdefault(spec.name, {})[spec.version] = spec

    def add_file(self, file_name: str, text: str | None, *, source: str, path: str) -> None:
        """Parse a file into the catalog, or note its problem (`text` None: unreadable)."""
        named = FILE_NAME.match(file_name)
        ref = f"{named.group('name')}@v{named.group('version')}" if named else None
        try:
            if text is None:
                raise QueryDefinitionError(f"{path}: cannot be read as UTF-8 text")
            # a numpy step only with budgetdb: a user file naming one is refused
            spec = numpy_steps.attach(parse(file_name, text, source=source, path=path), {})
        except QueryDefinitionError as exc:
            self._problems.append(Problem(ref, str(exc)))
            self._nodes.clear()
            self._plans.clear()
            if named and ref is not None:
                name, version = named.group("name"), int(named.group("version"))
                known = self._entries.get(name, {}).get(version)
                if known is None:
                    self._entries.setdefault(name, {})[version] = _Broken(path, exc)
                else:
                    self._problems.append(Problem(ref, _duplicate(path, ref, known)))
            return
        self.add(spec)

    # -- looking up -------------------------------------------------------------------------------

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The files' own problems (unreadable, malformed, defined twice); `check()` adds the `uses`."""
        return tuple(self._problems)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def versions(self, name: str) -> list[int]:
        return sorted(self._entries.get(name, {}))

    def get(self, ref: str) -> QuerySpec:
        """`name` (its latest version) or `name@vN`."""
        name, _, version_text = ref.strip().partition("@")
        if name not in self._entries:
            raise QueryNotFoundError(f"no query named {name!r}; the queries are: {', '.join(self.names()) or '(none)'}")
        versions = self._entries[name]
        if not version_text:
            return _usable(versions[max(versions)])
        number = version_text[1:] if version_text[:1] in ("v", "V") else version_text
        if not number.isdigit() or int(number) not in versions:
            valid = ", ".join(f"{name}@v{v}" for v in sorted(versions))
            raise QueryNotFoundError(f"{name} has no version {version_text!r}; its versions are: {valid}")
        return _usable(versions[int(number)])

    def latest(self) -> list[QuerySpec]:
        """The latest version of every query that parses, sorted by name."""
        out = []
        for name in self.names():
            usable = [entry for _, entry in sorted(self._entries[name].items()) if isinstance(entry, QuerySpec)]
            if usable:
                out.append(usable[-1])
        return out

    def every(self) -> list[QuerySpec]:
        """Every version of every query that parses, by name then version."""
        return [e for name in self.names() for _, e in sorted(self._entries[name].items()) if isinstance(e, QuerySpec)]

    def check(self) -> list[Problem]:
        """Every problem: the files' own, then each query's whose `uses` cannot be resolved."""
        found = list(self._problems)
        for spec in self.every():
            try:
                self.plan(spec.ref)
            except QueryDefinitionError as exc:
                found.append(Problem(spec.ref, str(exc)))
        return found

    # -- resolving --------------------------------------------------------------------------------

    def plan(self, query: str | QuerySpec, pins: Pins = None) -> Plan:
        """What running `query` executes: its dependencies resolved (unpinned `uses` get `pins`,
        else the latest version), checked, in order; and its parameters."""
        pinned = _pin_set(pins)
        spec = self.get(query) if isinstance(query, str) else query
        known = self._entries.get(spec.name, {}).get(spec.version)
        member = known is spec
        if known is not None and not member and known.where != spec.where:
            raise QueryDefinitionError(_duplicate(spec.where, spec.ref, known))
        cache_key = (spec.ref, pinned)
        if member and cache_key in self._plans:
            return self._plans[cache_key]
        memo = self._nodes.setdefault(pinned, {})
        if not member:  # a file run by its path: its node stays out of the catalog's
            memo = {ref: node for ref, node in memo.items() if ref != spec.ref}
        root = self._node(spec, dict(pinned), (), memo)
        steps: list[Step] = []
        seen: set[str] = set()

        def visit(node: _Node) -> None:
            if node.spec.ref in seen:
                return
            for dep in node.deps:
                visit(dep)
            seen.add(node.spec.ref)
            reads_ = tuple((dep.spec.name, dep.spec.ref) for dep in node.deps)
            steps.append(Step(node.spec, reads_, node.key, node.binds))

        visit(root)
        plan = Plan(spec, root.params, tuple(steps))
        if member:
            self._plans[cache_key] = plan
        return plan

    def _resolve(self, spec: QuerySpec, use: str, pins: dict[str, int]) -> QuerySpec:
        match = USE.match(use)
        assert match is not None  # parse() checked every ref
        name, version = match.group("name"), match.group("version")
        versions = self._entries.get(name)
        if not versions:
            raise QueryDefinitionError(f"{_uses_at(spec)}: uses {use}, which does not exist; valid: {', '.join(self.names())}")
        if version is None and name in pins:
            version = str(pins[name])
            if int(version) not in versions:
                valid = ", ".join(f"{name}@v{v}" for v in sorted(versions))
                raise QueryNotFoundError(f"{name} is pinned to {name}@v{version}, which does not exist; valid: {valid}")
        if version is None:
            entry = versions[max(versions)]
        elif int(version) in versions:
            entry = versions[int(version)]
        else:
            valid = ", ".join(f"{name}@v{v}" for v in sorted(versions))
            raise QueryDefinitionError(f"{_uses_at(spec)}: uses {use}, which does not exist; valid: {valid}")
        if isinstance(entry, _Broken):
            ref = f"{name}@v{version or max(versions)}"
            raise QueryDefinitionError(f"{_uses_at(spec)}: uses {use}, and {ref} cannot be used: {entry.error}")
        return entry

    def _node(self, spec: QuerySpec, pins: dict[str, int], stack: tuple[str, ...], memo: dict[str, _Node]) -> _Node:
        found = memo.get(spec.ref)
        if found is not None:
            return found
        deps = []
        for use in spec.uses:
            dependency = self._resolve(spec, use, pins)
            if dependency.ref in (*stack, spec.ref):
                cycle = (*stack, spec.ref)
                chain = " -> ".join((*cycle[cycle.index(dependency.ref) :], dependency.ref))
                raise QueryDefinitionError(f"{_uses_at(spec)}: dependency cycle: {chain}")
            deps.append(self._node(dependency, pins, (*stack, spec.ref), memo))
        params = merge_params(spec, deps)
        for dep in deps:
            if not reads(spec.sql, dep.spec.name):
                raise QueryDefinitionError(f"{_uses_at(spec)}: uses {dep.spec.ref} but never reads from {dep.spec.name}")
        binds = dict.fromkeys(sql_params(spec))
        if spec.numpy is not None:
            missing = [name for name in spec.numpy.params if name not in {p.name for p in params}]
            if missing:
                raise QueryDefinitionError(
                    f"{spec.where}: its numpy step {spec.numpy.file_name} reads {', '.join(missing)}, "
                    "which is neither its parameter nor one of a query it uses"
                )
            binds.update(dict.fromkeys(spec.numpy.params))
        for dep in deps:
            binds.update(dict.fromkeys(dep.binds))
        key = (spec.ref, spec.sha256, tuple(dep.key for dep in deps))  # the file's hash: a file run by path may share a ref
        node = _Node(spec, tuple(deps), params, key, tuple(binds))
        memo[spec.ref] = node
        return node


def merge_params(spec: QuerySpec, deps: Iterable[_Node]) -> tuple[Param, ...]:
    """`spec`'s parameters: those of the queries it uses (first seen first), with its own
    declarations replacing them in place, then the ones it adds."""
    inherited: dict[str, list[tuple[Param, str]]] = {}
    for dep in deps:
        for param in dep.params:
            inherited.setdefault(param.name, []).append((param, dep.spec.ref))
    own = {param.name: param for param in spec.params}
    merged: dict[str, Param] = {}
    for name, offers in inherited.items():
        first, first_ref = offers[0]
        for other, other_ref in offers[1:]:
            if other.type != first.type:
                raise QueryDefinitionError(
                    f"{_uses_at(spec)}: {first_ref} and {other_ref} both take parameter {name!r} but as different types "
                    f"({first.type} and {other.type}); one value cannot flow to both"
                )
            if _signature(other) != _signature(first) and name not in own:
                raise QueryDefinitionError(
                    f"{_uses_at(spec)}: {first_ref} takes {param_text(first)} but {other_ref} takes {param_text(other)}; "
                    f"one value flows to both: declare `-- param: {name} ...` here to choose it"
                )
        merged[name] = _redeclared(spec, own[name], offers) if name in own else first
    step_reads = spec.numpy.params if spec.numpy is not None else ()
    for name, param in own.items():
        if name not in merged:
            if name not in placeholders(spec.sql) and name not in step_reads:
                raise QueryDefinitionError(
                    f"{spec.where}:{spec.line(f'-- param: {name} ')}: parameter {name!r} is declared "
                    f"but neither ${name}{', its numpy step' if spec.numpy is not None else ''} nor any query it uses reads it"
                )
            merged[name] = param
    return tuple(merged.values())


def _redeclared(spec: QuerySpec, mine: Param, offers: list[tuple[Param, str]]) -> Param:
    """`mine` over the declarations of the queries it flows to: same type, choices among theirs."""
    at = f"{spec.where}:{spec.line(f'-- param: {mine.name} ')}"
    for theirs, ref in offers:
        if mine.type != theirs.type:
            raise QueryDefinitionError(
                f"{at}: parameter {param_text(mine)} has another type than {ref}'s {param_text(theirs)}; "
                "its value flows to that query, so the type stays the same"
            )
        if mine.choices is not None and theirs.choices is not None and not set(mine.choices) <= set(theirs.choices):
            raise QueryDefinitionError(
                f"{at}: parameter {param_text(mine)} allows values {ref} refuses ({param_text(theirs)}); "
                "a query may narrow the choices of a parameter it passes on, not widen them"
            )
    choices = mine.choices
    if choices is None:
        offered = {theirs.choices for theirs, _ in offers}
        if len(offered) > 1:
            raise QueryDefinitionError(f"{at}: the queries it flows to allow different values; declare `IN (...)` here")
        choices = offered.pop()
    if choices is not None and mine.default is not None and mine.default not in choices:
        raise QueryDefinitionError(f"{at}: default {mine.default!r} is not one of the choices {choices}")
    description = mine.description or offers[0][0].description
    return Param(mine.name, mine.type, mine.default, description, choices, mine.required)


def _signature(param: Param) -> tuple:
    return (param.type, param.choices, param.default, param.required)


def _uses_at(spec: QuerySpec) -> str:
    return f"{spec.where}:{spec.line('-- uses:')}"


def _usable(entry: QuerySpec | _Broken) -> QuerySpec:
    if isinstance(entry, _Broken):
        raise QueryDefinitionError(str(entry.error))
    return entry


def _duplicate(where: str, ref: str, known: QuerySpec | _Broken) -> str:
    if isinstance(known, QuerySpec) and known.source == PACKAGED:
        return (
            f"{where}: defines {ref}, a packaged query; a published version never changes: "
            f"give yours a version number the package does not use (or another name)"
        )
    first = known.where
    return f"{where}: defines {ref}, which {first} defines already (that one is used: its folder comes first)"


def _pin_set(pins: Pins) -> frozenset[tuple[str, int]]:
    if not pins:
        return frozenset()
    if isinstance(pins, Mapping):
        return frozenset((name, int(version)) for name, version in pins.items())
    out = set()
    for ref in pins:
        match = USE.match(ref)
        if not match or not match.group("version"):
            raise QueryNotFoundError(f"a pin is name@vN, like config_points@v2; got {ref!r}")
        out.add((match.group("name"), int(match.group("version"))))
    return frozenset(out)


# -- loading ---------------------------------------------------------------------------------------


def load(folders: Iterable[str | os.PathLike] = (), *, env: bool = True) -> Catalog:
    """The queries of `folders`, then of $BUDGETDB_QUERIES (with `env`), then the packaged ones.

    Parsed once and cached; a folder's files are read again when one changes (mtime, size)."""
    given = [(os.fspath(folder), True) for folder in folders]
    if env:
        given += [(entry, False) for entry in os.environ.get(ENV, "").split(os.pathsep) if entry.strip()]
    packaged = _packaged_folder()
    chosen: list[tuple[str, str, tuple]] = []
    problems: list[str] = []
    seen = {packaged}
    for label, explicit in given:
        path = Path(label).expanduser()
        if not path.is_dir():
            if explicit:
                raise QueryNotFoundError(f"no query folder {label!r} (a folder of <name>.v<N>.sql files)")
            problems.append(f"{ENV}: no folder {label!r}")
            continue
        resolved = str(path.resolve())
        if resolved in seen:  # named twice, or the package's own folder (an editable install's queries/)
            continue
        seen.add(resolved)
        chosen.append((label, resolved, _signature_of(resolved)))
    return _load(tuple(chosen), tuple(problems))


@lru_cache(maxsize=32)
def _load(folders: tuple[tuple[str, str, tuple], ...], problems: tuple[str, ...]) -> Catalog:
    catalog = Catalog(problems=[Problem(None, p) for p in problems], folders=[label for label, _, _ in folders])
    for spec in _packaged_specs():
        catalog.add(spec)
    for label, resolved, _ in folders:
        for file_name in sorted(name for name in os.listdir(resolved) if name.endswith(".sql")):
            try:
                text: str | None = (Path(resolved) / file_name).read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            catalog.add_file(file_name, text, source=label, path=os.path.join(label, file_name))
    return catalog


@lru_cache(maxsize=1)
def _packaged_specs() -> tuple[QuerySpec, ...]:
    steps = package_steps()
    return tuple(numpy_steps.attach(parse(file_name, text), steps) for file_name, text in sorted(package_files().items()))


def packaged() -> Catalog:
    """The packaged queries only (what the report runs)."""
    return _load((), ())


@lru_cache(maxsize=1)
def _packaged_folder() -> str:
    try:
        return str(Path(str(resources.files("budgetdb.queries"))).resolve())
    except (OSError, TypeError):  # pragma: no cover - a zipped install: no folder to skip
        return ""


def _signature_of(folder: str) -> tuple:
    """(name, mtime, size) of the folder's .sql files: a change reloads the folder."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".sql") and entry.is_file():
                stat = entry.stat()
                out.append((entry.name, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(out))
