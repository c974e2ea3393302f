"""The package's layout: no import circle, no private name used across modules, laws that read no fits.

These read the source (``ast``), not the running package, so they hold for imports
made inside functions too: a circle broken by a deferred import is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bayes_scaling"
#: What modules in ``laws/`` may import from the package: the pieces a law is made of.
LAW_DEPENDENCIES = {"bayes_scaling.errors", "bayes_scaling.transforms", "bayes_scaling.model",
                    "bayes_scaling.point_fit", "bayes_scaling.selection"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def _imports(name: str) -> list[tuple[str, str]]:
    """``(module, imported name)`` of every import of the package in a module, wherever it stands."""
    out = []
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bayes_scaling":
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "bayes_scaling"]
    return out


def _targets(name: str) -> set[str]:
    """Modules of the package that ``name`` imports (a name imported from a package counts as its submodule if it is one)."""
    out = set()
    for module, imported in _imports(name):
        submodule = f"{module}.{imported}"
        out.add(submodule if submodule in MODULES else module)
    # The package root is the public facade; modules read only __version__ from it.
    return out - {name, "bayes_scaling"}


def test_no_import_circle():
    graph = {name: _targets(name) for name in MODULES if name != "bayes_scaling"}
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                raise AssertionError("import circle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_no_private_name_used_across_modules():
    found = []
    for name in MODULES:
        found += [f"{name} imports {module}.{imported}" for module, imported in _imports(name)
                  if imported.startswith("_") and imported != "__version__"]
        aliases = {alias.asname or alias.name for node in ast.walk(TREES[name]) if isinstance(node, ast.ImportFrom)
                   and node.module and node.module.startswith("bayes_scaling") for alias in node.names
                   if f"{node.module}.{alias.name}" in MODULES}
        for node in ast.walk(TREES[name]):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_")):
                found.append(f"{name} uses {node.value.id}.{node.attr}")
    assert not found, "; ".join(found)


def test_laws_are_made_of_their_pieces_and_read_no_fits():
    # Analyses of finished fits (prediction, decisions, reports) read laws, never the other way.
    found = [f"{name} imports {target}" for name in MODULES if name.startswith("bayes_scaling.laws")
             for target in _targets(name)
             if not target.startswith("bayes_scaling.laws") and target not in LAW_DEPENDENCIES]
    assert not found, "; ".join(found)
