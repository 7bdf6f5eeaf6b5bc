"""HTTP methods, by what the gateway does with them (RFC 9110, section 9)."""

from __future__ import annotations

# Every method a routes-file entry may name.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
# Safe: a copy sent to the shadow side changes nothing there.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Idempotent: sent again to legacy after the new side failed, the effect is that of once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Methods the frameworks answer for every route by themselves (not listed as a route's own).
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
# Methods with a label of their own in the metrics; any other is counted as OTHER, so a client
# inventing methods cannot grow the number of series.
LABELLED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
