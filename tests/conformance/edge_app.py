"""A Flask app made of edge cases, served by gunicorn and by the gateway in the conformance tests.

Every view answers with what it saw (paths, query, headers, body digests) or with a response
shape that servers are known to handle differently (streams, cookies, ranges, empty bodies).
Nothing here depends on time, ports or the process, so two servers must answer byte for byte
alike. `/raw/...` paths reach plain WSGI apps below Flask, for what Flask never does itself
(the `write` callable, hop-by-hop headers, a too-long body, `start_response` in a generator).

Files for `send_file` come from `EDGE_FILES_DIR`, written once by the test so both servers
serve the same file (same mtime, so the same ETag and Last-Modified).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

app = Flask("edge")
app.json.sort_keys = True  # type: ignore[attr-defined]

FILES_ENV = "EDGE_FILES_DIR"
COOKIE_EXPIRES = datetime(2037, 1, 1, tzinfo=UTC)
# What /environ reports. Left out on purpose: REMOTE_PORT and SERVER_PORT (differ by
# construction), wsgi.multithread and wsgi.multiprocess (gunicorn's sync worker runs one call at
# a time in one process; the gateway runs threads and may run several processes), and
# REQUEST_URI, which gunicorn does not set and the gateway sets to RAW_URI, as uWSGI does.
_ENVIRON_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "SERVER_PROTOCOL",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REMOTE_ADDR",
    "wsgi.url_scheme",
    "wsgi.input_terminated",
    "wsgi.version",
    "wsgi.run_once",
)


def digest(data: bytes) -> dict[str, Any]:
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def pattern(size: int) -> bytes:
    """`size` bytes cycling through all 256 byte values."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.route("/echo/<path:rest>", methods=["GET", "POST"])
def echo(rest: str = "") -> ResponseReturnValue:
    return jsonify(
        method=request.method,
        rest=rest,
        path=request.path,
        full_path=request.full_path,
        script_root=request.script_root,
        url=request.url,
        args=request.args.to_dict(flat=False),
        # The gateway adds X-Request-ID when a client sends none (the tests send one anyway).
        headers=sorted(
            [name, value] for name, value in request.headers.items() if name != "X-Request-Id"
        ),
        cookies=request.cookies.to_dict(flat=False),
        body=digest(request.get_data()),
    )


@app.route("/environ", methods=["GET", "POST"])
def environ() -> ResponseReturnValue:
    seen = {key: request.environ.get(key) for key in _ENVIRON_KEYS}
    seen["http"] = sorted(
        [key, value]
        for key, value in request.environ.items()
        if key.startswith("HTTP_") and key != "HTTP_X_REQUEST_ID"
    )
    seen["has_file_wrapper"] = "wsgi.file_wrapper" in request.environ
    return jsonify(seen)


@app.post("/upload")
def upload() -> ResponseReturnValue:
    # Read as a stream, as a large upload would be, not through request.data.
    hasher = hashlib.sha256()
    size = 0
    while chunk := request.stream.read(65536):
        hasher.update(chunk)
        size += len(chunk)
    return jsonify(length=size, sha256=hasher.hexdigest(), declared=request.content_length)


@app.post("/form")
def form() -> ResponseReturnValue:
    files = {
        name: [
            {"filename": f.filename, "mimetype": f.mimetype, **digest(f.read())}
            for f in request.files.getlist(name)
        ]
        for name in request.files
    }
    return jsonify(form=request.form.to_dict(flat=False), files=files)


@app.get("/stream")
def stream() -> ResponseReturnValue:
    count = request.args.get("n", 5, type=int)

    def generate() -> Iterator[str]:
        for index in range(count):
            yield f"line {index} of {request.args.get('label', 'stream')}\n"

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.get("/stream/empty-chunks")
def stream_empty_chunks() -> ResponseReturnValue:
    def generate() -> Iterator[bytes]:
        yield b""
        yield b"after an empty chunk"
        yield b""

    return Response(generate(), mimetype="application/octet-stream")


@app.get("/stream/binary")
def stream_binary() -> ResponseReturnValue:
    size = request.args.get("size", 3 * 1024 * 1024, type=int)
    data = pattern(size)

    def generate() -> Iterator[bytes]:
        for start in range(0, size, 100_000):
            yield data[start : start + 100_000]

    return Response(generate(), mimetype="application/octet-stream")


@app.get("/binary")
def binary() -> ResponseReturnValue:
    size = request.args.get("size", 1024, type=int)
    return Response(pattern(size), mimetype="application/octet-stream")


@app.get("/cookies/set")
def set_cookies() -> ResponseReturnValue:
    response = jsonify(ok=True)
    response.set_cookie("plain", "1")
    response.set_cookie("scoped", "two", path="/echo", httponly=True, samesite="Lax")
    response.set_cookie("dated", "3", expires=COOKIE_EXPIRES, secure=True)
    response.set_cookie("spaced", "a value; with, separators")
    response.delete_cookie("gone")
    return response


