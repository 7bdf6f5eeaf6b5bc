"""Comparing two answers to the same request, the way a person reviewing a migration would.

Status codes and the chosen headers must be equal (a header that lists tokens, such as `Vary`,
as a set: `Cookie, Accept` is `accept, cookie`). Bodies are compared as the apps wrote them
(a gzip or deflate body decompressed); bodies that are JSON on both sides are compared as
data: object key order, whitespace and number spelling (`1`, `1.0`, `1e0`) do not count, and
configured JSON paths are ignored. Other bodies must be equal byte for byte.
Differences are reported per field, with their kind (missing on the shadow side, extra on it,
changed, or changed type) and both values shortened for logs, the admin API and the ledger.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

_STEP = re.compile(
    r"\.\.(?:([A-Za-z_][A-Za-z0-9_\-]*)|\['([^']*)'\])"  # ..name, ..['key']
    r"|\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\*|\d+)\]|\['([^']*)'\]"
)
WILDCARD = "*"
VALUE_LIMIT = 200  # characters kept of each value in a reported difference
# Headers whose value is a set of comma-separated tokens (RFC 9110 Vary and Allow, the CORS
# lists): two apps that list the same tokens in another order, or field names in another case,
# answer the same. Field names are case-insensitive; methods are not.
FIELD_NAME_SETS = frozenset(
    {"vary", "access-control-allow-headers", "access-control-expose-headers"}
)
TOKEN_SETS = frozenset({"allow", "access-control-allow-methods"})
_LISTS = FIELD_NAME_SETS | TOKEN_SETS

DifferenceKind = Literal["missing", "extra", "changed", "type_changed"]
DIFFERENCE_KINDS: tuple[DifferenceKind, ...] = ("missing", "extra", "changed", "type_changed")


class Descent:
    """`..` in a JSON path: any number of steps (none included) before the next one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DESCENT"


DESCENT = Descent()
PathStep = str | int | Descent


def parse_json_path(text: str) -> tuple[PathStep, ...]:
    """`$.items[*].updated_at` -> ("items", "*", "updated_at"); `$..id` -> (DESCENT, "id").

    A small JSONPath subset: `.name`, `['key']`, `[N]`, `[*]`, and recursive descent `..name`.
    """
    if not text.startswith("$"):
        raise ValueError(f"JSON path {text!r} must start with '$'")
    steps: list[PathStep] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise ValueError(
                f"JSON path {text!r}: cannot read {text[position:]!r} "
                "(use .name, ..name, [N], [*] or ['key'])"
            )
        deep_name, deep_quoted, name, index, quoted = match.groups()
        if deep_name is not None or deep_quoted is not None:
            steps.extend((DESCENT, deep_name if deep_name is not None else deep_quoted))
        elif index is not None:
            steps.append(WILDCARD if index == WILDCARD else int(index))
        else:
            steps.append(name if name is not None else quoted)
        position = match.end()
    return tuple(steps)


def format_json_path(steps: Iterable[PathStep]) -> str:
    parts = ["$"]
    descend = False
    for step in steps:
        if isinstance(step, Descent):
            descend = True
            continue
        prefix = ".." if descend else ""
        descend = False
        if isinstance(step, int) or step == WILDCARD:
            parts.append(f"{prefix}[{step}]")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", step):
            parts.append(f"{prefix or '.'}{step}")
        else:
            parts.append(f"{prefix}['{step}']")
    return "".join(parts)


def generalize(steps: tuple[PathStep, ...]) -> tuple[PathStep, ...]:
    """List positions replaced by `*`: noise found at items[3] is noise at every item."""
    return tuple(WILDCARD if isinstance(step, int) else step for step in steps)


def path_matches(pattern: tuple[PathStep, ...], steps: tuple[PathStep, ...]) -> bool:
    """Whether a parsed pattern covers a concrete path.

    A pattern also covers everything below it: ignoring $.meta ignores $.meta.x; `..name`
    covers `name` at any depth ($..etag ignores $.etag and $.items[3].etag).
    """
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if isinstance(head, Descent):
        return any(path_matches(rest, steps[start:]) for start in range(len(steps) + 1))
    if not steps:
        return False
    return (head == WILDCARD or head == steps[0]) and path_matches(rest, steps[1:])


def value_kind(a: Any, b: Any) -> DifferenceKind:
    """`type_changed` when the two JSON values are of different JSON types, else `changed`."""

    def json_type(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int | float):
            return "number"
        return type(value).__name__

    return "type_changed" if json_type(a) != json_type(b) else "changed"


@dataclass(frozen=True, slots=True)
class Difference:
    field: str  # "status", "header:<name>", "body" or "body:<JSON path>"
    primary: str
    shadow: str
    json_path: tuple[PathStep, ...] | None = None
    # missing: only the primary has it; extra: only the shadow has it.
    kind: DifferenceKind = "changed"

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "kind": self.kind,
            "primary": self.primary,
            "shadow": self.shadow,
        }

    @property
    def noise_key(self) -> str:
        if self.json_path is not None:
            return "body:" + format_json_path(generalize(self.json_path))
        return self.field


