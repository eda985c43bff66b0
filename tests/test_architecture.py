"""The imports keep to docs/architecture.md: each part uses only the parts below it, no module circle, and the
parts below the runtime never import the engine."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import attrs
import pytest

from tests.conftest import REPO

SOURCE = REPO / "src"
PACKAGE = SOURCE / "alab_training"
ENGINE = ("pyspark", "sparknlp", "py4j")


@attrs.frozen
class Part:
    name: str
    modules: tuple[str, ...]
    may_import: frozenset[str]
    engine: bool


def parts() -> dict[str, Part]:
    """The rules table of docs/architecture.md."""
    text = (REPO / "docs" / "architecture.md").read_text()
    table = text[text.index("## The rules"):]
    found = {}
    for row in re.findall(r"^\| (?!part |---)(.+) \|$", table, re.M):
        name, modules, may_import, engine = (cell.strip() for cell in row.split(" | "))
        allowed = frozenset() if may_import.startswith("(") else frozenset(p.strip() for p in may_import.split(","))
        found[name] = Part(name, tuple(re.findall(r"`([\w.]+)`", modules)), allowed, engine == "yes")
    return found


PARTS = parts()


def module_name(path: Path) -> str:
    relative = path.relative_to(SOURCE).with_suffix("")
    names = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(names)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def part_of(module: str) -> Part:
    best, length = None, -1
    for part in PARTS.values():
        for entry in part.modules:
            matches = module == entry or (entry != "alab_training" and module.startswith(entry + "."))
            if matches and len(entry) > length:
                best, length = part, len(entry)
    assert best is not None, f"{module} belongs to no part of docs/architecture.md"
    return best


def imports(module: str) -> set[str]:
    """Every module this one imports, anywhere in it (also in functions and under TYPE_CHECKING)."""
    path = MODULES[module]
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base
                                                                                                   else []))
            for alias in node.names:
                # `from alab_training.config import rewrite` imports the submodule; a name, its package.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


GRAPH = {module: {name for name in imports(module) if name in MODULES and name != module} for module in MODULES}


def test_every_module_belongs_to_a_part():
    assert len(PARTS) >= 10
    for module in MODULES:
        part_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_down(module):
    part = part_of(module)
    for imported in sorted(GRAPH[module]):
        target = part_of(imported)
        assert target is part or target.name in part.may_import, (
            f"{module} ({part.name}) imports {imported} ({target.name}); docs/architecture.md allows "
            f"{part.name} to use {', '.join(sorted(part.may_import)) or 'nothing'}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_engine_stays_above_the_runtime(module):
    if part_of(module).engine:
        return
    engine = sorted(name for name in imports(module) if name.split(".")[0] in ENGINE)
    assert not engine, f"{module} ({part_of(module).name}) imports the engine: {engine}"


def test_no_module_circle():
    index, low, on_stack, stack, circles = {}, {}, set(), [], []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in GRAPH[node]:
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_checks_catch_a_bad_import(tmp_path):
    """The rules are not vacuous: a trainer importing the lifecycle, a config module importing Spark, fail."""
    bad = {"alab_training.trainers.ner.trainer": "alab_training.lifecycle.training",
           "alab_training.selection.rules": "alab_training.trainers.base",
           "alab_training.config.parser": "alab_training.model"}
    for module, imported in bad.items():
        part, target = part_of(module), part_of(imported)
        assert target is not part and target.name not in part.may_import
    assert not part_of("alab_training.config.parser").engine and not part_of("alab_training.exports").engine


MAX_LINES = 400
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_readable(module):
    path = MODULES[module]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{module} has {len(text.splitlines())} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            length = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            assert length <= MAX_FUNCTION_LINES, f"{module}.{node.name} is {length} lines long"


def _public_definitions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node.name, node
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if (isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef))
                            and not member.name.startswith("_")):
                        yield f"{node.name}.{member.name}", member


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_public_definition_has_a_docstring(module):
    tree = ast.parse(MODULES[module].read_text())
    assert ast.get_docstring(tree) or MODULES[module].name == "__main__.py", f"{module} has no docstring"
    missing = [name for name, node in _public_definitions(tree) if not ast.get_docstring(node)]
    assert missing == [], f"{module}: no docstring on {', '.join(missing)}"
