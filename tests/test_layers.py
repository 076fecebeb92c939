"""The package's layers: imports point one way, from the command line and the course down to the model.

    model  <-  data  <-  viz  <-  training  <-  course  <-  cli (and the package's top: __init__, __main__, options)

A module may import its own layer and the layers below it, never one above; no two modules import each other,
directly or round a circle (function-level imports included); the model imports nothing else of minirmt.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minirmt"
LAYERS = ("model", "data", "viz", "training", "course", "top")
TOP_MODULES = {"__init__", "__main__", "cli", "options"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "top"


def resolve(name: str) -> str:
    """The module a dotted name imports: the longest prefix that is a module or package of minirmt."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def imports_of(module: str) -> set[str]:
    """Every minirmt module `module` imports, at the top or inside a function."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == "minirmt"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "minirmt":
                continue
            for alias in node.names:  # `from minirmt.data import corpora` imports the module corpora
                found.add(resolve(f"{base}.{alias.name}"))
    return found - {"", module}


GRAPH = {module: imports_of(module) for module in MODULES}


def test_the_top_of_the_package_holds_at_most_six_modules():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == TOP_MODULES and len(top) <= 6
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS[:-1])


def test_the_model_imports_nothing_else_of_minirmt():
    for module, imported in GRAPH.items():
        if layer(module) == "model":
            assert all(layer(other) == "model" for other in imported), (module, imported)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    rank = LAYERS.index(layer(module))
    upward = {other for other in GRAPH[module] if LAYERS.index(layer(other)) > rank}
    assert not upward, f"{module} ({layer(module)}) imports a higher layer: {sorted(upward)}"


def test_no_import_cycle():
    state, cycle = {}, []

    def visit(module, path):
        state[module] = "open"
        for other in sorted(GRAPH[module]):
            if state.get(other) == "open":
                cycle.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, path + [other])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycle, "import cycles: " + "; ".join(" -> ".join(c) for c in cycle)


def test_the_rule_catches_a_wrong_import(monkeypatch):
    """The checks above see an upward import and a cycle when one is there."""
    fake = {"minirmt.model.rmt": {"minirmt.training.task_loop"}, "minirmt.training.task_loop": {"minirmt.model.rmt"}}
    assert LAYERS.index(layer("minirmt.training.task_loop")) > LAYERS.index(layer("minirmt.model.rmt"))
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", fake)
    with pytest.raises(AssertionError, match="cycles"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="higher layer"):
        test_imports_point_down("minirmt.model.rmt")
