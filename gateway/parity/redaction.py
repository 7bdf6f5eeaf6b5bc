"""What the ledger keeps of a request and of a difference, with every secret taken out.

Headers are kept by allow-list: only the values of SAFE_HEADERS (content negotiation, caching,
CORS and the like, none of which carries a credential) and of those a deployment adds
(`GATEWAY_LEDGER_SAFE_HEADERS`) are kept; every other header's value is replaced by REDACTED,
so a header no list foresaw (`Ocp-Apim-Subscription-Key`, `DPoP`, a vendor's `X-...-Key`) is
never stored. Names are kept, so a reader still sees that a credential was sent and an exported
test knows to supply one. `GATEWAY_LEDGER_REDACT_HEADERS` hides a header even if it is listed
as safe.

Bodies and query strings are kept by deny-list, as their names are the application's own: the
value of every field whose name looks secret (password, token, key, otp, ...; case-insensitive,
`camelCase` split into words, so `newPass`, `basicAuth`, `otpCode` and `accessKey` match) is
replaced, also in name/value pairs (`[{"name": "password", "value": "X"}]`), and a form body
whose field name is JSON text (`{"password":"x"}=`, a client posting JSON as a form) is redacted
as JSON. Request bodies that are neither JSON nor a form are not stored.

A differing value is itself searched: a differing object may hold a `password` field, a body
that is JSON on one side only is compared (and shown) as text, and a `Location` header or a
link may carry `?code=...`. Secret-looking JSON fields, `name=value` and `name="value"` pairs and
a URL's password are redacted wherever they appear in a value, also in a JSON value shortened
for display (no longer valid JSON) and in the values of the safe headers (a `Referer` with a
token in its query).

One Redactor (built in gateway.app from the settings) serves the ledger, the mismatch log, the
admin API and so the exports, which read the ledger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from gateway.compare import Difference

REDACTED = "[redacted]"
BODY_LIMIT = 4096  # request bodies larger than this are not stored

# Headers whose values say how to negotiate, cache or describe a message, never who sends it.
# Request and response headers both: a difference in a response's `Vary` is worth reading.
SAFE_HEADERS = frozenset(
    {
        # content negotiation and description
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "content-length",
        "content-type",
        "content-disposition",
        "content-range",
        "range",
        # caching and conditional requests
        "cache-control",
        "pragma",
        "expires",
        "age",
        "etag",
        "last-modified",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "vary",
        # where a request comes from and goes (queries redacted by value)
        "host",
        "origin",
        "referer",
        "location",
        "user-agent",
        "x-requested-with",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
        # CORS and security policies a response states
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-request-method",
        "access-control-request-headers",
        "allow",
        "content-security-policy",
        "referrer-policy",
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "retry-after",
        "server",
        "date",
    }
)
# Hop-by-hop, or written by the gateway on every copy: nothing to learn from them.
UNKEPT_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "x-gateway-shadow"}
)
# A name that says "secret" anywhere in it; matching too much costs a redacted harmless value.
_SECRET_PART = re.compile(
    r"passw|passphrase|pwd|secret|token|authoriz|authent|session|sessid|signature|credential"
    r"|api[-_.]?key|private[-_.]?key|cookie|bearer|dpop",
    re.IGNORECASE,
)
# Whole words, after splitting on separators and camelCase: `auth` in `basicAuth` but not in
# `author`, `pass` in `newPass` but not in `passenger`, `key` in `accessKey` but not `keyboard`.
_SECRET_WORDS = frozenset(
    {
        "auth",
        "pass",
        "pin",
        "jwt",
        "hmac",
        "otp",
        "totp",
        "mfa",
        "key",
        "keys",
        "csrf",
        "xsrf",
        "nonce",
        "sid",
        "ssn",
        "cvv",
        "cvc",
    }
)
# Names secret only on their own: `code` (OAuth's), but not `zip_code`.
_SECRET_ALONE = frozenset({"code", "sig"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD_SPLIT = re.compile(r"[^a-zA-Z0-9]+")
_NAME_LIMIT = 256  # a longer "name" is data, not a field name: judged on its first part


def words(name: str) -> list[str]:
    """`newPass` -> ["new", "pass"]; `X-Functions-Key` -> ["x", "functions", "key"]."""
    name = name[:_NAME_LIMIT]
    return [word.lower() for word in _WORD_SPLIT.split(_CAMEL.sub("_", name)) if word]


def secret_name(name: str) -> bool:
    if _SECRET_PART.search(name[:_NAME_LIMIT]) is not None:
        return True
    found = words(name)
    if found == [] or (len(found) == 1 and found[0] in _SECRET_ALONE):
        return bool(found)
    return any(word in _SECRET_WORDS for word in found)


# `name=value` as in a query string or a form, wherever it appears in a text (a Location header,
# a link in a page): the value stops where a query, a cookie or an HTML attribute would end it,
# or is quoted (`secret="X"`, as in a WWW-Authenticate or a config shown in a page).
# A name starts only after a delimiter and never gives back what it took: a long value with no
# `=` (a 16 KB header) is read once, not once per position (a second of CPU per sample).
_PAIR = re.compile(r"(?<![^\s?&;,=\"'<>#/({\[])([^\s?&;,=\"'<>#/(){}\[\]]++)=")
_PAIR_VALUE = re.compile(r"\"[^\"]*+\"?|'[^']*+'?|[^\s&;#\"'<>]*+")
# A URL's password: scheme://user:PASSWORD@host.
_USERINFO = re.compile(r"(//[^/\s:@\"'<>]+:)[^/\s@\"'<>]+@")
# `"name": value` in JSON shortened for display (so no longer parseable): a string (perhaps cut
# short), or an object or list, which is redacted to the end of the text, its end being lost.
_JSON_PAIR = re.compile(
    r'("((?:[^"\\]|\\.)*)"\s*:\s*)("(?:[^"\\]|\\.)*"?|[{\[].*|[^,}\]\s]*)', re.DOTALL
)
# `{"name": "password", "value": "X"}` shortened for display: the value after a secret name.
_NAME_VALUE = re.compile(
    r'("(?:name|key|field|param|header)"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*'
    r'"(?:value|values|val)"\s*:\s*)("(?:[^"\\]|\\.)*"?|[{\[].*|[^,}\]\s]*)',
    re.DOTALL | re.IGNORECASE,
)
# The keys that name a field in a name/value pair object, and those that hold its value.
_PAIR_NAME_KEYS = ("name", "key", "field", "param", "header")
_FORM_READABLE = '{}[]":,'  # left unencoded in a redacted form field: a reader sees the JSON


class Redactor:
    def __init__(self, extra_headers: Iterable[str] = (), safe_headers: Iterable[str] = ()) -> None:
        # From comma-separated settings: "" (unset) or a trailing comma names nothing.
        self.headers = {name.strip().lower() for name in extra_headers} - {""}
        added = {name.strip().lower() for name in safe_headers} - {""}
        self.safe = (SAFE_HEADERS | added) - self.headers

    def secret_header(self, name: str) -> bool:
        """Whether a header's value is hidden: every header not known to be safe."""
        return name.lower() not in self.safe

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
        text = _NAME_VALUE.sub(_json_pair, text)
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
    # A value is read only after a secret name, and skipped: a harmless value is searched too
    # (`href="/cb?token=..."`), and each character is read a bounded number of times.
    kept: list[str] = []
    done = 0
    for match in _PAIR.finditer(text):
        if match.start() < done or not secret_name(unquote_plus(match.group(1))):
            continue
        secret = _PAIR_VALUE.match(text, match.end())
        kept += [text[done : match.end()], REDACTED]
        done = secret.end() if secret is not None else match.end()
    kept.append(text[done:])
    return _USERINFO.sub(rf"\1{REDACTED}@", "".join(kept))


