"""The pair behind a real `gateway serve`, over HTTP, one cookie jar: the legacy login is the new
side's user, the new side's session write and logout are the legacy side's, and a legacy helper
run by the new side sees the user, the hook's tenant, the session and the path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.compat import pair_apps
from tests.compat.inprocess import routes_file
from tests.servers import ServerProcess, run_gateway

PAIR = "tests.compat.pair_apps"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes = routes_file(pair_apps.app, tmp_path_factory.mktemp("pair"))
    with run_gateway(
        routes, legacy_app=f"{PAIR}:flask_app", new_app=f"{PAIR}:app", health_path="/new/health"
    ) as server:
        yield server


def test_one_cookie_jar_across_both_sides(gateway: ServerProcess) -> None:
    with gateway.client() as browser:
        anonymous_legacy, anonymous_new = browser.get("/me"), browser.get("/new/whoami")
        assert anonymous_new.status_code == anonymous_legacy.status_code == 401
        assert anonymous_new.json() == anonymous_legacy.json() == {"error": "unauthorized"}
        assert anonymous_new.headers["x-gateway-side"] == "new"

        logged_in = browser.post("/login", data={"name": "alice", "password": "secret"})
        assert logged_in.headers["x-gateway-side"] == "legacy"
        assert browser.get("/new/whoami").json() == {"user": "alice"}

        assert browser.post("/new/theme/dark").json() == {"theme": "dark"}
        assert browser.get("/session").json() == {"theme": "dark"}

        described = browser.get("/new/describe", headers={"X-Tenant": "acme"})
        assert described.headers["x-gateway-side"] == "new"
        assert described.json() == {
            "user": "alice",
            "tenant": "acme",
            "theme": "dark",
            "path": "/new/describe",
        }

        assert browser.post("/new/logout").json() == {"logged_out": True}
        assert browser.get("/me").status_code == 401
        assert browser.get("/new/whoami").json() == {"error": "unauthorized"}
        assert browser.get("/session").json() == {"theme": "dark"}


def test_interleaved_users_over_http(gateway: ServerProcess) -> None:
    names = ["alice", "bob", "carol"]

    async def main() -> list[tuple[str, str]]:
        clients = {name: httpx.AsyncClient(base_url=gateway.base_url, timeout=30) for name in names}
        try:
            for name, client in clients.items():
                await client.post("/login", data={"name": name, "password": "secret"})

            async def ask(name: str) -> tuple[str, str]:
                response = await clients[name].get("/new/whoami")
                return name, response.json()["user"]

            return list(await asyncio.gather(*(ask(name) for _ in range(10) for name in names)))
        finally:
            for client in clients.values():
                await client.aclose()

    answers = asyncio.run(main())
    assert len(answers) == 30
    assert all(asked == seen for asked, seen in answers)
