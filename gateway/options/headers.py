"""Rules for the request headers of a shadow copy: `shadow: {request_headers: {drop, set}}`.

Two implementations rarely share logins: the legacy side's `Authorization` or session cookie
means nothing to the new side (or worse, is refused there, and every copy fails for the wrong
reason). So a copy can drop headers and set others, such as a test account's token.

A value to set may name environment variables, `${SHADOW_TOKEN}` or `Bearer ${SHADOW_TOKEN}`
(Python's string.Template: `$$` is a literal `$`), so a secret need not be written in the
routes file. The variables are read when the entry is loaded: one that is not set is an error
of the routes file, with its line. Values are never shown: the admin API, `gateway check` and
`gateway routes` show them as written, environment references only, and hide literal ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

# RFC 9110's token: what a header name may hold.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What a header value may not hold (RFC 9110: no CR, LF or NUL; other controls but tab neither).
_NOT_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
HIDDEN = "(hidden)"
COPY_MARK = "x-gateway-shadow"  # the header that marks a request as a shadow copy
# Headers a rule may not touch: the mark (an app that skips a copy's side effects on it would
# take a copy whose mark was dropped or doubled for a real request), and the framing of the
# body, which the gateway replays as the client sent it.
_NOT_RULED = {
    COPY_MARK: "is the gateway's mark of a copy",
    "content-length": "frames the copied body",
    "transfer-encoding": "frames the copied body",
}


@dataclass(frozen=True, slots=True)
class ResolvedRules:
    """The rules with environment references replaced, ready to apply to ASGI headers."""

    drop: frozenset[bytes]
    set: tuple[tuple[bytes, bytes], ...]

    def apply(self, headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        # A header that is set replaces every value the client sent under that name.
        removed = self.drop | {name for name, _ in self.set}
        kept = [(name, value) for name, value in headers if name.lower() not in removed]
        return [*kept, *self.set]


NO_RULES = ResolvedRules(frozenset(), ())


class RequestHeaderRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    drop: tuple[str, ...] = ()
    # Pairs rather than a dict: the options are hashed to keep a route's state across reloads.
    set: tuple[tuple[str, str], ...] = ()

    @field_validator("set", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        return tuple(value.items()) if isinstance(value, Mapping) else value

    @field_validator("drop")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_ruled_name(name) for name in value)

    @field_validator("set")
    @classmethod
    def _values(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        pairs = tuple((_ruled_name(name), text) for name, text in value)
        names = [name for name, _ in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:  # `X-A` and `x-a`, both kept, would send the copy two values
            raise ValueError(f"header {twice[0]} is set twice (names are case-insensitive)")
        for name, text in pairs:
            _resolve(name, text, os.environ)  # raises with the reason, never the value
        return pairs

    @field_serializer("set")
    def _shown(self, value: tuple[tuple[str, str], ...]) -> dict[str, str]:
        return {name: text if _references(text) else HIDDEN for name, text in value}

    def resolve(self, environ: Mapping[str, str]) -> ResolvedRules:
        return ResolvedRules(
            frozenset(name.encode("latin-1") for name in self.drop),
            tuple(
                (name.encode("latin-1"), _resolve(name, text, environ).encode("latin-1"))
                for name, text in self.set
            ),
        )


def _ruled_name(name: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a header name")
    lower = name.lower()  # ASGI header names are lower case
    if lower in _NOT_RULED:
        raise ValueError(f"{lower} {_NOT_RULED[lower]}: no rule may drop or set it")
    return lower


def _references(text: str) -> bool:
    return bool(Template(text).get_identifiers())


def _resolve(name: str, text: str, environ: Mapping[str, str]) -> str:
    template = Template(text)
    if not template.is_valid():
        raise ValueError(
            f"header {name}: a '$' must start ${{NAME}} or $NAME (write $$ for a literal '$')"
        )
    missing = [variable for variable in template.get_identifiers() if variable not in environ]
    if missing:
        raise ValueError(f"header {name}: environment variable {missing[0]} is not set")
    resolved = template.substitute(environ)
    if _NOT_IN_VALUE.search(resolved):
        raise ValueError(f"header {name}: the value holds a line break or control character")
    try:
        resolved.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header {name}: the value is not Latin-1 text") from None
    return resolved
