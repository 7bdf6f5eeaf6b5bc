"""The admin API's rollout actions: `POST /_gateway/api/rollout/<action>` with a JSON body
`{"route": "/api/tickets", "method": "GET", "reason": "..."}` (a template holds `/`, so it
travels in the body, not the path). Operator token only; the admin API checks it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Receive

from gateway.config.routes_file import RoutesFileError
from gateway.http.bodies import read_body
from gateway.rollout import actions, guard_clear
from gateway.rollout.file_store import FileStore
from gateway.rollout.store import StoreConflict

PREFIX = "rollout/"
CLEAR = "clear"  # a guard's rollback (gateway.rollout.guard_clear), on any guarded entry
MAX_BODY = 16 * 1024


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str = Field(min_length=1, max_length=2000)
    method: str | None = Field(None, max_length=20)
    reason: str = Field("", max_length=500)


async def rollout_action(
    name: str, receive: Receive, routes_file: Path
) -> tuple[int, dict[str, Any]]:
    """The status and JSON answer of one action."""
    if name not in (*actions.ACTIONS, CLEAR):
        return 404, {"error": "not_found", "detail": f"no rollout action {name!r}"}
    body = await read_body(receive, MAX_BODY)
    if len(body.body) > MAX_BODY:
        return 413, {"error": "too_large", "detail": f"at most {MAX_BODY} bytes of JSON"}
    if not body.complete:
        return 400, {"error": "bad_request", "detail": "the request body did not arrive whole"}
    try:
        request = ActionRequest.model_validate(json.loads(body.body or b"null"))
    except (ValueError, ValidationError) as exc:
        detail = 'send JSON {"route": "...", "method": "GET", "reason": "..."}'
        return 400, {"error": "bad_request", "detail": f"{detail}: {exc}"}
    store = FileStore(routes_file)
    if name == CLEAR:
        return await _clear(store, request)
    try:
        status = await asyncio.to_thread(
            actions.apply,
            store,
            request.route,
            request.method,
            cast(actions.Action, name),  # one of ACTIONS, checked above
            request.reason,
            "admin-api",
        )
    except (actions.ActionError, StoreConflict) as exc:
        return 409, {"error": "conflict", "detail": str(exc)}
    except (RoutesFileError, OSError) as exc:
        return 500, {"error": "routes_file", "detail": str(exc)}
    return 200, {"route": request.route, "status": status.model_dump(mode="json")}


async def _clear(store: FileStore, request: ActionRequest) -> tuple[int, dict[str, Any]]:
    try:
        cleared = await asyncio.to_thread(guard_clear.clear, store, request.route, request.method)
    except (actions.ActionError, StoreConflict) as exc:
        return 409, {"error": "conflict", "detail": str(exc)}
    except (RoutesFileError, OSError) as exc:
        return 500, {"error": "routes_file", "detail": str(exc)}
    return 200, {"route": request.route, "cleared": cleared}
