"""Imports run one way: text/utils/metrics -> data/models/losses -> training/evaluation -> viz -> course and CLIs.

The layers and the imports allowed inside a layer are docs/DESIGN.md 6a's table, read here: every import of the
package is checked against it, function-local ones included (a command line, `main` / `_main`, is layer 4 wherever
it lives). The library never imports the maintainers' experiments (experiments/, not installed).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "stirer_lib"
DESIGN = PKG.parent / "docs" / "DESIGN.md"
COMMAND_LINES = ("main", "_main")  # a command line is layer 4 wherever its file lives (DESIGN 6a)


def _table() -> tuple[dict[int, set[str]], set[tuple[str, str]]]:
    """docs/DESIGN.md 6a's layer table: {layer: parts} and the allowed imports inside a layer as (src, dst)."""
    lines = DESIGN.read_text().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| layer | parts |"))
    layers, inside = {}, set()
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        layers[int(cells[0])] = {p.strip() for p in cells[1].split(",")}
        for arrow in filter(None, (a.strip() for a in cells[-1].split(";"))):
            if arrow != "-":
                src, dsts = arrow.split("->")
                inside |= {(src.strip(), d.strip()) for d in dsts.split(",")}
    return layers, inside


LAYERS, INSIDE = _table()
LAYER_OF = {part: layer for layer, parts in LAYERS.items() for part in parts}


def _part(module: str) -> str:
    """'stirer_lib.data.synth' -> 'data'."""
    return module.split(".")[1] if module.count(".") else "__init__"


def _module(node: ast.AST, pkg: list[str]) -> set[str]:
    """The stirer_lib modules one import statement names."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            mod = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        if mod.startswith("stirer_lib"):
            return {f"{mod}.{a.name}" if mod.count(".") == 0 else mod for a in node.names}
    elif isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.startswith("stirer_lib")}
    return set()


def _imports(path: Path) -> set[str]:
    """Absolute stirer_lib modules imported anywhere in a file, except inside its command line (main / _main)."""
    pkg = list(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text())
    cli = {
        id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in COMMAND_LINES for n in ast.walk(f)
    }
    return {m for node in ast.walk(tree) if id(node) not in cli for m in _module(node, pkg)}


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PKG.rglob("*.py"):
        src = _part(".".join(path.relative_to(PKG.parent).with_suffix("").parts))
        for mod in _imports(path):
            dst = _part(mod)
            if dst != src:
                edges[src].add(dst)
    return edges


def test_every_part_has_a_layer_and_the_table_names_only_parts():
    parts = {_part(".".join(p.relative_to(PKG.parent).with_suffix("").parts)) for p in PKG.rglob("*.py")}
    assert parts <= set(LAYER_OF), f"parts without a layer in DESIGN 6a: {sorted(parts - set(LAYER_OF))}"
    assert set(LAYER_OF) <= parts, f"DESIGN 6a names parts the package lacks: {sorted(set(LAYER_OF) - parts)}"


def test_imports_run_one_way():
    edges = _edges()
    upward = sorted(f"{s} -> {d}" for s, ds in edges.items() for d in ds if LAYER_OF[d] > LAYER_OF[s])
    assert not upward, f"imports of a higher layer: {upward}"


def test_imports_inside_a_layer_are_exactly_the_tables():
    """DESIGN 6a lists every import between two parts of one layer; the code keeps to it and the table to the code."""
    edges = _edges()
    found = {(s, d) for s, ds in edges.items() for d in ds if LAYER_OF[d] == LAYER_OF[s]}
    assert found - INSIDE == set(), f"imports inside a layer that DESIGN 6a does not list: {sorted(found - INSIDE)}"
    assert INSIDE - found == set(), f"arrows of DESIGN 6a the code no longer has: {sorted(INSIDE - found)}"
    assert all(LAYER_OF[s] == LAYER_OF[d] for s, d in INSIDE)
    mutual = sorted(f"{s} <-> {d}" for s, d in INSIDE if (d, s) in INSIDE)
    assert not mutual, f"parts importing each other: {mutual}"


def test_the_table_is_read():
    assert len(LAYERS) == 5 and LAYER_OF["training"] == 2 and ("training", "evaluation") in INSIDE


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
