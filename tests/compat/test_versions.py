"""gateway.compat.flask refuses a Flask or Flask-Login older than it supports, saying which.

Runs beside the newest Flask (`make test`) and the oldest the gateway supports
(scripts/check-oldest-flask.sh: Flask 2.0, which this package does not support).
"""

from __future__ import annotations

import importlib
from importlib import metadata

import pytest

from gateway.compat.versions import MIN_FLASK, release, require


def test_the_package_imports_beside_a_supported_flask_and_refuses_an_older_one() -> None:
    installed = release("Flask")
    assert installed is not None
    if installed >= MIN_FLASK:
        module = importlib.import_module("gateway.compat.flask")
        assert module.LegacyState.__name__ == "LegacyState"
    else:
        with pytest.raises(ImportError, match=r"needs Flask 2\.2 or later; Flask 2\.\d"):
            importlib.import_module("gateway.compat.flask")


@pytest.mark.parametrize(
    ("version", "refused"),
    [
        pytest.param("2.1.3", True, id="older-minor"),
        pytest.param("1.1.4", True, id="older-major"),
        pytest.param("2.2.0", False, id="oldest-supported"),
        pytest.param("3.1.0rc1", False, id="pre-release"),
        pytest.param("10.0", False, id="two-digit-major"),
    ],
)
def test_require_compares_major_and_minor(
    monkeypatch: pytest.MonkeyPatch, version: str, refused: bool
) -> None:
    monkeypatch.setattr(metadata, "version", lambda _name: version)
    if refused:
        with pytest.raises(ImportError, match=f"needs Flask 2.2 or later; Flask {version} is"):
            require("Flask", (2, 2))
    else:
        require("Flask", (2, 2))


def test_a_distribution_without_metadata_is_not_refused() -> None:
    assert release("no-such-distribution-here") is None
    require("no-such-distribution-here", (1, 0))
