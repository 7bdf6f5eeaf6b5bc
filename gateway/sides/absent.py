"""The new side when there is no new app (GATEWAY_NEW_APP unset): the legacy app alone.

Every routes-file entry must then be `legacy` and the default too, so nothing is ever sent
here; should a request arrive all the same, it gets a 404 rather than a crash.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from gateway.http.responses import send_json

NOT_SET = "GATEWAY_NEW_APP is not set"


async def no_new_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]  # startup or shutdown
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "http":
        await send_json(send, 404, {"error": "not_found", "detail": f"{NOT_SET}: no new app"})
