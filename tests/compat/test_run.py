"""`legacy.run`: a legacy helper, unchanged, in the request context Flask would have given it."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from flask import Flask, g
from werkzeug.exceptions import ImATeapot

from gateway.compat.flask import LegacyState, LegacyStateMiddleware
from tests.compat.inprocess import through_gateway
from tests.compat.pair_apps import PASSWORD, Pair, create_pair


def test_a_helper_reads_user_hook_state_session_and_path(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> Any:
        await client.post("/login", data={"name": "alice", "password": PASSWORD})
        await client.post("/new/theme/dark")
        return (await client.get("/new/describe", headers={"X-Tenant": "acme"})).json()

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == {
        "user": "alice",
        "tenant": "acme",  # the app-wide hook ran: /new/describe has no legacy rule, no 404
        "theme": "dark",
        "path": "/new/describe",
    }


def test_the_session_is_one_object_for_the_dependency_and_the_helper(
    pair: Pair, tmp_path: Path
) -> None:
    async def steps(client: httpx.AsyncClient) -> Any:
        described = (await client.post("/new/theme-and-describe/blue")).json()
        return described["theme"], (await client.get("/session")).json()

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == (
        "blue",
        {"theme": "blue"},
    )


def test_a_blueprints_hooks_run_for_its_paths_even_for_a_method_it_lacks(
    pair: Pair, tmp_path: Path
) -> None:
    async def steps(client: httpx.AsyncClient) -> Any:
        tenant = {"X-Tenant": "acme"}
        new = await client.post("/reports/2024/summary", headers=tenant)
        legacy = await client.get("/reports/2024/summary", headers=tenant)
        assert new.headers["x-gateway-side"] == "new"
        return new.json(), legacy.json()

    new, legacy = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    # The url value preprocessor took the year, the blueprint's hook set the area.
    assert (
        new
        == legacy
        == {
            "year": 2024,
            "area": "reports",
            "tenant": "acme",
            "endpoint": "reports.summary",
        }
    )


def test_a_hooks_answer_is_the_answer(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        return (
            await client.post("/reports/2024/summary"),
            await client.get("/reports/2024/summary"),
        )

    new, legacy = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert new.status_code == legacy.status_code == 403
    assert new.json() == legacy.json() == {"error": "reports need a tenant"}
    assert new.headers["content-type"] == legacy.headers["content-type"]


def test_abort_is_the_matching_http_error(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/new/abort/418")

    response = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    expected = ImATeapot().get_response()
    assert response.status_code == 418
    assert response.content == expected.get_data()
    assert response.headers["content-type"] == expected.headers["Content-Type"]


def test_an_exception_the_apps_error_handler_takes_is_its_answer(
    pair: Pair, tmp_path: Path
) -> None:
    async def steps(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/new/lookup")

    response = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert (response.status_code, response.json()) == (404, {"error": "no such thing: 'nobody'"})


def test_the_body_reaches_the_legacy_request(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> Any:
        return (await client.post("/new/echo", data={"a": "1", "b": "two"})).json()

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == {
        "form": {"a": "1", "b": "two"},
        "path": "/new/echo",
    }


def test_a_request_local_bound_by_the_new_side_reaches_the_helper_and_g_the_legacy_side(
    pair: Pair, tmp_path: Path
) -> None:
    async def steps(client: httpx.AsyncClient) -> Any:
        tenant = {"X-Tenant": "zeta"}
        new = await client.get("/new/banner", headers=tenant)
        legacy = await client.get("/banner", headers=tenant)
        return new.json(), legacy.json()

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == (
        {"banner": "tenant zeta", "inside_legacy": "tenant zeta"},
        {"banner": "tenant zeta"},
    )


def test_teardown_runs_once_per_call_in_worker_threads(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        for _ in range(3):
            assert (await client.get("/new/describe")).status_code == 200
        assert pair.seen.teardowns == 3
        # The signed-cookie session alone needs no legacy context, and no teardown.
        assert (await client.post("/new/theme/dark")).status_code == 200
        assert pair.seen.teardowns == 3

    through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert threading.main_thread().name not in pair.seen.threads


def single_app(legacy: LegacyState) -> FastAPI:
    app = FastAPI()
    app.add_middleware(LegacyStateMiddleware)
    running = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow_helper() -> str:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.02)
        with lock:
            running["now"] -= 1
        return str(g.tenant)

    def failing_helper() -> None:
        raise ValueError("the legacy helper failed")

    @app.get("/slow")
    async def slow(request: Request) -> dict[str, Any]:
        return {"tenant": await legacy.run(request, slow_helper), "most": running["most"]}

    @app.get("/fails")
    async def fails(request: Request) -> None:
        await legacy.run(request, failing_helper)

    return app


async def get_all(app: FastAPI, paths: list[str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return list(await asyncio.gather(*(client.get(path) for path in paths)))


def test_legacy_calls_run_at_most_threads_at_once() -> None:
    pair = create_pair(threads=2)
    responses = asyncio.run(get_all(single_app(pair.legacy), ["/slow"] * 12))
    assert [r.status_code for r in responses] == [200] * 12
    assert max(r.json()["most"] for r in responses) <= 2


def test_an_exception_no_error_handler_takes_reaches_the_endpoint(pair: Pair) -> None:
    with pytest.raises(ValueError, match="the legacy helper failed"):
        asyncio.run(get_all(single_app(pair.legacy), ["/fails"]))
    assert pair.seen.teardowns == 1


def test_without_the_middleware_the_error_says_what_to_add(pair: Pair) -> None:
    app = FastAPI()

    @app.get("/describe")
    async def describe(request: Request) -> Any:
        return await pair.legacy.run(request, lambda: None)

    with pytest.raises(RuntimeError, match=r"app.add_middleware\(LegacyStateMiddleware\)"):
        asyncio.run(get_all(app, ["/describe"]))


@pytest.mark.parametrize(
    ("app", "threads", "error"),
    [
        pytest.param(object(), 8, "needs the Flask app itself, got object", id="not-flask"),
        pytest.param(Flask("x"), 0, "threads must be at least 1, got 0", id="no-threads"),
    ],
)
def test_bad_arguments_are_refused(app: Any, threads: int, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        LegacyState(app, threads=threads)
