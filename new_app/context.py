"""Request-local state for helpers deep in the code: the FastAPI answer to Flask's `g`.

A dependency with `yield` binds a RequestLocal (a ContextVar) before the endpoint runs.
Database work runs in a worker thread that gets a copy of the context (`Database.run`), so
`current()` works there too, and concurrent requests each see their own value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.compat.flask import RequestLocal
from new_app.auth import Caller, authenticate


@dataclass(frozen=True)
class RequestContext:
    user: Caller
    remote_addr: str | None
    request_id: str | None


_current: RequestLocal[RequestContext] = RequestLocal("helpdesk.request_context")


def current() -> RequestContext:
    """Raises RequestLocalUnset outside an endpoint that depends on CurrentUser."""
    return _current.get()


async def bind_request_context(request: Request) -> AsyncIterator[Caller]:
    user = await authenticate(request)
    # Must be async: a sync dependency runs in a worker thread, and a ContextVar set there
    # would never reach the endpoint.
    context = RequestContext(
        user=user,
        remote_addr=request.client.host if request.client else None,
        request_id=request.headers.get("x-request-id"),
    )
    with _current.bound(context):
        yield user


CurrentUser = Annotated[Caller, Depends(bind_request_context)]
