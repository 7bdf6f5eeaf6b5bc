"""`Allow` on a 405: every method served on the path, as Werkzeug lists them.

Starlette's 405 lists the methods of the first route whose path matched, so with GET and POST
as two routes on one path, clients were told "Allow: GET" where Flask said "GET, HEAD, POST".
"""

from __future__ import annotations

from collections.abc import Iterable
from re import Pattern

from starlette.routing import compile_path


class AllowedMethods:
    def __init__(self, endpoints: Iterable[tuple[str, str]]) -> None:
        """`endpoints`: (method, Starlette path template) pairs, e.g. `migrated_endpoints()`."""
        by_path: dict[str, set[str]] = {}
        for method, path in endpoints:
            by_path.setdefault(path, set()).add(method)
        self._paths: list[tuple[Pattern[str], frozenset[str]]] = [
            (compile_path(path)[0], frozenset(methods)) for path, methods in by_path.items()
        ]

    def header(self, path: str) -> str:
        methods = {m for regex, served in self._paths if regex.fullmatch(path) for m in served}
        # HEAD is answered wherever GET is (head.py), as Werkzeug does for every GET rule.
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods))