@dataclass(slots=True)
class Answer:
    """What one side answered (or raised) to a request."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False  # the body went past `limit`, the size compared
    exception: BaseException | None = None
    limit: int = 1 << 20

    def add_body(self, chunk: bytes) -> None:
        if self.truncated or len(self.body) + len(chunk) > self.limit:
            self.truncated = True
        else:
            self.body += chunk

    def header_map(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in self.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            merged[key] = f"{merged[key]}, {text}" if key in merged else text
        return merged


def _same_header(name: str, a: str | None, b: str | None) -> bool:
    if a is None or b is None or name not in _LISTS:
        return a == b
    if name in FIELD_NAME_SETS:
        a, b = a.lower(), b.lower()
    return _tokens(a) == _tokens(b)


def _tokens(value: str) -> frozenset[str]:
    return frozenset(token.strip() for token in value.split(",")) - {""}


def _short(text: str) -> str:
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "\u2026"


def _short_json(value: Any) -> str:
    """A JSON value as JSON, so that the string "1" and the number 1 read differently."""
    return _short(json.dumps(value, ensure_ascii=False))


def _same_scalar(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        # NaN (which Python's json reads and writes) is never equal to itself, yet two answers
        # that both say NaN say the same.
        both_float = isinstance(a, float) and isinstance(b, float)
        return a == b or (both_float and math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def json_differences(a: Any, b: Any, path: tuple[PathStep, ...] = ()) -> Iterator[Difference]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            here = (*path, key)
            if key not in a or key not in b:
                yield Difference(
                    "body:" + format_json_path(here),
                    _short_json(a[key]) if key in a else "(absent)",
                    _short_json(b[key]) if key in b else "(absent)",
                    here,
                    "missing" if key in a else "extra",
                )
            else:
                yield from json_differences(a[key], b[key], here)
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            here = (*path, index)
            if index >= len(a) or index >= len(b):
                yield Difference(
                    "body:" + format_json_path(here),
                    _short_json(a[index]) if index < len(a) else "(absent)",
                    _short_json(b[index]) if index < len(b) else "(absent)",
                    here,
                    "missing" if index < len(a) else "extra",
                )
            else:
                yield from json_differences(a[index], b[index], here)
    elif not _same_scalar(a, b):
        yield Difference(
            "body:" + format_json_path(path), _short_json(a), _short_json(b), path, value_kind(a, b)
        )


def content(answer: Answer) -> bytes:
    """The body as the app wrote it: a gzip or deflate body decompressed, since two compressors
    (or two levels of one) give different bytes for the same content.

    Decompressed up to the answer's limit only (a small body can expand a thousandfold); one
    that goes past it, or does not decompress, is compared as it was sent.
    """
    body = bytes(answer.body)
    encoding = answer.header_map().get("content-encoding", "").strip().lower()
    wbits = _WBITS.get(encoding)
    if wbits is None or not body:
        return body
    decoder = zlib.decompressobj(wbits)
    try:
        decoded = decoder.decompress(body, answer.limit + 1)
    except zlib.error:
        return body
    if len(decoded) > answer.limit or decoder.unconsumed_tail:
        return body
    return decoded


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _json_body(answer: Answer, body: bytes) -> tuple[bool, Any]:
    content_type = answer.header_map().get("content-type", "")
    if "json" not in content_type:
        return False, None
    try:
        return True, json.loads(body)
    except ValueError:
        return False, None


class Comparator:
    def __init__(
        self,
        headers: Iterable[str] | None,
        ignore_headers: Iterable[str],
        ignore_paths: Iterable[str],
        always_ignored: Iterable[str],
    ) -> None:
        self.headers = None if headers is None else frozenset(headers)
        self.ignored_headers = frozenset(ignore_headers) | frozenset(always_ignored)
        self.ignored_paths = [parse_json_path(path) for path in ignore_paths]

    def differences(self, primary: Answer, shadow: Answer) -> list[Difference]:
        if primary.exception is not None or shadow.exception is not None:
            return self._exception_differences(primary, shadow)
        found: list[Difference] = []
        if primary.status != shadow.status:
            found.append(Difference("status", str(primary.status), str(shadow.status)))
        found.extend(self._header_differences(primary, shadow))
        found.extend(self._body_differences(primary, shadow))
        return found

    @staticmethod
    def _exception_differences(primary: Answer, shadow: Answer) -> list[Difference]:
        def describe(answer: Answer) -> str:
            if answer.exception is None:
                return f"(answered {answer.status})"
            return _short(f"{type(answer.exception).__name__}: {answer.exception}")

        if type(primary.exception) is type(shadow.exception):
            return []
        return [Difference("exception", describe(primary), describe(shadow))]

    def _header_differences(self, primary: Answer, shadow: Answer) -> Iterator[Difference]:
        a, b = primary.header_map(), shadow.header_map()
        names = self.headers if self.headers is not None else a.keys() | b.keys()
        for name in sorted(names - self.ignored_headers):
            if not _same_header(name, a.get(name), b.get(name)):
                absent = "(absent)"
                kind: DifferenceKind = (
                    "extra" if name not in a else "missing" if name not in b else "changed"
                )
                yield Difference(
                    f"header:{name}",
                    _short(a.get(name, absent)),
                    _short(b.get(name, absent)),
                    kind=kind,
                )

    def _body_differences(self, primary: Answer, shadow: Answer) -> Iterator[Difference]:
        a_body, b_body = content(primary), content(shadow)
        a_is_json, a = _json_body(primary, a_body)
        b_is_json, b = _json_body(shadow, b_body)
        if a_is_json and b_is_json:
            for difference in json_differences(a, b):
                assert difference.json_path is not None
                if not any(path_matches(p, difference.json_path) for p in self.ignored_paths):
                    yield difference
        elif a_body != b_body:
            yield Difference(
                "body",
                _short(a_body.decode("utf-8", "replace")),
                _short(b_body.decode("utf-8", "replace")),
            )
