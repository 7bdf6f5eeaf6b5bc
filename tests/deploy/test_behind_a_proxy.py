"""`gateway serve` behind a load balancer: forwarded headers count only from trusted proxies.

The tests connect from 127.0.0.1, so they play the proxy when 127.0.0.1 is trusted and a client
spoofing X-Forwarded-For when it is not. The client address is checked where users see it: the
legacy app's REMOTE_ADDR, the new app's `request.client`, and the access log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess, run_gateway

ROUTES = """\
default: legacy
routes:
  - path: /new/whoami
    target: new
"""
LEGACY, NEW = "tests.deploy.whoami_apps:legacy", "tests.deploy.whoami_apps:new"


@contextmanager
def gateway(
    routes_file: Path, allow: str | None, header: str | None = None
) -> Iterator[ServerProcess]:
    env = {} if allow is None else {"GATEWAY_FORWARDED_ALLOW_IPS": allow}
    if header is not None:
        env["GATEWAY_FORWARDED_HEADER"] = header
    with run_gateway(routes_file, legacy_app=LEGACY, new_app=NEW, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("proxy") / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def behind_loopback_proxy(routes_file: Path) -> Iterator[ServerProcess]:
    """Trusts the loopback peer (the test) and, further out, a 10.0.0.0/8 proxy tier."""
    with gateway(routes_file, "127.0.0.1, 10.0.0.0/8") as server:
        yield server


@pytest.fixture(scope="module")
def trusting_others(routes_file: Path) -> Iterator[ServerProcess]:
    """Trusts only proxies the test is not: its forwarded headers are a client's spoof."""
    with gateway(routes_file, "10.0.0.0/8") as server:
        yield server


@pytest.fixture(scope="module")
def trusting_none(routes_file: Path) -> Iterator[ServerProcess]:
    """The default: no proxy trusted (uvicorn alone would trust 127.0.0.1)."""
    with gateway(routes_file, None) as server:
        yield server


def whoami(server: ServerProcess, path: str, headers: dict[str, str]) -> dict[str, object]:
    response = httpx.get(server.base_url + path, headers=headers, timeout=10)
    assert response.status_code == 200
    answer: dict[str, object] = response.json()
    return answer


def logged_client(server: ServerProcess, request_id: str) -> object:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if '"event": "request"' in line and request_id in line:
                return json.loads(line)["client"]
        time.sleep(0.05)
    pytest.fail(f"no access log line for {request_id}")


SPOOF = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize("path", ["/whoami", "/new/whoami"])
@pytest.mark.parametrize("server_name", ["trusting_others", "trusting_none"])
def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    request: pytest.FixtureRequest, server_name: str, path: str
) -> None:
    server: ServerProcess = request.getfixturevalue(server_name)
    request_id = f"spoof-{server_name}-{path.count('/')}"
    answer = whoami(server, path, {**SPOOF, "X-Request-ID": request_id})
    assert (answer["client"], answer["scheme"]) == ("127.0.0.1", "http")
    assert str(logged_client(server, request_id)).startswith("127.0.0.1:")


@pytest.mark.parametrize("path", ["/whoami", "/new/whoami"])
def test_a_trusted_proxy_names_the_client_right_most_untrusted_hop_wins(
    behind_loopback_proxy: ServerProcess, path: str
) -> None:
    # The left-most entry is the client's own claim; 10.1.2.3 is a trusted inner proxy.
    request_id = f"proxied-{path.count('/')}"
    headers = {
        "X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3",
        "X-Forwarded-Proto": "https",
        "X-Request-ID": request_id,
    }
    answer = whoami(behind_loopback_proxy, path, headers)
    assert (answer["client"], answer["scheme"]) == ("203.0.113.7", "https")
    assert logged_client(behind_loopback_proxy, request_id) == "203.0.113.7:0"


def test_a_proxy_writing_rfc_7239_forwarded_is_read_and_x_forwarded_for_is_not(
    routes_file: Path,
) -> None:
    headers = {
        "Forwarded": 'for=198.51.100.1, for="[2001:db8::7]:4711";proto=https, for=10.1.2.3',
        "X-Forwarded-For": "203.0.113.66",  # the other header: a client's, here
    }
    with gateway(routes_file, "127.0.0.1, 10.0.0.0/8", header="forwarded") as server:
        for path in ("/whoami", "/new/whoami"):
            request_id = f"rfc-7239-{path.count('/')}"
            answer = whoami(server, path, {**headers, "X-Request-ID": request_id})
            assert (answer["client"], answer["scheme"]) == ("2001:db8::7", "https")
            # An IPv6 address is bracketed before its port, as in a URL: one way to read it.
            assert logged_client(server, request_id) == "[2001:db8::7]:4711"
            # A client's malformed header, the proxy's element appended: still the client.
            request_id = f"spoiled-{path.count('/')}"
            spoiled = {"Forwarded": 'for="10.1.2.3, for=198.51.100.4', "X-Request-ID": request_id}
            assert whoami(server, path, spoiled)["client"] == "198.51.100.4"
            assert logged_client(server, request_id) == "198.51.100.4:0"


def test_a_request_with_no_forwarded_header_keeps_its_peer(
    behind_loopback_proxy: ServerProcess,
) -> None:
    answer = whoami(behind_loopback_proxy, "/whoami", {})
    assert (answer["client"], answer["scheme"]) == ("127.0.0.1", "http")


def test_a_bad_allow_list_stops_the_start_with_its_value(routes_file: Path) -> None:
    with pytest.raises(RuntimeError, match="'proxy.local' is not an IP address or CIDR"):
        with gateway(routes_file, "10.0.0.0/8, proxy.local"):
            pass  # pragma: no cover - the server must not start
