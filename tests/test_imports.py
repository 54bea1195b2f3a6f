"""Imports run one way: text/utils/metrics -> data/models/losses -> training/evaluation -> viz -> course and CLIs.

Every import of the package is checked, function-local ones included: no part imports a part of a
higher layer, and no two parts of one layer import each other. The library never imports the
maintainers' experiments (experiments/, not installed).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "stirer_lib"
LAYERS = {
    0: {"text", "utils", "metrics", "constants", "errors", "atomic_write", "checkpoint", "rundir", "scoring"},
    1: {"data", "models", "losses"},
    2: {"training", "evaluation"},
    3: {"viz"},
    4: {"course", "train", "read", "bench", "doctor", "__init__"},
}
LAYER_OF = {part: layer for layer, parts in LAYERS.items() for part in parts}


def _part(module: str) -> str:
    """'stirer_lib.data.synth' -> 'data'."""
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> set[str]:
    """Absolute stirer_lib modules imported anywhere in a file."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    pkg = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("stirer_lib"):
                out |= {f"{mod}.{a.name}" if mod.count(".") == 0 else mod for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("stirer_lib")}
    return out


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PKG.rglob("*.py"):
        src = _part(".".join(path.relative_to(PKG.parent).with_suffix("").parts))
        for mod in _imports(path):
            dst = _part(mod)
            if dst != src:
                edges[src].add(dst)
    return edges


def test_every_part_has_a_layer():
    parts = {_part(".".join(p.relative_to(PKG.parent).with_suffix("").parts)) for p in PKG.rglob("*.py")}
    assert parts <= set(LAYER_OF), f"parts without a layer: {sorted(parts - set(LAYER_OF))}"


def test_imports_run_one_way():
    edges = _edges()
    upward = sorted(f"{s} -> {d}" for s, ds in edges.items() for d in ds if LAYER_OF[d] > LAYER_OF[s])
    mutual = sorted(f"{s} <-> {d}" for s, ds in edges.items() for d in ds if s < d and s in edges.get(d, ()))
    assert not upward, f"imports of a higher layer: {upward}"
    assert not mutual, f"parts importing each other: {mutual}"


def test_the_library_never_imports_the_experiments():
    found = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{path.relative_to(PKG.parent)}: {n}" for n in names if n.split(".")[0] == "experiments"]
    assert not found, found