def query(text: str) -> str:
    """A query string with the values of secret-looking parameters redacted.

    The rest is kept as sent (not decoded and encoded again), so that an exported test sends
    the request that was recorded. `;` separates too: some frameworks read it so, and a value
    holding `;token=...` must not keep the token either way.
    """
    parts = re.split(r"([&;])", text)
    return "".join(_query_part(part) for part in parts)


def _query_part(part: str) -> str:
    if part in ("&", ";"):
        return part
    name, equals, sent = part.partition("=")
    decoded = unquote_plus(name)
    if decoded.lstrip().startswith(("{", "[")):
        # JSON posted as a form (`{"password":"x"}=`): the name is the data.
        shown = quote_plus(value(decoded), safe=_FORM_READABLE)
        return shown + equals + (quote_plus(value(unquote_plus(sent))) if sent else "")
    if secret_name(decoded):
        return f"{name}={REDACTED}"  # "[redacted]" stays readable
    inside = unquote_plus(sent)
    shown = _pairs(inside)
    # A harmless name's value may still hold `secret="X"` or a link with `?token=`.
    return part if shown == inside else f"{name}={quote_plus(shown, safe=_FORM_READABLE)}"


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
        if _names_a_secret(value):
            # {"name": "password", "value": "X"}: all but the name is the secret's.
            return {
                key: item if key in _PAIR_NAME_KEYS else REDACTED for key, item in value.items()
            }
        return {
            _json_key(key): REDACTED if secret_name(str(key)) else _redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    if isinstance(value, str):
        return _pairs(value)  # a URL holding ?token=... or a password
    return value


def _json_key(key: str) -> str:
    # A key that is JSON text (a form posted as JSON, read back as a dict) holds data itself.
    return value(key) if key.lstrip().startswith(("{", "[")) else key


def _names_a_secret(pair: dict[Any, Any]) -> bool:
    return any(isinstance(pair.get(key), str) and secret_name(pair[key]) for key in _PAIR_NAME_KEYS)
