"""A shadow copy keeps its place in the route's budget until its call has ended, over the real
server: a copy that times out on the legacy side still holds a WSGI thread, so letting another
copy start would take the threads the legacy side's own clients need."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.test_server import metric
from tests.servers import run_gateway
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

APPS = "tests.gateway.behaviours.shadow_apps"
ROUTES = """\
default: legacy
routes:
  - path: /slow
    methods: [GET]
    target: shadow
    primary: new
    shadow: {timeout: 0.2, concurrency: 2, noise_sample: 0}
  - {path: /open-gate, target: new}
"""


def test_a_timed_out_copy_holds_its_place_until_its_call_ends(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_WSGI_THREADS": "4", "GATEWAY_WSGI_CONCURRENCY": "fixed"}
    with run_gateway(
        routes, legacy_app=f"{APPS}:flask_app", new_app=f"{APPS}:fastapi_app", env=env
    ) as server:

        def copies(outcome: str) -> float:
            return metric(
                server, "gateway_shadow_comparisons_total", route="/slow", outcome=outcome
            )

        try:
            with server.client(timeout=30) as client:
                for number in range(1, 7):
                    assert client.get("/slow").status_code == 200  # new answers at once

                    def ended(n: int = number) -> bool:
                        return copies("timeout") + copies("skipped") == n

                    # Each copy has timed out (or was skipped) before the next request.
                    wait_for(ended, 30)
                # Two copies in flight at most, as the budget says, however long they take.
                assert (copies("timeout"), copies("skipped")) == (2, 4)
                # So the legacy side's own clients still find a thread.
                assert client.get("/plain").status_code == 200
        finally:
            with server.client(timeout=30) as client:
                client.post("/open-gate")
