"""Concurrent requests of different users, interleaved, each see their own user and state."""

from __future__ import annotations

import asyncio
from itertools import chain
from pathlib import Path

import httpx

from tests.compat.inprocess import client_of, serving
from tests.compat.pair_apps import BY_NAME, PASSWORD, Pair

ROUNDS = 25


def test_interleaved_users_never_see_each_others_user(pair: Pair, tmp_path: Path) -> None:
    names = sorted(BY_NAME)

    async def as_user(client: httpx.AsyncClient, name: str, round_: int) -> tuple[str, str]:
        headers = {"X-Tenant": f"tenant-of-{name}"}
        if round_ % 2:
            described = (await client.get("/new/describe", headers=headers)).json()
            return name, f"{described['user']}/{described['tenant']}/{described['theme']}"
        whoami = (await client.get("/new/whoami")).json()
        return name, f"{whoami['user']}/tenant-of-{name}/theme-of-{name}"

    async def main() -> list[tuple[str, str]]:
        async with serving(pair.flask_app, pair.app, tmp_path) as gateway:
            clients = {name: client_of(gateway) for name in names}
            for name, client in clients.items():
                await client.post("/login", data={"name": name, "password": PASSWORD})
                await client.post(f"/new/theme/theme-of-{name}")
            # One user's requests between every two of another's: a, b, c, a, b, c...
            requests = chain.from_iterable(
                (as_user(clients[name], name, round_) for name in names) for round_ in range(ROUNDS)
            )
            try:
                return list(await asyncio.gather(*requests))
            finally:
                for client in clients.values():
                    await client.aclose()

    answers = asyncio.run(main())
    assert len(answers) == ROUNDS * len(names)
    for name, seen in answers:
        assert seen == f"{name}/tenant-of-{name}/theme-of-{name}"
