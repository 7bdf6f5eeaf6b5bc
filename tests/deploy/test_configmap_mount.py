"""A routes ConfigMap mounted as a folder, updated the way the kubelet updates it.

The kubelet's atomic writer keeps each version of a ConfigMap in a timestamped folder, points
`..data` at the current one, and makes each key a symlink through `..data`. An update writes a
new folder and renames a new `..data` symlink over the old one: `routes.yaml` itself never
changes. A running `gateway serve` must follow it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import run_gateway

TABLE = """\
default: legacy
routes:
  - path: /admin
    target: {target}
"""


class KubeletVolume:
    """A folder laid out and updated as the kubelet does for a ConfigMap volume."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.version = 0

    def publish(self, text: str) -> None:
        self.version += 1
        previous = (self.folder / "..data").resolve() if self.version > 1 else None
        payload = self.folder / f"..2026_11_28_00_00_0{self.version}.000000001"
        payload.mkdir()
        (payload / self.key).write_text(text, encoding="utf-8")
        staging = self.folder / "..data_tmp"
        staging.symlink_to(payload.name)
        os.replace(staging, self.folder / "..data")  # the one atomic step
        if previous is None:
            (self.folder / self.key).symlink_to(f"..data/{self.key}")
        else:
            (previous / self.key).unlink()
            previous.rmdir()

    @property
    def path(self) -> Path:
        return self.folder / self.key


def side(base_url: str) -> str:
    return httpx.get(base_url + "/admin", timeout=10).headers["x-gateway-side"]


def test_a_kubelet_style_update_of_the_mounted_configmap_is_loaded(tmp_path: Path) -> None:
    volume = KubeletVolume(tmp_path / "routes", "routes.yaml")
    volume.folder.mkdir()
    volume.publish(TABLE.format(target="legacy"))
    with run_gateway(volume.path) as server:
        assert side(server.base_url) == "legacy"
        volume.publish(TABLE.format(target="new"))
        deadline = time.monotonic() + 30
        while side(server.base_url) != "new":
            if time.monotonic() > deadline:
                pytest.fail("the gateway did not load the updated ConfigMap:\n" + server.log())
            time.sleep(0.05)
        assert volume.path.read_text(encoding="utf-8").endswith("target: new\n")
