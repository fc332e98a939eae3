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


HEAVY = ("torch", "pandas", "matplotlib")


def _heavy_after(code: str) -> list[str]:
    """The heavy libraries in sys.modules after running ``code`` in a fresh interpreter."""
    import subprocess
    import sys

    probe = (f"import sys\n{code}\n"
             f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = out.stdout.splitlines()[-1]
    assert line.startswith("heavy:"), out.stdout[-500:]
    return [m for m in line[len("heavy:"):].split(",") if m]


@pytest.mark.parametrize("argv", [["--help"], ["plugins", "--help"], ["run", "--help"],
                                  ["report", "--help"], ["check", "--help"], ["data", "plot", "--help"]])
def test_help_imports_no_torch_pandas_or_matplotlib(argv):
    code = ("from odebench.cli import build_parser\n"
            "try:\n"
            f"    build_parser().parse_args({argv!r})\n"
            "except SystemExit:\n"
            "    pass")
    assert _heavy_after(code) == []


def test_report_on_a_store_does_not_import_torch(tmp_path):
    from odebench.store import Store
    from odebench.suite import TRAIN_DEFAULTS
    from odebench.types import outcome

    config = {"suite": "s", "model": "resnet", "params": {"blocks": 1}, "solver": None,
              "dataset": {"name": "synthetic"}, "train": dict(TRAIN_DEFAULTS), "seed": 0,
              "device": "cpu", "threads": None}
    metrics = {"test_accuracy": 0.5, "epoch_seconds": 1.0, "class_names": ["N", "A"],
               "per_class": {n: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
                             for n in ("N", "A")}}
    Store(tmp_path / "results").add(config, "k", outcome("done", metrics=metrics), "test")
    code = ("from odebench.cli import main\n"
            f"assert main(['report', '--results', {str(tmp_path / 'results')!r}, "
            f"'--out', {str(tmp_path / 'out')!r}]) == 0")
    heavy = _heavy_after(code)
    assert "torch" not in heavy
    assert "pandas" in heavy  # the probe sees imports: the report's tables do need pandas
    assert (tmp_path / "out" / "s" / "report.html").exists()
