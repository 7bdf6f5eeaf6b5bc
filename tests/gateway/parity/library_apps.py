"""A legacy app written as old Flask apps are, on Flask-SQLAlchemy, and its rewrite on Starlette.

The gateway shares the app's SQLAlchemy (the ledger's tables are SQLAlchemy Core too): in the
oldest supported set that is SQLAlchemy 1.4 under Flask-SQLAlchemy 2.5, in the newest 2.x
under 3.x. The app only reads; the test makes its SQLite file (LIBRARY_DATABASE_URL).
"""

from __future__ import annotations

import os

from flask import Flask, abort, jsonify
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

flask_app = Flask("library_legacy")
flask_app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("LIBRARY_DATABASE_URL", "sqlite://")
flask_app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] = False  # 2.5 warns without it
db = SQLAlchemy(flask_app)


@flask_app.get("/books/<int:book_id>")
def legacy_book(book_id: int) -> ResponseReturnValue:
    query = text("SELECT id, title FROM books WHERE id = :id")
    row = db.session.execute(query, {"id": book_id}).first()
    if row is None:
        abort(404)
    return jsonify(id=row.id, title=row.title)


# The rewrite's one difference: the second book's title.
NEW_TITLES = {1: "Dune", 2: "Emma (second edition)"}


async def new_book(request: Request) -> JSONResponse:
    book_id = int(request.path_params["book_id"])
    if book_id not in NEW_TITLES:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return JSONResponse({"id": book_id, "title": NEW_TITLES[book_id]})


starlette_app = Starlette(routes=[Route("/books/{book_id:int}", new_book)])
