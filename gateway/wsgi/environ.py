"""The WSGI environ of a request, built the way gunicorn builds it.

Flask apps have run under gunicorn for years, so where PEP 3333 leaves room they may depend on
what gunicorn does; this follows gunicorn (27.x) rather than a2wsgi's `build_environ`:

- `wsgi.input_terminated` is set: the input stream ends at the end of the body, so Werkzeug reads
  chunked uploads (no Content-Length) instead of treating them as empty.
- `RAW_URI` (gunicorn) and `REQUEST_URI` (uWSGI, mod_wsgi) hold the request target as sent.
- `wsgi.errors` is stderr (a2wsgi: stdout, where it mixes with access logs).
- `PATH_INFO` is decoded from the raw path with `latin-1` bytes, as PEP 3333 asks, so a path
  that is not UTF-8 reaches the app byte for byte.
- Header names containing `_` are dropped (gunicorn's `header_map="drop"`): `X_Forwarded_For`
  would otherwise land on the same environ key as `X-Forwarded-For`.
- A header sent several times is joined with `,`, except Cookie, joined with `; ` (the only
  separator cookie parsers understand; HTTP/2 requires it). gunicorn joins Cookie with `,` too.
- `SCRIPT_NAME` comes from the ASGI root path only (a2wsgi also reads an OS environment
  variable, for SCRIPT_NAME but not PATH_INFO).
"""

from __future__ import annotations

import sys
from typing import IO, Any
from urllib.parse import unquote_to_bytes

import werkzeug.wsgi
from starlette.types import Scope

_SPECIAL = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
_JOINERS = {"HTTP_COOKIE": "; "}


def build_environ(scope: Scope, body: IO[bytes]) -> dict[str, Any]:
    root_path: str = scope.get("root_path", "")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw_root = root_path.encode("utf-8")
    if raw_root and raw_path.startswith(raw_root):
        raw_path = raw_path[len(raw_root) :]
    query: bytes = scope["query_string"]
    raw_uri = (raw_root + raw_path + (b"?" + query if query else b"")).decode("latin-1")
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": raw_root.decode("latin-1"),
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": raw_uri,
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        # Several gateway processes may serve the same app (`gateway serve --workers N`), and
        # the bridge cannot know how many: claiming it is the safe answer.
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    _add_headers(environ, scope["headers"])
    return environ


def _add_headers(environ: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    repeated: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        value = raw_value.decode("latin-1")
        special = _SPECIAL.get(name)
        if special is not None:
            environ[special] = value
            continue
        if b"_" in name:
            continue
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if key in environ:
            repeated.setdefault(key, [environ[key]]).append(value)
        else:
            environ[key] = value
    for key, values in repeated.items():
        environ[key] = _JOINERS.get(key, ",").join(values)


class FileWrapper(werkzeug.wsgi.FileWrapper):
    """`wsgi.file_wrapper`: Werkzeug's (seekable: ranges skip ahead), in blocks of 64 KiB or more.

    `send_file` asks for 8 KiB blocks; a larger block means fewer chunks to hand from the worker
    thread to the event loop when a file is too large to send in one piece.
    """

    MIN_BLOCK = 64 * 1024

    def __init__(self, file: IO[bytes], buffer_size: int = 8192) -> None:
        super().__init__(file, max(buffer_size, self.MIN_BLOCK))
