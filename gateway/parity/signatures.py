"""A difference signature: the set of fields two answers differ in, each with its kind.

Comparisons with the same signature on a route are one finding with a count (one missing header
on every request is one signature, not one line per request). List positions are generalised
(`$.items[3].id` is `$.items[*].id`), so answers of different lengths still group together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from gateway.compare import Difference

MATCH_SIGNATURE = ""  # the signature of an answer with no difference


def signature_fields(differences: Iterable[Difference]) -> list[tuple[str, str]]:
    """(field, kind) pairs, generalised, sorted, each once."""
    return sorted({(difference.noise_key, difference.kind) for difference in differences})


def signature_of(fields: list[tuple[str, str]]) -> str:
    if not fields:
        return MATCH_SIGNATURE
    text = json.dumps(fields, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