@app.get("/redirect")
def redirect_to_echo() -> ResponseReturnValue:
    return redirect(url_for("echo", rest="target", q="1"))


@app.get("/redirect/external")
def redirect_external() -> ResponseReturnValue:
    return redirect(url_for("echo", _external=True), code=301)


@app.get("/redirect/absolute")
def redirect_absolute() -> ResponseReturnValue:
    return redirect("https://example.org/elsewhere?x=1", code=307)


@app.get("/urls")
def urls() -> ResponseReturnValue:
    return jsonify(
        echo=url_for("echo"),
        echo_rest=url_for("echo", rest="a b/ç"),
        external=url_for("echo", _external=True),
        with_query=url_for("echo", a=["1", "2"], b="ü"),
        unicode=url_for("unicode_view", name="naïve ☃"),
        static=url_for("static", filename="x.css"),
    )


@app.get("/dir/")
def directory() -> ResponseReturnValue:
    return "directory\n"


@app.get("/unicode/<name>")
def unicode_view(name: str) -> ResponseReturnValue:
    return jsonify(name=name, path=request.path, codepoints=[ord(c) for c in name])


@app.get("/json/unicode")
def json_unicode() -> ResponseReturnValue:
    return jsonify(text="héllo wörld ☃ 𝄞", nested={"ç": ["ü", None, 1.5, True]})


@app.get("/headers/non-ascii")
def non_ascii_header() -> ResponseReturnValue:
    # WSGI header values are latin-1 strings; "é" is sent as the byte 0xE9 by both servers.
    return Response("ok", headers={"X-Latin": "café", "Content-Disposition": "inline; x=ü"})


@app.get("/headers/many")
def many_headers() -> ResponseReturnValue:
    response = Response("many")
    for index in range(3):
        response.headers.add("X-Repeated", f"value-{index}")
    response.headers["X-Empty"] = ""
    response.headers["X-Spaces"] = "  padded  "
    response.headers["Link"] = '</a>; rel="preload", </b>; rel="next"'
    return response


@app.get("/empty/<kind>")
def empty(kind: str) -> ResponseReturnValue:
    if kind == "204":
        return "", 204
    if kind == "200":
        return "", 200
    if kind == "304":
        return Response(status=304)
    if kind == "none-type":
        return Response(b"", mimetype="application/octet-stream")
    abort(404)


@app.get("/status/<int:code>")
def status(code: int) -> ResponseReturnValue:
    return Response(f"status {code}\n", status=code)


@app.get("/abort/<int:code>")
def abort_with(code: int) -> ResponseReturnValue:
    abort(code)


@app.get("/error")
def error() -> ResponseReturnValue:
    raise RuntimeError("an unhandled error in a view")


@app.get("/file/<name>")
def file(name: str) -> ResponseReturnValue:
    folder = os.environ.get(FILES_ENV)
    if not folder or name not in {"small.bin", "large.bin", "text.txt"}:
        abort(404)
    return send_file(Path(folder) / name, conditional=True, etag=True)


@app.get("/file/attachment")
def attachment() -> ResponseReturnValue:
    folder = os.environ.get(FILES_ENV) or abort(404)
    return send_file(
        Path(folder) / "text.txt", as_attachment=True, download_name="résumé naïve.txt"
    )


# --- plain WSGI apps, below Flask -------------------------------------------------------------


def raw_write(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "14")])
    write(b"written, ")
    return [b"then ", b""]


def raw_hop_by_hop(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain"),
            ("Keep-Alive", "timeout=99"),
            ("Upgrade", "h2c"),
            ("X-Kept", "yes"),
        ],
    )
    return [b"hop-by-hop headers dropped"]


def raw_too_long(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"12345", b"6789 beyond the declared length"]


def raw_lazy_start(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    start_response("202 Accepted", [("Content-Type", "text/plain")])
    yield b"start_response called "
    yield b"inside the generator"


def raw_reason(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("299 Custom Reason", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"custom"]


def raw_bad_header(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Bad", "line\r\nbreak")])
    return [b"never sent"]


RAW_APPS: dict[str, WSGIApplication] = {
    "/raw/write": raw_write,
    "/raw/hop-by-hop": raw_hop_by_hop,
    "/raw/too-long": raw_too_long,
    "/raw/lazy-start": raw_lazy_start,
    "/raw/reason": raw_reason,
    "/raw/bad-header": raw_bad_header,
}


class RawRoutes:
    """Sends `/raw/...` paths to the plain WSGI apps above, everything else to Flask."""

    def __init__(self, flask_wsgi: WSGIApplication) -> None:
        self.flask_wsgi = flask_wsgi

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raw = RAW_APPS.get(environ.get("PATH_INFO", ""))
        return (raw or self.flask_wsgi)(environ, start_response)


app.wsgi_app = RawRoutes(app.wsgi_app)  # type: ignore[method-assign]
