"""A tiny Falcon application (WSGI): its converters, each beside a literal sibling."""

from __future__ import annotations

import falcon


class Answer:
    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: object) -> None:
        resp.media = {"app": "falcon", "path": req.path}

    on_delete = on_get


app = falcon.App()
for template in [
    "/health",
    "/api/items",
    "/api/items/export",
    "/api/items/{item_id:int}",
    "/u/{key:uuid}",
    "/s/{name}/",
    "/files/{name:path}",
]:
    app.add_route(template, Answer())
