"""The releases of the legacy app's libraries that `gateway.compat.flask` works with.

Kept outside `gateway.compat.flask`, whose import is what refuses an older release: a test can
then read the rule without importing the package it guards.
"""

from __future__ import annotations

import re
from importlib import metadata

MIN_FLASK = (2, 2)
MIN_FLASK_LOGIN = (0, 6)


def release(distribution: str) -> tuple[int, int] | None:
    """(major, minor) of an installed distribution; None when it has no metadata to read."""
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else None


def require(distribution: str, minimum: tuple[int, int]) -> None:
    found = release(distribution)
    if found is not None and found < minimum:
        wanted = ".".join(map(str, minimum))
        raise ImportError(
            f"gateway.compat.flask needs {distribution} {wanted} or later; "
            f"{distribution} {metadata.version(distribution)} is installed"
        )
