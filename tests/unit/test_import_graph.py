"""The package's import graph: no cycles, and no Airflow in the decisions or the shared constants.

Every ``import`` of every module counts: at module level, inside functions, and under
``if TYPE_CHECKING:``. Type-only imports count because a cycle there is still two modules that
each need the other to be read (and one edit away from a runtime cycle); a module that needs only a
type of a module that imports it should take a plain value or a Protocol instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import airflow_snowflake_batch

PACKAGE = "airflow_snowflake_batch"
ROOT = Path(airflow_snowflake_batch.__file__).parent
# Modules that decide or name things, read by everything else: they must not need Airflow.
AIRFLOW_FREE = ("inference", "constants")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module this file imports, resolved to package modules (``from pkg import mod`` included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # "from package import module" imports the module.
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def _package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between package modules. Importing ``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``,
    so those count too, except the importer's own packages (which Python has already started)."""

    def ancestors(module: str) -> set[str]:
        parts = module.split(".")
        return {".".join(parts[:n]) for n in range(1, len(parts))}

    return {
        m: {
            t
            for i in imports
            if i in graph
            for t in {i} | ancestors(i) - ancestors(m)
            if t != m and t in graph
        }
        for m, imports in graph.items()
    }


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_graph_sees_imports_inside_functions_and_type_checking_blocks() -> None:
    graph = _graph()
    # Imported inside a function (make_hook) and under TYPE_CHECKING: both must be edges.
    assert f"{PACKAGE}.hooks.batch_inference" in graph[f"{PACKAGE}.utils.connection"]
    assert f"{PACKAGE}.hooks.batch_inference" in graph[f"{PACKAGE}.utils.lineage"]
    # "from package import module" is an edge to the module.
    assert f"{PACKAGE}.inference.jobs" in graph[f"{PACKAGE}.hooks.batch_inference"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(edges) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle() -> None:
    assert _cycle(_package_edges(_graph())) is None


def test_importing_a_module_counts_its_packages() -> None:
    edges = _package_edges(_graph())
    assert f"{PACKAGE}.backends" in edges[f"{PACKAGE}.hooks.batch_inference"]  # via backends.base
    assert f"{PACKAGE}.backends" not in edges[f"{PACKAGE}.backends.base"]  # its own package


@pytest.mark.parametrize(
    "module",
    sorted(m for m in _graph() if any(m.startswith(f"{PACKAGE}.{leaf}") for leaf in AIRFLOW_FREE)),
)
def test_decisions_and_constants_do_not_import_airflow(module: str) -> None:
    airflow = sorted(i for i in _graph()[module] if i == "airflow" or i.startswith("airflow."))
    assert airflow == []


def test_constants_is_a_leaf() -> None:
    assert {i for i in _graph()[f"{PACKAGE}.constants"] if i.startswith(PACKAGE)} == set()
