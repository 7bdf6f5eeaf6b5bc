"""A response the legacy app gave instead of a value: a hook's 401, an `abort(403)`, a redirect
to the login page. It becomes the new endpoint's answer, as it would have been Flask's."""

from __future__ import annotations

from starlette.responses import Response
from werkzeug.wrappers import Response as WerkzeugResponse


class LegacyAnswer(Exception):
    """Raised by `LegacyState` calls whose legacy code answered; `LegacyStateMiddleware` sends
    `response` (with the session saved onto it), unless the endpoint catches it first."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"the legacy app answered {response.status_code}")
        self.response = response


def starlette_response(response: WerkzeugResponse) -> Response:
    """The same status, headers and body, read while the legacy request context is still there
    (a streamed body may need it)."""
    # A file response (send_file) passes its file through to the server; here it is read.
    response.direct_passthrough = False
    try:
        body = response.get_data()
    finally:
        response.close()
    answer = Response(body, status_code=response.status_code)
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.to_wsgi_list()
        if name.lower() != "content-length"
    ]
    # Starlette counted the body it was given; Werkzeug's own count may predate the read.
    answer.raw_headers = [*headers, (b"content-length", str(len(body)).encode("latin-1"))]
    return answer
