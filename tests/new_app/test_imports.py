"""The rewrite may reuse the legacy models, database and settings, never Flask views,
and must not depend on the gateway that will route to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import new_app
from tests.legacy_app.test_imports import imported_modules
from tests.servers import REPO_ROOT

ALLOWED_LEGACY = {"legacy_app.models", "legacy_app.db", "legacy_app.settings"}
PACKAGE_DIR = Path(new_app.__file__).parent


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.name) for p in sorted(PACKAGE_DIR.glob("*.py"))]
)
def test_imports_only_shared_legacy_modules(path: Path) -> None:
    modules = imported_modules(path)
    assert not {m for m in modules if m.split(".")[0] == "gateway"}
    legacy = {m for m in modules if m.split(".")[0] == "legacy_app"}
    assert legacy <= ALLOWED_LEGACY, f"{path.name} imports {sorted(legacy - ALLOWED_LEGACY)}"


def test_importing_the_app_loads_no_legacy_views() -> None:
    code = (
        "import sys, new_app.main\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('legacy_app'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    loaded = set(result.stdout.split())
    assert loaded == {
        "legacy_app",
        "legacy_app.db",
        "legacy_app.models",
        "legacy_app.seed",
        "legacy_app.settings",
    }
