"""docs/architecture.md tells the truth about the imports between zapledger's modules."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

DOC = Path(__file__).parent.parent / "docs" / "architecture.md"


def documented_edges() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- import-edges -->", 1)[1].split("<!-- /import-edges -->", 1)[0]
    edges: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        edges[cells[0].strip("`")] = set(re.findall(r"`([\w.]+)`", cells[1]))
    return edges


def real_edges() -> dict[str, set[str]]:
    graph = grimp.build_graph("zapledger", exclude_type_checking_imports=True)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        if module.count(".") < 1:
            continue
        top = module.split(".")[1]
        edges.setdefault(top, set())
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("zapledger.") and imported.split(".")[1] != top:
                edges[top].add(imported.split(".")[1])
    return edges


def test_the_documented_import_edges_are_the_real_ones() -> None:
    assert documented_edges() == real_edges()


def test_the_table_is_not_empty() -> None:
    documented = documented_edges()
    assert {"models", "store", "cli", "simulator"} <= set(documented)
    assert documented["simulator"] == set()
