"""The request body guard: idle time between pieces, and size, on any ASGI `receive`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from starlette.types import Message

from gateway.http.body_limits import BodyLimits
from gateway.http.responses import Refused

CHUNKED = [(b"transfer-encoding", b"chunked")]


def scope(headers: Sequence[tuple[bytes, bytes]] = ()) -> dict[str, object]:
    return {"type": "http", "method": "POST", "headers": list(headers)}


class Client:
    """The messages a client's body makes, each after `delay` seconds, then a long wait."""

    def __init__(self, pieces: Sequence[bytes], delay: float = 0.0) -> None:
        self.pieces = list(pieces)
        self.delay = delay
        self.calls = 0
        self.disconnect = asyncio.Event()

    async def receive(self) -> Message:
        self.calls += 1
        if self.pieces:
            await asyncio.sleep(self.delay)
            piece = self.pieces.pop(0)
            return {"type": "http.request", "body": piece, "more_body": bool(self.pieces)}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}


async def read_all(
    limits: BodyLimits, client: Client, headers: Sequence[tuple[bytes, bytes]]
) -> bytes:
    receive = limits.guard(scope(headers), client.receive)
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="no-framing-headers"),
        pytest.param([(b"content-length", b"0")], id="content-length-0"),
    ],
)
def test_a_request_without_body_is_not_guarded(headers: list[tuple[bytes, bytes]]) -> None:
    async def receive() -> Message:
        return {"type": "http.request"}

    assert BodyLimits(max_size=0).guard(scope(headers), receive) is receive


def test_a_declared_length_beyond_the_maximum_is_refused_before_reading() -> None:
    client = Client([b"x" * 10])
    with pytest.raises(Refused) as refused:
        BodyLimits(max_size=9).guard(scope([(b"content-length", b"10")]), client.receive)
    assert (refused.value.status, refused.value.error) == (413, "body_too_large")
    assert refused.value.headers == [(b"connection", b"close")]
    assert "10 bytes" in refused.value.detail
    assert client.calls == 0


def test_a_streamed_body_is_refused_when_it_passes_the_maximum() -> None:
    client = Client([b"abcd", b"efgh", b"ijkl"])
    with pytest.raises(Refused, match="413 body_too_large: the request body passed 10 bytes"):
        asyncio.run(read_all(BodyLimits(max_size=10), client, CHUNKED))
    assert client.calls == 3


def test_a_body_up_to_the_maximum_passes() -> None:
    client = Client([b"abcd", b"efghij"])
    assert asyncio.run(read_all(BodyLimits(max_size=10), client, CHUNKED)) == b"abcdefghij"


def test_a_stalled_body_is_refused_408() -> None:
    async def main() -> None:
        client = Client([b"abc", b"never"], delay=0.0)
        receive = BodyLimits(idle_timeout=0.1).guard(scope(CHUNKED), client.receive)
        await receive()
        client.delay = 30  # the client stops sending
        with pytest.raises(Refused) as refused:
            await receive()
        assert (refused.value.status, refused.value.error) == (408, "body_timeout")
        assert refused.value.detail == "no part of the request body arrived for 0.1 s"
        assert refused.value.headers == [(b"connection", b"close")]

    asyncio.run(main())


def test_the_idle_time_is_counted_between_pieces_not_for_the_whole_body() -> None:
    # Five pieces, each in a quarter of the timeout: the whole body takes longer than it.
    client = Client([b"a", b"b", b"c", b"d", b"e"], delay=0.1)
    body = asyncio.run(read_all(BodyLimits(idle_timeout=0.4, min_rate=0), client, CHUNKED))
    assert body == b"abcde"


def test_a_body_that_trickles_is_refused_at_its_minimum_rate() -> None:
    # A byte every 0.05 s never waits the idle timeout, and would hold the wait for ever: the
    # body gets 0.3 s plus a second per 1,000 bytes.
    async def main() -> None:
        client = Client([b"x"] * 1000, delay=0.05)
        limits = BodyLimits(idle_timeout=0.3, min_rate=1000)
        with pytest.raises(Refused) as refused:
            await read_all(limits, client, CHUNKED)
        assert (refused.value.status, refused.value.error) == (408, "body_timeout")
        assert refused.value.detail.startswith("the request body arrived at less than 1000 bytes/s")
        assert client.calls < 20  # about 0.3 s of pieces, not the thousand

    asyncio.run(main())


def test_a_body_that_keeps_its_minimum_rate_takes_as_long_as_it_needs() -> None:
    # 20 pieces of 100 bytes every 0.02 s: 5,000 bytes/s, over twice the idle timeout in all.
    client = Client([b"y" * 100] * 20, delay=0.02)
    body = asyncio.run(read_all(BodyLimits(idle_timeout=0.15, min_rate=1000), client, CHUNKED))
    assert body == b"y" * 2000


def test_after_the_body_the_wait_for_a_disconnect_has_no_timeout() -> None:
    async def main() -> list[Message]:
        client = Client([b"whole"])
        receive = BodyLimits(idle_timeout=0.05).guard(scope(CHUNKED), client.receive)
        first = await receive()
        # The client leaves after four idle timeouts: that wait is not the body's.
        asyncio.get_running_loop().call_later(0.2, client.disconnect.set)
        return [first, await receive()]

    assert [m["type"] for m in asyncio.run(main())] == ["http.request", "http.disconnect"]


def test_a_disconnect_mid_body_is_passed_on() -> None:
    async def main() -> list[Message]:
        client = Client([])
        client.disconnect.set()
        receive = BodyLimits(idle_timeout=5).guard(scope(CHUNKED), client.receive)
        return [await receive(), await receive()]

    assert asyncio.run(main()) == [{"type": "http.disconnect"}] * 2


def test_a_timeout_error_of_the_server_itself_is_not_taken_for_a_slow_client() -> None:
    async def receive() -> Message:
        raise TimeoutError("the server's own")

    async def main() -> None:
        await BodyLimits(idle_timeout=5).guard(scope(CHUNKED), receive)()

    with pytest.raises(TimeoutError, match="the server's own"):
        asyncio.run(main())
