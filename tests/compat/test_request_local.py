"""RequestLocal: bound per task or thread context, a clear error when unset, `g` as fallback."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from flask import Flask, g

from gateway.compat.request_local import RequestLocal, RequestLocalUnset


def test_unset_is_a_clear_error_naming_the_value() -> None:
    tenant: RequestLocal[str] = RequestLocal("tenant")
    assert not tenant.is_bound()
    with pytest.raises(RequestLocalUnset, match="tenant is not set"):
        tenant.get()


def test_bound_inside_the_block_only_and_nested_values_restore() -> None:
    tenant: RequestLocal[str] = RequestLocal("tenant")
    with tenant.bound("outer"):
        assert tenant.get() == "outer"
        with tenant.bound("inner"):
            assert tenant.get() == "inner"
        assert tenant.get() == "outer"
    assert not tenant.is_bound()


def test_concurrent_tasks_each_see_their_own_value() -> None:
    tenant: RequestLocal[int] = RequestLocal("tenant")

    async def request(number: int) -> list[int]:
        seen = []
        with tenant.bound(number):
            for _ in range(20):
                await asyncio.sleep(0)  # let the other requests run in between
                seen.append(tenant.get())
        return seen

    async def main() -> list[list[int]]:
        return list(await asyncio.gather(*(request(n) for n in range(10))))

    assert asyncio.run(main()) == [[n] * 20 for n in range(10)]


def test_worker_threads_that_copy_the_context_see_the_value_and_plain_ones_do_not() -> None:
    tenant: RequestLocal[str] = RequestLocal("tenant")

    def read() -> str:
        return tenant.get() if tenant.is_bound() else "unset"

    async def main() -> tuple[str, str]:
        with tenant.bound("acme"):
            copied = await anyio.to_thread.run_sync(read)
            with ThreadPoolExecutor(1) as pool:
                plain = await asyncio.wrap_future(pool.submit(read))
        return copied, plain

    assert asyncio.run(main()) == ("acme", "unset")


def test_the_fallback_reads_flask_g_where_nothing_bound_the_value() -> None:
    tenant: RequestLocal[str] = RequestLocal("tenant", fallback=lambda: str(g.tenant))
    app = Flask(__name__)
    with app.app_context():
        g.tenant = "from-g"
        assert tenant.get() == "from-g"
        with tenant.bound("bound"):
            assert tenant.get() == "bound"
    with pytest.raises(RuntimeError, match="application context"):
        tenant.get()


def test_repr_names_it() -> None:
    assert repr(RequestLocal("tenant")) == "RequestLocal('tenant')"
