"""The layers README.md describes, held: store/, queries/ and templates/ import none of one
another; the package root composes them; cli/ sits on top; no module imports a layer above it,
and no import cycle exists between modules (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_DIRS = {"store": "budgetdb.store", "queries": "budgetdb.queries", "templates": "budgetdb.templates", "cli": "budgetdb.cli"}
# what each layer may import from budgetdb.* (besides itself); budgetdb (its __init__: __version__) and
# budgetdb.errors are the base every layer stands on
BASE = {"budgetdb", "budgetdb.errors"}
ALLOWED = {
    "budgetdb.store": BASE,
    "budgetdb.queries": BASE,
    "budgetdb.templates": BASE,
    "root": BASE
    | {
        "budgetdb.store",
        "budgetdb.queries",
        "budgetdb.templates",
        "budgetdb.reporting",
        "budgetdb.demo",
        "budgetdb.plots",
        "budgetdb.api",
    },
    "budgetdb.cli": None,  # on top: anything
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in LAYER_DIRS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    for path in (ROOT / "budgetdb").glob("*.py"):
        found["budgetdb" if path.stem == "__init__" else f"budgetdb.{path.stem}"] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every budgetdb module `name` imports, anywhere in the file (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.startswith("budgetdb")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("budgetdb"):
                out.add(module)
                out |= {f"{module}.{alias.name}" for alias in node.names}  # `from pkg import submodule`
    return out


def _layer(module: str) -> str:
    for package in LAYER_DIRS.values():
        if module == package or module.startswith(package + "."):
            return package
    return "root" if module not in BASE else module


def test_no_layer_imports_one_beside_or_above_it():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        allowed = ALLOWED.get(_layer(name))
        if allowed is None:
            continue
        for target in _imports(name, path) & set(modules):
            if _layer(target) != _layer(name) and target not in allowed and _layer(target) not in allowed:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_import_cycles():
    modules = _modules()
    graph = {name: sorted(_imports(name, path) & set(modules) - {name}) for name, path in modules.items()}
    # a package's __init__ that re-exports its own modules is not a cycle with them
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if node.startswith(target + ".") or target.startswith(node + "."):
                continue
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_the_checker_sees_every_layer_through_the_package():
    for folder in LAYER_DIRS:
        link = ROOT / "budgetdb" / folder
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve(), folder
