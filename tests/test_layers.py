"""The package's three layers: core <- host <- front doors, with no private imports across front doors."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "arqon_jax"
FRONT_DOORS = {"minimize", "compat", "tune", "distributed", "cli", "demo"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(absolute module, [names])`` of every ``from ... import`` in ``path`` (function-level ones too)."""
    package = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def _files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


@pytest.mark.parametrize("path", _files("core"), ids=lambda p: p.name)
def test_core_imports_neither_the_host_layer_nor_front_doors(path):
    for module, _ in _imports(path):
        if module.startswith("arqon_jax"):
            assert module.startswith("arqon_jax.core"), f"{path.name} imports {module}"


@pytest.mark.parametrize("path", _files("host"), ids=lambda p: p.name)
def test_host_layer_imports_no_front_door(path):
    for module, names in _imports(path):
        parts = module.split(".")
        if parts[0] == "arqon_jax":
            targets = set(parts[1:2]) | (set(names) if len(parts) == 1 else set())
            assert not (targets & FRONT_DOORS), f"{path.name} imports {module} {names}"


@pytest.mark.parametrize("name", sorted(FRONT_DOORS))
def test_front_doors_import_no_private_name_of_another_front_door(name):
    for module, names in _imports(PKG / f"{name}.py"):
        parts = module.split(".")
        if len(parts) >= 2 and parts[0] == "arqon_jax" and parts[1] in FRONT_DOORS and parts[1] != name:
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{name}.py imports {private} from {module}"


def test_the_import_reader_resolves_relative_imports():
    """Else the tests above would pass on anything."""
    mods = dict(_imports(PKG / "cli.py"))
    assert "arqon_jax.host.checkpoint" in mods and "locked" in mods["arqon_jax.host.checkpoint"]
    assert "arqon_jax.compat" in mods
    assert "arqon_jax.core.space" in dict(_imports(PKG / "host" / "evaluate.py"))
