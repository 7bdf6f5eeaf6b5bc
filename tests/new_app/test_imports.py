"""The rewrite may reuse the legacy models, database and settings, and share the legacy app's
session through gateway.compat.flask (new_app/legacy.py alone holds the legacy app), but never
calls Flask views and does not depend on the gateway that routes to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import new_app
from tests.legacy_app.test_imports import imported_modules
from tests.servers import REPO_ROOT

ALLOWED_LEGACY = {"legacy_app.models", "legacy_app.db", "legacy_app.settings"}
# The one module that holds the legacy app object, for its session machinery.
SHARES_STATE = {"legacy.py": {"legacy_app", "legacy_app.wsgi"}}
# The library a new app uses to share the legacy app's state; nothing else of the gateway.
ALLOWED_GATEWAY = {"gateway.compat.flask"}
PACKAGE_DIR = Path(new_app.__file__).parent


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.name) for p in sorted(PACKAGE_DIR.glob("*.py"))]
)
def test_imports_only_shared_legacy_modules(path: Path) -> None:
    modules = imported_modules(path)
    assert {m for m in modules if m.split(".")[0] == "gateway"} <= ALLOWED_GATEWAY
    legacy = {m for m in modules if m.split(".")[0] == "legacy_app"}
    allowed = ALLOWED_LEGACY | SHARES_STATE.get(path.name, set())
    assert legacy <= allowed, f"{path.name} imports {sorted(legacy - allowed)}"


def test_the_app_shares_the_legacy_app_object_the_gateway_serves() -> None:
    code = (
        "import legacy_app.wsgi, new_app.main\n"
        "print(new_app.main.app.state.legacy.app is legacy_app.wsgi.app)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.split() == ["True"]
