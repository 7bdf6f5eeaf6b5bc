"""The one canonical form of a request path, on which the route is chosen.

Flask and Starlette read the same URL differently (Werkzeug serves `//admin` as `/admin`;
Starlette does not), so a table that sends `/admin` to one side must see every spelling of
`/admin` the way the side that finally serves it does. The policy:

- Runs of `/` are merged (`//api//tickets` is `/api/tickets`), and the side is handed the
  merged path, so the path that chose the side is the path the side serves. Clients that join a
  base URL ending in `/` with a path starting with `/` keep working, as they did under Werkzeug.
- Refused with 400: dot segments (`.`, `..`, also percent-encoded), an encoded `/` (`%2F`),
  a `\\` (raw or `%5C`), NUL and other control characters (raw or encoded), and percent-escapes
  that do not decode as UTF-8. No legitimate client sends these; each could make a side see a
  different path than the one the table saw.
- Refused with 400 as well, once decoded: C1 controls (U+0080-U+009F), the line and paragraph
  separators U+2028/U+2029, and the bidirectional controls (U+061C, U+200E/F, U+202A-202E,
  U+2066-2069). Python's `str.splitlines()` breaks lines at the first two kinds, and the last
  makes a logged path display as another one.
- Refused with 400: decimal digits other than ASCII `0`-`9` (Arabic-Indic `%D9%A1`, fullwidth
  `%EF%BC%91`, Devanagari `%E0%A5%A7`...). Werkzeug's `int` and `float` converters match any
  Unicode decimal digit (`\\d`, then `int()`), Starlette's and the table's `int` only ASCII
  ones: such a segment would miss a table entry `{id:int}` and reach a legacy `<int:id>` view
  by the table's default. Matching them the way Werkzeug does would need every side to agree
  too, and no API client sends them as numbers, so they are refused, in any segment.
- Everything else is kept as sent: case, trailing `/`, `;`. Both sides treat them as
  significant, so the table does too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

# Anything that may need more than a plain ASCII decode: percent-escapes, repeated slashes,
# segments starting with a dot, backslashes, control and non-ASCII bytes.
_NEEDS_WORK = re.compile(rb"[%\\\x00-\x1f\x7f-\xff]|//|/\.")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# Decoded characters refused for what they do to log readers (see the policy above).
_INVISIBLE = re.compile("[\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# A Unicode decimal digit (what `\d` matches in a str pattern) that is not ASCII.
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


class PathRejected(ValueError):
    """A path the gateway refuses to route; the message is safe to show the client."""


@dataclass(frozen=True, slots=True)
class CanonicalPath:
    path: str  # decoded, what the table matches and what `scope["path"]` becomes
    raw: bytes  # still percent-encoded, what `scope["raw_path"]` becomes


def is_canonical(raw_path: bytes) -> bool:
    """Whether a raw path is its own canonical form (then it is ASCII): most paths are."""
    return raw_path.startswith(b"/") and _NEEDS_WORK.search(raw_path) is None


def canonicalize(raw_path: bytes) -> CanonicalPath:
    """The canonical form of a raw request path (no query string), or PathRejected."""
    if not raw_path.startswith(b"/"):
        raise PathRejected("the request path must start with '/'")
    if _NEEDS_WORK.search(raw_path) is None:
        return CanonicalPath(raw_path.decode("ascii"), raw_path)
    raw_parts = raw_path[1:].split(b"/")
    kept_raw: list[bytes] = []
    kept: list[str] = []
    for index, raw_part in enumerate(raw_parts):
        if raw_part == b"" and index != len(raw_parts) - 1:
            continue  # a repeated slash
        kept_raw.append(raw_part)
        kept.append(_decode_segment(raw_part))
    return CanonicalPath("/" + "/".join(kept), b"/" + b"/".join(kept_raw))


def _decode_segment(raw_part: bytes) -> str:
    if b"\\" in raw_part:
        raise PathRejected("the request path contains a backslash")
    if _CONTROL.search(raw_part):
        raise PathRejected("the request path contains a control character")
    decoded = unquote_to_bytes(raw_part)
    if b"/" in decoded:
        raise PathRejected("the request path contains an encoded '/' (%2F)")
    if b"\\" in decoded:
        raise PathRejected("the request path contains an encoded backslash (%5C)")
    if _CONTROL.search(decoded):
        raise PathRejected("the request path contains an encoded control character")
    if decoded in (b".", b".."):
        raise PathRejected("the request path contains a '.' or '..' segment")
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise PathRejected("the request path is not valid UTF-8 once decoded") from None
    if _INVISIBLE.search(text):
        raise PathRejected(
            "the request path contains a C1 control, line separator or bidirectional control"
        )
    if _OTHER_DIGIT.search(text):
        raise PathRejected("the request path contains a decimal digit other than 0-9")
    return text
