"""The two sides of the parity tests: one route where they agree, one where they differ in one
field, one where they differ in one header only."""

from __future__ import annotations

from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

flask_app = Flask("parity_legacy")
fastapi_app = FastAPI()

BOOK = {"id": 7, "title": "Dune", "tags": ["sf", "classic"]}


@flask_app.get("/books/<int:book_id>")
def legacy_book(book_id: int) -> ResponseReturnValue:
    return jsonify({**BOOK, "id": book_id})


@flask_app.get("/authors/<int:author_id>")
def legacy_author(author_id: int) -> ResponseReturnValue:
    return jsonify(id=author_id, name="Frank", author={"bio": None, "born": 1920})


@flask_app.get("/shelves")
def legacy_shelves() -> ResponseReturnValue:
    response = jsonify(shelves=[1, 2])
    response.headers["Vary"] = "Accept-Language"
    return response


@fastapi_app.get("/books/{book_id}")
async def new_book(book_id: int) -> dict[str, object]:
    return {**BOOK, "id": book_id}


@fastapi_app.get("/authors/{author_id}")
async def new_author(author_id: int) -> dict[str, object]:
    # The rewrite's one difference: an unknown biography is "" where legacy says null.
    return {"id": author_id, "name": "Frank", "author": {"bio": "", "born": 1920}}


@fastapi_app.get("/shelves")
async def new_shelves(response: Response) -> dict[str, object]:
    return {"shelves": [1, 2]}  # no Vary header: a header-only difference


# --- A route behind a credential: the exported tests get it from their fixture ----------------

TOKEN = "Bearer let-me-in"


@flask_app.get("/private")
def legacy_private() -> ResponseReturnValue:
    from flask import request

    if request.headers.get("Authorization") != TOKEN:
        return jsonify(error="unauthorized"), 401
    return jsonify(secret_count=3)


@fastapi_app.get("/private")
async def new_private(authorization: str | None = Header(None)) -> Response:
    if authorization != TOKEN:
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    return JSONResponse({"secret_count": 3})


# --- Secrets inside differing values: a nested field, a JSON body against a text one, a link ---

ACCOUNT_PASSWORD = "pw-in-a-nested-field"
SESSION_TOKEN = "tok-in-a-json-body"
LINK_CODE = "code-in-a-location"


@flask_app.get("/account")
def legacy_account() -> ResponseReturnValue:
    return jsonify(user={"name": "ann", "password": ACCOUNT_PASSWORD})


@flask_app.get("/session")
def legacy_session() -> ResponseReturnValue:
    return jsonify(token=SESSION_TOKEN), 200, {"Location": f"/done?code={LINK_CODE}&state=1"}


@fastapi_app.get("/account")
async def new_account() -> dict[str, object]:
    return {"user": None}


@fastapi_app.get("/session")
async def new_session() -> Response:
    return Response("signed in", media_type="text/plain", headers={"Location": "/done?state=1"})


# --- Odd requests for the exported tests: a path holding `?`, a header that is not ASCII, a
# binary body. The new side differs on the first and the last. ---------------------------------


@flask_app.route("/echo/<path:rest>", methods=["GET", "POST"])
def legacy_echo(rest: str) -> ResponseReturnValue:
    from flask import request

    size = len(request.get_data())
    note = request.headers.get("X-Note", "")
    return jsonify(rest=rest, note=note, size=size), 200, {"X-Note": note}  # sent back as it came


@fastapi_app.api_route("/echo/{rest:path}", methods=["GET", "POST"])
async def new_echo(rest: str, request: Request) -> JSONResponse:
    body = await request.body()
    note = request.headers.get("x-note", "")
    answer = {
        "rest": rest + "!" if "?" in rest else rest,
        "note": note,
        "size": -1 if body.startswith(b"\x00") else len(body),
    }
    return JSONResponse(answer, headers={"X-Note": note})


@flask_app.get("/broken")
def legacy_broken() -> ResponseReturnValue:
    return jsonify(ok=True)


@fastapi_app.get("/broken")
async def new_broken() -> dict[str, object]:
    raise ValueError("the rewrite is broken here")


# --- Two logins: legacy takes the client's Authorization, new its own X-Token (the copy's
# header rules drop the one and set the other). ------------------------------------------------

NEW_SIDE_TOKEN = "new-side-test-account"


@flask_app.get("/tokened")
def legacy_tokened() -> ResponseReturnValue:
    from flask import request

    if request.headers.get("Authorization") != TOKEN:
        return jsonify(error="unauthorized"), 401
    return jsonify(count=3)


@fastapi_app.get("/tokened")
async def new_tokened(
    x_token: str | None = Header(None), authorization: str | None = Header(None)
) -> Response:
    if x_token != NEW_SIDE_TOKEN or authorization is not None:
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    return JSONResponse({"count": 3})


# --- Every secret shape a client may send: legacy echoes the request (body and key headers),
# new does not, so each shape is in a differing value as well as in the stored request. --------

SECRET_HEADERS = ("Ocp-Apim-Subscription-Key", "X-Functions-Key", "X-Access-Key", "DPoP")


@flask_app.post("/signup")
def legacy_signup() -> ResponseReturnValue:
    from flask import request

    received = request.get_json() if request.is_json else request.form.to_dict()
    echoed = {name: request.headers.get(name, "") for name in SECRET_HEADERS}
    return jsonify(received=received), 200, echoed


@fastapi_app.post("/signup")
async def new_signup() -> dict[str, object]:
    return {"received": None}


# --- A route whose answers differ in every key the client sends: a new key, a new signature --


@flask_app.post("/keys")
def legacy_keys() -> ResponseReturnValue:
    from flask import request

    return jsonify(request.get_json(silent=True) or {})


@fastapi_app.post("/keys")
async def new_keys() -> dict[str, object]:
    return {}
