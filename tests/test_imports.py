"""The import graph: no cycle among smolmamba's modules, and a light `smolmamba --help`.

Edges come from import statements: those run when a module loads (its top level, including if/try
blocks, not `if TYPE_CHECKING:`), and, in the stricter graph, also the lazy ones inside functions (a
lazy import hides a cycle from Python, not from the reader). `from a.b import c` points at module a.b.c
when that is a module, else at a.b. Parent packages that Python imports on the way are not edges.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import smolmamba

SRC = Path(smolmamba.__file__).resolve().parent.parent


def module_names() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "smolmamba").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(tree: ast.Module, lazy: bool):
    """Import nodes run at import time (the module body and its if/try/with blocks); with lazy=True
    also those inside functions and classes."""
    if lazy:
        yield from (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
        return
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                stack += node.body + node.orelse
        elif isinstance(node, (ast.Try, ast.With)):
            stack += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            for handler in getattr(node, "handlers", []):
                stack += handler.body


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    modules = module_names()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in imports_of(ast.parse(path.read_text(), str(path)), lazy):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from .x import y
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_sees_the_package():
    graph = import_graph()
    assert "smolmamba.train.loop" in graph and "smolmamba.models.registry" in graph
    assert "smolmamba.train.checkpoint" in graph["smolmamba.train.loop"]
    assert "smolmamba.data.aedat" in graph["smolmamba.data"]  # relative import resolved


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("lazy", [False, True], ids=["module_level", "with_lazy_imports"])
def test_no_import_cycle(lazy):
    cycle = find_cycle(import_graph(lazy))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_registry_holds_names_only():
    """The registry imports no variant module; the variants register when smolmamba.models loads."""
    graph = import_graph(lazy=True)
    assert not {"smolmamba.models.smolmamba", "smolmamba.models.peers"} & graph["smolmamba.models.registry"]
    assert {"smolmamba.models.smolmamba", "smolmamba.models.peers"} <= graph["smolmamba.models"]


def test_help_imports_neither_matplotlib_nor_timm():
    code = ("import json, sys\n"
            "from smolmamba.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'timm', 'torchvision'})\n"
            "print(json.dumps(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
