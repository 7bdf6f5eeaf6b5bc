"""The legacy app must not know about the gateway or the rewrite: it ships on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import legacy_app

FORBIDDEN = ("gateway", "new_app", "fastapi", "starlette")
PACKAGE_DIR = Path(legacy_app.__file__).parent


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.name) for p in sorted(PACKAGE_DIR.glob("*.py"))]
)
def test_imports_nothing_forbidden(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import fastapi.routing\nfrom starlette import x\ndef f():\n import gateway\n"
    )
    assert imported_modules(sample) == {"fastapi.routing", "starlette", "gateway"}
