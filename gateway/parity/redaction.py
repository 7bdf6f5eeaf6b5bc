"""What the ledger keeps of a request and of a difference, with every secret taken out.

Never stored: the values of credential headers (Authorization, Cookie, Set-Cookie and the like,
plus any the operator names), of headers, query parameters and JSON or form fields whose names
look secret (password, token, session, api_key, ...), and request bodies that are neither JSON
nor a form. Names are kept, values replaced by REDACTED, so a reader still sees that a
credential was sent and an exported test knows to supply one.

A differing value is itself searched: a differing object may hold a `password` field, a body
that is JSON on one side only is compared (and shown) as text, and a `Location` header or a
link may carry `?code=...`. Secret-looking JSON fields, `name=value` pairs and a URL's
password are redacted wherever they appear in a value, also in a JSON value shortened for
display (no longer valid JSON) and in the values of the request's other headers (a `Referer`
with a token in its query).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from gateway.compare import Difference

REDACTED = "[redacted]"
BODY_LIMIT = 4096  # request bodies larger than this are not stored

CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-csrf-token",
        "x-xsrf-token",
    }
)
# Hop-by-hop, or written by the gateway on every copy: nothing to learn from them.
UNKEPT_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "x-gateway-shadow"}
)
# A name that says "secret" anywhere in it; matching too much costs a redacted harmless value.
# Whole words where a part would catch too much: `auth` but not `author`, `pass` but not
# `passenger`.
_SECRET_NAME = re.compile(
    r"(^|[-_.])(auth|pass|pin|jwt|hmac|otp)($|[-_.])|passw|passphrase|pwd|secret|token|authoriz|authent"
    r"|session|sessid|signature|credential|api[-_]?key|private[-_]?key"
    r"|^(key|sig|code|otp|jwt|csrf|xsrf)$",
    re.IGNORECASE,
)


# `name=value` as in a query string or a form, wherever it appears in a text (a Location header,
# a link in a page): the value stops where a query, a cookie or an HTML attribute would end it.
# A name starts only after a delimiter and never gives back what it took: a long value with no
# `=` (a 16 KB header) is read once, not once per position (a second of CPU per sample).
_PAIR = re.compile(r"(?<![^\s?&;=\"'<>#/])([^\s?&;=\"'<>#/]++)=([^\s&;#\"'<>]*+)")
# A URL's password: scheme://user:PASSWORD@host.
_USERINFO = re.compile(r"(//[^/\s:@\"'<>]+:)[^/\s@\"'<>]+@")
# `"name": value` in JSON shortened for display (so no longer parseable): a string (perhaps cut
# short), or an object or list, which is redacted to the end of the text, its end being lost.
_JSON_PAIR = re.compile(
    r'("((?:[^"\\]|\\.)*)"\s*:\s*)("(?:[^"\\]|\\.)*"?|[{\[].*|[^,}\]\s]*)', re.DOTALL
)


def secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


class Redactor:
    def __init__(self, extra_headers: Iterable[str] = ()) -> None:
        # From a comma-separated setting: "" (unset) or a trailing comma names nothing.
        named = {name.strip().lower() for name in extra_headers}
        self.headers = CREDENTIAL_HEADERS | (named - {""})

    def secret_header(self, name: str) -> bool:
        return name in self.headers or secret_name(name)

    def request_headers(self, raw: Iterable[tuple[bytes, bytes]]) -> list[list[str]]:
        kept = []
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1").lower()
            if name in UNKEPT_HEADERS:
                continue
            value = raw_value.decode("latin-1")
            kept.append([name, REDACTED if self.secret_header(name) else _pairs(value)])
        return kept

    def difference(self, difference: Difference) -> dict[str, str]:
        kept = difference.as_dict()
        if self._secret_field(difference):
            kept["primary"] = kept["shadow"] = REDACTED
        else:
            kept["primary"], kept["shadow"] = value(kept["primary"]), value(kept["shadow"])
        return kept

    def _secret_field(self, difference: Difference) -> bool:
        if difference.field.startswith("header:"):
            return self.secret_header(difference.field.removeprefix("header:"))
        names = [step for step in difference.json_path or () if isinstance(step, str)]
        return any(secret_name(name) for name in names)


def value(text: str) -> str:
    """A value shown in a difference (JSON, a header, a body as text) without its secrets."""
    try:
        parsed = json.loads(text)
    except ValueError:
        text = _JSON_PAIR.sub(_json_pair, text)
    else:
        if isinstance(parsed, dict | list):
            text = json.dumps(_redact_json(parsed), ensure_ascii=False)
    return _pairs(text)


def _json_pair(match: re.Match[str]) -> str:
    if not secret_name(match.group(2)):
        return match.group(0)
    return f'{match.group(1)}"{REDACTED}"'


def _pairs(text: str) -> str:
    def redact(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}={REDACTED}" if secret_name(unquote_plus(name)) else match.group(0)

    return _USERINFO.sub(rf"\1{REDACTED}@", _PAIR.sub(redact, text))


def query(text: str) -> str:
    """A query string with the values of secret-looking parameters redacted.

    The rest is kept as sent (not decoded and encoded again), so that an exported test sends
    the request that was recorded. `;` separates too: some frameworks read it so, and a value
    holding `;token=...` must not keep the token either way.
    """
    parts = re.split(r"([&;])", text)
    return "".join(_query_part(part) for part in parts)


def _query_part(part: str) -> str:
    name, _, _ = part.partition("=")
    if part in ("&", ";") or not secret_name(unquote_plus(name)):
        return part
    return f"{name}={REDACTED}"  # "[redacted]" stays readable


def body(raw: bytes, content_type: str) -> str | None:
    """A request body as text with its secret fields redacted, or None when not kept."""
    if not raw:
        return ""
    if len(raw) > BODY_LIMIT:
        return None
    if "json" in content_type:
        try:
            return json.dumps(_redact_json(json.loads(raw)))
        except ValueError:
            return None
    if "application/x-www-form-urlencoded" in content_type:
        return query(raw.decode("latin-1"))
    return None  # free text or binary may hold anything: not stored


def _redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if secret_name(str(key)) else _redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    if isinstance(value, str):
        return _pairs(value)  # a URL holding ?token=... or a password
    return value
