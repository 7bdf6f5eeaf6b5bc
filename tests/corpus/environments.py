"""A virtualenv per corpus app: the app from PyPI with its own pins, and the gateway beside it.

The gateway is installed from this checkout the way a team installs it beside its app (`pip
install` of the project, resolved against the app's pins), so a requirement of ours that moves
one of theirs fails here. The code the servers run is the checkout's own all the same: they
start with the repository first on PYTHONPATH, so the installed copy (frozen at build time) is
shadowed and a change to gateway/ needs no reinstall.

Building one takes minutes, so each is kept in a folder reused across runs
(GATEWAY_CORPUS_CACHE, default ~/.cache/gateway-corpus), named by a hash of what went into it:
the app's pins, the Python, and our own requirements (pyproject.toml's build system and
dependencies). A folder left half-built
by an interrupted run has no stamp and is built again. Two runs at once wait on a lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT

STAMP = ".corpus-complete"


@dataclass(frozen=True, slots=True)
class CorpusApp:
    """An app of the corpus: what to install, and what to put back afterwards."""

    name: str
    pins: tuple[str, ...]  # the app itself, from PyPI, with the gateway beside it
    # Installed after the gateway, in a second pip run: versions the app needs at run time
    # that our requirements moved (pip reports the conflict; docs/real-apps.md says which).
    repins: tuple[str, ...] = ()
    # What the tests need in the app's environment besides the app (the new side's FastAPI).
    extras: tuple[str, ...] = ()

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in (self.name, *self.pins, "|", *self.repins, "|", *self.extras):
            digest.update(part.encode() + b"\0")
        digest.update(sys.version.encode())
        digest.update(_gateway_requirements().encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AppEnv:
    """A built virtualenv, and how to run the checkout's gateway in it."""

    app: CorpusApp
    root: Path

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        """Variables for a process of this environment that runs the checkout's gateway."""
        return {
            "PYTHONPATH": str(REPO_ROOT),
            "VIRTUAL_ENV": str(self.root),
            "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            **extra,
        }


def _gateway_requirements() -> str:
    """What pip resolves for the gateway: pyproject.toml's build system and dependencies (a
    change elsewhere in the file, to the linters' settings say, keeps the cache)."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)
    wanted = {"build": project["build-system"], "dependencies": project["project"]["dependencies"]}
    return json.dumps(wanted, sort_keys=True)


def cache_dir() -> Path:
    configured = os.environ.get("GATEWAY_CORPUS_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "gateway-corpus"


def app_env(app: CorpusApp) -> AppEnv:
    """The app's environment, built unless a complete one is cached."""
    root = cache_dir() / f"{app.name}-{app.key()}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent / f"{root.name}.lock"):
        if not (root / STAMP).exists():
            shutil.rmtree(root, ignore_errors=True)
            _build(app, root)
            (root / STAMP).write_text(" ".join(app.pins), encoding="utf-8")
    return AppEnv(app, root)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(app: CorpusApp, root: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(root / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    # Today's pip resolves these old pins in seconds where Python 3.11's own pip 23 wanders.
    _pip(app, [*pip, "install", "--upgrade", "pip"])
    # As a team adds the gateway: their app's environment first, then the gateway into it.
    _pip(app, [*pip, "install", *app.pins])
    _pip(app, [*pip, "install", str(REPO_ROOT), *app.extras])
    if app.repins:
        _pip(app, [*pip, "install", *app.repins])


def _pip(app: CorpusApp, argv: list[str]) -> None:
    # pip builds the checkout in a folder of its own: the repository stays clean.
    with tempfile.TemporaryDirectory(prefix="corpus-pip-") as scratch:
        done = subprocess.run(
            argv, capture_output=True, text=True, cwd=scratch, env=_pip_env(scratch)
        )
    if done.returncode == 0:
        return
    output = (done.stdout + done.stderr)[-4000:]
    if not os.environ.get("CI") and not _index_reachable(argv[0], app.pins[0]):
        pytest.skip(
            f"corpus: {app.name} is not cached in {cache_dir()} and the package index cannot "
            "be reached (no network); the corpus runs where it can, and always under CI"
        )
    pytest.fail(f"corpus: installing {app.name} failed: {' '.join(argv[1:])}\n{output}")


def _pip_env(scratch: str) -> dict[str, str]:
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONWARNINGS", None)
    env["TMPDIR"] = scratch
    return env


def _index_reachable(python: str, requirement: str) -> bool:
    """Whether pip can fetch the app itself (its own wheel, no dependencies)."""
    with tempfile.TemporaryDirectory(prefix="corpus-probe-") as scratch:
        probe = subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-cache-dir"]
            + ["--dest", scratch, requirement],
            capture_output=True,
            cwd=scratch,
            timeout=120,
        )
    return probe.returncode == 0
