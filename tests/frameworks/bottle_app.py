"""A tiny Bottle application: every filter Bottle ships, each beside a literal sibling."""

from __future__ import annotations

import bottle

app = bottle.Bottle()


def answer(**kwargs: object) -> dict[str, str]:
    return {"app": "bottle", "path": bottle.request.path}


for rule, method in [
    ("/health", "GET"),
    ("/api/items", "GET"),
    ("/api/items", "POST"),
    ("/api/items/export", "GET"),
    ("/api/items/<item_id:int>", "GET"),
    ("/api/items/<item_id:int>", "DELETE"),
    ("/f/<x:float>", "GET"),
    ("/r/<code:re:[a-z]{3}>", "GET"),
    ("/files/<name:path>", "GET"),
    ("/s/<name>/", "ANY"),
]:
    app.route(rule, method, answer)
