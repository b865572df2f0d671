"""The layout shows the architecture: imports point one way.

notebooks and CLI -> engine -> report -> domain -> contract; the lab sits beside the
engine (it uses the report, the domain and the contract, never the engine).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "analysis"
LAYERS = ("contract", "domain", "report", "engine")
#: layer -> the layers it may import (besides itself and ``analysis.errors``).
ALLOWED = {
    "contract": set(),
    "domain": {"contract"},
    "report": {"contract", "domain"},
    "engine": {"contract", "domain", "report"},
    "lab": {"contract", "domain", "report"},
}


def imported_layers(path: Path) -> set[str]:
    """The sub-packages of ``analysis`` that a module imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "analysis" and len(parts) > 1 and parts[1] in ALLOWED:
                out.add(parts[1])
    return out


def layer_of(path: Path) -> str:
    """The layer a module belongs to: the first folder below ``analysis``."""
    return path.relative_to(PACKAGE).parts[0]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1
                 and layer_of(p) in ALLOWED)


def test_every_module_lives_in_a_layer():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "errors.py"]
    assert {layer_of(p) for p in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    layer = layer_of(path)
    wrong = imported_layers(path) - ALLOWED[layer] - {layer}
    assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}: {layer} may import only {sorted(ALLOWED[layer])}"


def test_relative_imports_are_not_used():
    """Absolute imports keep the layer of every dependency visible at a glance."""
    relative = [str(p.relative_to(PACKAGE)) for p in MODULES
                if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(p.read_text())))]
    assert not relative
