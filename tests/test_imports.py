"""The core's imports run one way: the import graph of odebench/ has no cycle.

Every import counts, function-level ones included (they are how cycles hide); relative
imports are resolved. The one allowed way back up is the lazy ``__getattr__`` re-export in
``odebench/__init__.py`` (``run_suite``/``load_suite``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "odebench"
NAME = "odebench"


def modules(package: Path = PACKAGE, name: str = NAME) -> dict[str, Path]:
    out = {}
    for file in package.rglob("*.py"):
        parts = [name, *file.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = file
    return out


def _lazy_getattr(tree: ast.Module) -> set[ast.AST]:
    """The nodes inside a module-level ``def __getattr__`` (the allowed lazy re-export)."""
    return {node for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__"
            for node in ast.walk(fn)}


def imports(module: str, file: Path, known: dict[str, Path]) -> set[str]:
    """The modules of the package that ``module`` imports anywhere in its file."""
    tree = ast.parse(file.read_text())
    is_package = file.name == "__init__.py"
    base = module if is_package else module.rpartition(".")[0]
    allowed = _lazy_getattr(tree) if module == NAME else set()
    found = set()
    for node in ast.walk(tree):
        if node in allowed:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = base.split(".")
                up = up[:len(up) - (node.level - 1)]
                root = ".".join(up + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            targets = [f"{root}.{a.name}" if f"{root}.{a.name}" in known else root for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # odebench.types.X -> odebench.types
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def graph_of(package: Path = PACKAGE, name: str = NAME) -> dict[str, set[str]]:
    known = modules(package, name)
    return {m: imports(m, f, known) for m, f in known.items()}


def test_the_core_import_graph_has_no_cycle():
    found = cycles(graph_of())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_graph_sees_function_level_and_relative_imports():
    graph = graph_of()
    assert "odebench.types" in graph["odebench.plugins"]  # module level, relative
    assert "odebench.binding" in graph["odebench.data"]  # inside a function
    assert "odebench.driver" not in graph["odebench"]  # the lazy re-export is allowed


def test_a_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert cycles(graph_of(package, "pkg")) == [{"pkg.a", "pkg.sub.b"}]


@pytest.mark.parametrize("module", ["odebench.cli", "odebench"])
def test_importing_the_cli_does_not_import_torch(module):
    import subprocess
    import sys

    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
