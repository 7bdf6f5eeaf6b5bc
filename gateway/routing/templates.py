"""Path templates in FastAPI's syntax, parsed once into segments the route table can index.

A template is `/` followed by segments separated by `/`. A segment is either literal text or a
whole-segment parameter `{name}` with an optional convertor: `str` (the default: one non-empty
segment), `int` (digits), `uuid`, or `path` (the rest of the path, slashes included, possibly
empty; only as the last segment). A trailing `/` is significant, as it is in Flask and Starlette.
Parameters inside a segment (`/files/{name}.csv`) are not supported: neither side's matching of
them can be reproduced exactly, so the table would not know which side a path belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SegmentKind = Literal["static", "int", "uuid", "str", "path"]

# The order in which a path segment is tried against the kinds of segment a table holds:
# the most specific first, so `/tickets/export` beats `/tickets/{id:int}` beats `/tickets/{id}`.
PRIORITY: tuple[SegmentKind, ...] = ("static", "int", "uuid", "str", "path")

CONVERTOR_PATTERNS: dict[SegmentKind, re.Pattern[str]] = {
    "int": re.compile(r"[0-9]+"),
    "uuid": re.compile(
        r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    ),
}

_PARAM = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<convertor>[A-Za-z_]+))?\}")
_CONVERTORS: dict[str, SegmentKind] = {"str": "str", "int": "int", "uuid": "uuid", "path": "path"}
# Characters a literal segment may not hold: they are either template syntax or never present
# in a canonical path (see gateway.routing.paths), so a segment holding them could never match.
_FORBIDDEN_IN_STATIC = re.compile(r"[{}%\\\x00-\x1f\x7f]")


class TemplateError(ValueError):
    """A path template that cannot be parsed; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    value: str  # the literal text for "static", the parameter name otherwise

    @property
    def shape(self) -> tuple[SegmentKind, str]:
        """What two templates must share to match the same paths: the name does not count."""
        return (self.kind, self.value if self.kind == "static" else "")

    def matches(self, text: str) -> bool:
        """Whether one decoded path segment fits this segment (not for "path")."""
        if self.kind == "static":
            return text == self.value
        if self.kind == "str":
            return text != ""
        return CONVERTOR_PATTERNS[self.kind].fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class PathTemplate:
    text: str
    segments: tuple[Segment, ...]

    @property
    def shape(self) -> tuple[tuple[SegmentKind, str], ...]:
        return tuple(segment.shape for segment in self.segments)


def parse_template(text: str) -> PathTemplate:
    if not isinstance(text, str) or not text.startswith("/"):
        raise TemplateError(f"path template {text!r} must start with '/'")
    parts = text[1:].split("/")
    segments: list[Segment] = []
    names: set[str] = set()
    for index, part in enumerate(parts):
        is_last = index == len(parts) - 1
        segment = _parse_segment(text, part, is_last)
        if segment.kind != "static":
            if segment.value in names:
                raise TemplateError(f"path template {text!r} repeats parameter {segment.value!r}")
            names.add(segment.value)
        segments.append(segment)
    return PathTemplate(text=text, segments=tuple(segments))


def _parse_segment(text: str, part: str, is_last: bool) -> Segment:
    if part == "" and not is_last:
        raise TemplateError(f"path template {text!r} has an empty segment ('//')")
    if part in (".", ".."):
        raise TemplateError(f"path template {text!r} has a dot segment {part!r}")
    match = _PARAM.fullmatch(part)
    if match is None:
        if _FORBIDDEN_IN_STATIC.search(part):
            raise TemplateError(
                f"path template {text!r}: segment {part!r} is not a literal and not a whole-"
                "segment parameter like {name} or {name:int}"
            )
        return Segment("static", part)
    convertor = match["convertor"] or "str"
    kind = _CONVERTORS.get(convertor)
    if kind is None:
        known = ", ".join(_CONVERTORS)
        raise TemplateError(
            f"path template {text!r}: unknown convertor {convertor!r} (known: {known})"
        )
    if kind == "path" and not is_last:
        raise TemplateError(f"path template {text!r}: a {{name:path}} parameter must come last")
    return Segment(kind, match["name"])


def split_path(path: str) -> list[str]:
    """The segments of a canonical path, in the form the table matches on ("/" -> [""])."""
    return path[1:].split("/")
