"""requirements.lock: what the container installs, pinned and hashed, covering pyproject.toml.

`make lock` writes it with pip-tools; the Dockerfile installs it with --require-hashes and
--no-deps, so a dependency added to pyproject.toml but not locked would be missing from the
image (and fail its `pip check`), and one bumped past its pin would be installed old.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.servers import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
DOCKERFILE = REPO_ROOT / "Dockerfile"
LOCKED_EXTRAS = ("examples", "kubernetes")  # what the image runs: `make lock` --extra
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def lock_entries() -> list[str]:
    """One string per requirement, its continuation lines joined, comments dropped."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for entry in lock_entries():
        match = _PIN.match(entry.split()[0])
        assert match, f"not a pin: {entry.split()[0]}"
        found[canonicalize_name(match.group(1))] = Version(match.group(2))
    return found


def project_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    names = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        names += project["optional-dependencies"][extra]
    names += pyproject["build-system"]["requires"]  # built in the image without isolation
    return [Requirement(name) for name in names]


def test_every_line_is_an_exact_pin_with_hashes() -> None:
    entries = lock_entries()
    assert len(entries) > 20
    for entry in entries:
        words = entry.split()
        assert _PIN.match(words[0]), f"not an exact pin: {words[0]}"
        hashes = [word for word in words[1:] if word.startswith("--hash=sha256:")]
        assert hashes and len(hashes) == len(words) - 1, f"{words[0]} is not hashed"
        assert all(len(word.removeprefix("--hash=sha256:")) == 64 for word in hashes)


@pytest.mark.parametrize("requirement", project_requirements(), ids=str)
def test_every_dependency_of_the_image_is_locked_within_its_range(
    requirement: Requirement,
) -> None:
    locked = pins()
    name = canonicalize_name(requirement.name)
    assert name in locked, f"{requirement} is not in requirements.lock: run `make lock`"
    assert requirement.specifier.contains(locked[name], prereleases=True), (
        f"requirements.lock pins {name}=={locked[name]}, outside {requirement}: run `make lock`"
    )


def test_the_dockerfile_installs_the_lock_alone() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    commands = [
        " ".join(block.split())
        for block in dockerfile.replace("\\\n", " ").splitlines()
        if block.startswith("RUN ")
    ]
    installs = [command for command in commands if "pip install" in command]
    assert installs[0] == (
        "RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock"
    )
    assert all("--no-deps" in command for command in installs)
    assert "COPY requirements.lock ./" in dockerfile


def test_the_build_context_lets_the_lock_file_through() -> None:
    # .dockerignore is an allow-list: a file not named there never reaches the build.
    allowed = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!requirements.lock" in allowed
