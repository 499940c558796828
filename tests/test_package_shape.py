"""The package's shape, read from its source: imports point one way, privates stay private.

An event goes SDK callback -> ``_listener`` -> ``_channels`` -> ``_roster`` and back out
as streams; nothing climbs back up. These tests parse every module (no import runs) so
that the shape cannot drift back: an import circle (even under ``TYPE_CHECKING`` or
inside a function), an import against the core's direction, a read of another module's
``_private`` attribute, or two classes with one name fail here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import rxpresence

PACKAGE = Path(rxpresence.__file__).parent
# The core, from the bottom up: a module may import only from layers below its own.
LAYERS = [
    ["_event"],
    ["_roster"],
    ["_channels"],
    ["_listener", "_sync"],
    ["_streams"],
]
# namedtuple's public API wears an underscore so as not to clash with field names.
NAMEDTUPLE_API = {"_replace", "_fields", "_asdict", "_make", "_field_defaults"}


def _modules() -> dict[str, tuple[ast.Module, bool]]:
    found: dict[str, tuple[ast.Module, bool]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = (ast.parse(path.read_text(encoding="utf-8"), str(path)), is_package)
    return found


MODULES = _modules()


def _imported(module: str, is_package: bool, node: ast.ImportFrom) -> Iterator[str]:
    if node.level == 0:
        base = node.module or ""
        if not base.startswith("rxpresence"):
            return
    else:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    for alias in node.names:
        yield f"{base}.{alias.name}"


def _owner(name: str) -> str | None:
    """The package module ``name`` (a module, or a name inside one) belongs to."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, (tree, is_package) in MODULES.items():
        for node in ast.walk(tree):  # every import: top level, TYPE_CHECKING, functions
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                targets = list(_imported(name, is_package, node))
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("rxpresence")]
            for target in targets:
                owner = _owner(target)
                if owner is not None and owner != name:
                    graph[name].add(owner)
    return graph


IMPORTS = _imports()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_parser_sees_the_core_imports() -> None:
    # Guards the tests below against passing because the parser saw nothing.
    assert "rxpresence._channels" in IMPORTS["rxpresence._streams"]
    assert "rxpresence._roster" in IMPORTS["rxpresence._channels"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_import_circle_between_package_modules() -> None:
    assert _cycles(IMPORTS) == []


@pytest.mark.parametrize("level", range(len(LAYERS)))
def test_the_core_imports_point_one_way(level: int) -> None:
    # Modules of one layer (the listener and the sync) do not import each other either.
    at_or_above = {f"rxpresence.{m}" for layer in LAYERS[level:] for m in layer}
    for module in LAYERS[level]:
        name = f"rxpresence.{module}"
        climbing = IMPORTS[name] & (at_or_above - {name})
        assert climbing == set(), f"{name} imports {sorted(climbing)}, at or above its layer"


def _defined_names(tree: ast.Module) -> set[str]:
    """Every name a module defines or assigns, as a variable, attribute or slot."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return names


def _private_reads() -> list[str]:
    found: list[str] = []
    for name, (tree, _) in MODULES.items():
        own = _defined_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and (node.level or (node.module or "").startswith("rxpresence")):
                        found.append(f"{name}:{node.lineno} imports {alias.name}")
            elif isinstance(node, ast.Attribute):
                attr = node.attr
                if not attr.startswith("_") or attr.startswith("__") or attr in NAMEDTUPLE_API:
                    continue
                receiver = node.value
                if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                    continue
                if attr not in own:
                    found.append(f"{name}:{node.lineno} reads {ast.unparse(receiver)}.{attr}")
    return found


def test_no_module_reads_another_modules_private_names() -> None:
    # A private name a module uses must be its own (defined or assigned in it): reading
    # one defined elsewhere, in the package or in a library (RxPY's observers), couples
    # the two modules through what was meant to change freely.
    assert _private_reads() == []


def test_class_names_are_unique_in_the_package() -> None:
    where: dict[str, list[str]] = {}
    for name, (tree, _) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(name)
    assert {cls: mods for cls, mods in where.items() if len(mods) > 1} == {}
