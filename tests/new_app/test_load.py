"""Far more requests at once than the rewrite has threads or database connections.

A sync `yield` dependency that holds a pooled connection while the endpoint waits for a
threadpool thread deadlocks here: every thread waits for a connection that only a thread can
give back. These tests fire 300 requests at once (anyio's threadpool has 40 threads,
SQLAlchemy's pool 15 connections) and then check that the server still answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from new_app.database import DEFAULT_THREADS
from tests.helpdesk import TOKENS, new_server, token
from tests.servers import ServerProcess

CONCURRENT = 300
# Far above what 300 small requests take even on a loaded machine; a deadlocked server
# answers none of them (or a 500 once SQLAlchemy's 30 s pool timeout fires).
REQUEST_TIMEOUT = 30.0

Outcome = httpx.Response | BaseException


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with new_server(tmp_path_factory.mktemp("load") / "helpdesk.db") as server:
        yield server


def burst(server: ServerProcess, requests: list[tuple[str, str, object]]) -> list[Outcome]:
    """Send (method, path, json body or None) all at once, each on its own connection."""

    async def run() -> list[Outcome]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=server.base_url, limits=limits, timeout=REQUEST_TIMEOUT
        ) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.request(method, path, json=body, headers=token(who(n)))
                        for n, (method, path, body) in enumerate(requests)
                    ),
                    return_exceptions=True,
                )
            )

    return asyncio.run(run())


def status(outcome: Outcome) -> int | str:
    """The status, or the name of the error (a timeout, most likely) that replaced it."""
    if isinstance(outcome, httpx.Response):
        return outcome.status_code
    return type(outcome).__name__


def who(n: int) -> str:
    return ("agent", "admin", "agent2")[n % 3]


def thread_count(server: ServerProcess) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))


def assert_still_answers(server: ServerProcess) -> None:
    with server.client() as client:
        assert client.get("/api/me", headers=token("customer")).json()["role"] == "customer"
        assert client.get("/health").json() == {"status": "ok"}


def test_many_concurrent_me_requests_all_answer(server: ServerProcess) -> None:
    responses = burst(server, [("GET", "/api/me", None)] * CONCURRENT)
    assert [status(r) for r in responses] == [200] * CONCURRENT
    emails = {
        TOKENS[who(n)]: r.json()["email"]
        for n, r in enumerate(responses)
        if isinstance(r, httpx.Response)
    }
    assert emails == {
        "agent-token": "agent@example.com",
        "admin-token": "admin@example.com",
        "agent2-token": "agent2@example.com",
    }
    assert_still_answers(server)


MIXED: list[tuple[str, str, object, int]] = [
    ("GET", "/health", None, 200),
    ("GET", "/api/me", None, 200),
    ("GET", "/api/tickets?per_page=100", None, 200),
    ("GET", "/api/tickets/4", None, 200),
    ("GET", "/api/tickets/4/comments", None, 200),
    ("POST", "/api/tickets", {"title": "Under load"}, 201),
    ("PATCH", "/api/tickets/5", {"priority": "high"}, 200),
    ("POST", "/api/tickets/4/comments", {"body": "Under load"}, 201),
]


def test_every_migrated_endpoint_holds_a_concurrent_burst(server: ServerProcess) -> None:
    plan = [MIXED[n % len(MIXED)] for n in range(CONCURRENT)]
    responses = burst(server, [(method, path, body) for method, path, body, _ in plan])
    statuses = [(path, status(r)) for (_, path, _, _), r in zip(plan, responses, strict=True)]
    assert statuses == [(path, status) for _, path, _, status in plan]
    assert_still_answers(server)
    created = CONCURRENT // len(MIXED)
    with server.client() as client:
        comments = client.get("/api/tickets/4/comments?per_page=1", headers=token("agent"))
    assert comments.json()["total"] >= created


def test_database_work_runs_on_a_few_threads(tmp_path: Path) -> None:
    # A thread per waiting request would show here (40 with anyio's default threadpool), and
    # every extra thread is one more contender for the GIL.
    with new_server(tmp_path / "helpdesk.db") as fresh:
        assert_still_answers(fresh)
        before = thread_count(fresh)
        responses = burst(fresh, [("GET", "/api/tickets/1", None)] * CONCURRENT)
        assert {status(r) for r in responses} == {200}
        assert thread_count(fresh) - before <= DEFAULT_THREADS
