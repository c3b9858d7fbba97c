"""The floor plan, kept: every import points down, and no source module grows past 400 lines.

Layers, bottom up (a package imports only its own layer's modules and those below; packages that
share a layer do not import each other):

    core            types, errors, settings, budgets, ports, wording, SQLite, batching
    models          inference only: embedder, reader, generator, intents, ONNX runtime
    knowledge_base  loaders, chunking, ingest, indexes, retriever, catalog, recommender
    answering       extractive answers, reader ladder, phrasing, grounding, writing
    connectors | training
    bot             dialogue, conversations, back end, assembly, server, CLI

Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import that
points up is the same arrow drawn later. Run `python tests/test_layers.py` for the import graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("models",),
    ("knowledge_base",),
    ("answering",),
    ("connectors", "training"),
    ("bot",),
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
MAX_LINES = 400


def source_modules() -> list[Path]:
    return sorted(p for package in RANK for p in (ROOT / package).rglob("*.py") if "sample_store" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Project modules `path` imports, absolute or relative, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name.split(".")[0] in RANK}


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in source_modules()}


def upward_imports() -> list[str]:
    problems = []
    for module, imports in import_graph().items():
        own = module.split(".")[0]
        for target in sorted(imports):
            other = target.split(".")[0]
            if RANK[other] > RANK[own]:
                problems.append(f"{module} imports {target}: {other} is above {own}")
            elif RANK[other] == RANK[own] and other != own:
                problems.append(f"{module} imports {target}: {other} and {own} share a layer and stay independent")
    return problems


def test_every_import_points_down():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # The check itself can fail: a lazy import of bot/ inside a core/ function is found.
    module = tmp_path / "core" / "probe.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from bot.server import create_app\n    return create_app\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert upward_imports() == ["core.probe imports bot.server: bot is above core"]


def test_every_layer_package_is_a_layer():
    # A new top-level package must be placed in LAYERS (and in pyproject's package list).
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "docker", "docs"}
    assert packages == set(RANK)


def test_no_source_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in source_modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


if __name__ == "__main__":
    # The import graph between packages, with the number of module-level arrows.
    edges: dict[tuple[str, str], int] = defaultdict(int)
    lines = 0
    for path in source_modules():
        lines += len(path.read_text(encoding="utf-8").splitlines())
    for module, imports in import_graph().items():
        for target in imports:
            a, b = module.split(".")[0], target.split(".")[0]
            if a != b:
                edges[(a, b)] += 1
    for layer in reversed(LAYERS):
        for package in layer:
            below = sorted(((b, n) for (a, b), n in edges.items() if a == package), key=lambda e: -RANK[e[0]])
            print(f"{package:15} -> " + (", ".join(f"{b} ({n})" for b, n in below) or "-"))
    print(f"upward imports: {len(upward_imports())}; {len(source_modules())} modules, {lines} lines")
