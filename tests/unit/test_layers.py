"""The package's layers: a module imports only from its own package and from the levels below
it, so that every arrow of the import graph points down."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "splade_core"
LEVELS = [
    {"errors", "registry", "tasks"},
    {"io"},
    {"data"},
    {"model", "sparse", "losses"},
    {"index", "encode", "formats"},
    {"retrieve"},
    {"evaluate", "mine", "train", "pyterrier"},
    {"cli", "study"},
    {"__main__"},
]
LEVEL = {name: level for level, names in enumerate(LEVELS) for name in names}


def _unit(path: Path) -> str:
    """The top-level package or module of splade_core a file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    """splade_core's top-level units that `path` imports (absolute or relative imports)."""
    depth = len(path.relative_to(PACKAGE).parts) - 1  # folders below splade_core
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb to splade_core, then the first name is the unit
                if node.level - 1 < depth:
                    continue  # inside its own package
                parts = (node.module or "").split(".") if node.module else [alias.name for alias in node.names]
                units.update(parts[:1] if node.module else parts)
            elif node.module and node.module.startswith("splade_core."):
                units.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            units.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("splade_core."))
    return units - {""}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_points_down(path):
    unit = _unit(path)
    if unit == "__init__":
        return
    assert unit in LEVEL, f"{unit} has no level in LEVELS"
    upward = {other for other in _imported_units(path) - {unit} if LEVEL.get(other, -1) >= LEVEL[unit]}
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)} from its own level or above"
