"""Waiting on a condition, never on a sleep: the one `wait_for` of the tests (and `eventually`,
the same wait for code on an event loop, which must not be blocked)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

POLL_SECONDS = 0.02


def wait_for(
    condition: Callable[[], bool], timeout: float = 30.0, what: str = "the condition"
) -> float:
    """Seconds until `condition()` holds; fails the test, naming `what`, after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:g} s: {what}", pytrace=False)
        time.sleep(POLL_SECONDS)
    return time.monotonic() - start


async def eventually(
    condition: Callable[[], bool], timeout: float = 30.0, what: str = "the condition"
) -> None:
    """`wait_for` on an event loop: the loop runs on while it waits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}", pytrace=False)
        await asyncio.sleep(POLL_SECONDS / 2)
