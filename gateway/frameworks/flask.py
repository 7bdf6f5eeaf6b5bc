"""Flask (any Werkzeug URL map): routes from `url_map`, names from Werkzeug's own matcher."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    Map,
    PathConverter,
    UnicodeConverter,
    UUIDConverter,
)
from werkzeug.routing import Rule as WerkzeugRule

from gateway.frameworks.router import Parameter, Route, cached_namer, listed_methods
from gateway.routing.endpoints import RouteNamer, find_attribute

_VARIABLE = re.compile(r"<(?:(?P<convertor>[A-Za-z_]\w*)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def find(app: object) -> FlaskRouter | None:
    url_map = find_attribute(app, "url_map")
    if not isinstance(url_map, Map):
        return None
    return FlaskRouter(url_map, find_attribute(app, "view_functions") or {})


@dataclass(frozen=True, slots=True)
class FlaskRouter:
    url_map: Map
    view_functions: dict[str, Any]
    framework: str = "flask"

    def routes(self) -> list[Route]:
        return [self._route(rule) for rule in self.url_map.iter_rules()]

    def _route(self, rule: WerkzeugRule) -> Route:
        converters = _converters(rule)
        endpoint = str(rule.endpoint)
        blueprint = endpoint.rpartition(".")[0] or None
        return Route(
            template=rule_template(rule.rule, converters),
            methods=listed_methods(rule.methods or ()),
            name=endpoint,
            view=self.view_functions.get(endpoint),
            parameters=tuple(_parameter(name, c) for name, c in converters.items()),
            blueprint=blueprint,
        )

    def namer(self) -> RouteNamer:
        adapter = self.url_map.bind("localhost")
        templates: dict[str, str] = {}

        def name(path: str, method: str) -> str | None:
            try:
                rule, _ = adapter.match(path, method=method, return_rule=True)
            except HTTPException:
                return None  # 404, 405, or a redirect to the slash-terminated rule
            if not isinstance(rule, WerkzeugRule):
                return None
            found = templates.get(rule.rule)
            if found is None:
                found = templates[rule.rule] = rule_template(rule.rule, _converters(rule))
            return found

        return cached_namer(name)


def _converters(rule: WerkzeugRule) -> dict[str, BaseConverter]:
    # Werkzeug keeps the converter objects of a bound rule here (the same since 0.x).
    found = getattr(rule, "_converters", None)
    return dict(found) if isinstance(found, dict) else {}


def rule_template(rule: str, converters: dict[str, BaseConverter]) -> str:
    """`/tickets/<int:ticket_id>` -> `/tickets/{ticket_id:int}`, in FastAPI's syntax."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        return "{" + name + _kind(converters.get(name), match["convertor"]) + "}"

    return _VARIABLE.sub(replace, rule)


def _kind(converter: BaseConverter | None, convertor: str | None) -> str:
    if converter is None:  # an unbound rule: judge by the name alone
        return f":{convertor}" if convertor in ("int", "path", "uuid") else ""
    if isinstance(converter, IntegerConverter):
        # A signed one takes "-1", which the table's {x:int} does not.
        return "" if converter.signed else ":int"
    if isinstance(converter, UUIDConverter):
        return ":uuid"
    if isinstance(converter, PathConverter):
        return ":path"
    return ""


def _any_items(converter: AnyConverter) -> tuple[str, ...] | None:
    items = getattr(converter, "items", None)  # Werkzeug 2.2+
    if items is None:
        # Werkzeug 2.0 and 2.1 keep only the regex: `(?:one|two)`, each item escaped.
        inner = converter.regex.removeprefix("(?:").removesuffix(")")
        items = [re.sub(r"\\(.)", r"\1", item) for item in re.split(r"(?<!\\)\|", inner)]
    return tuple(sorted(items)) if items else None


def _parameter(name: str, converter: BaseConverter) -> Parameter:
    if isinstance(converter, IntegerConverter):
        return Parameter(name, "integer", minimum=None if converter.signed else 0)
    if isinstance(converter, FloatConverter):
        return Parameter(name, "number")
    if isinstance(converter, UUIDConverter):
        return Parameter(name, format="uuid")
    if isinstance(converter, AnyConverter):
        return Parameter(name, enum=_any_items(converter))
    if isinstance(converter, PathConverter):
        return Parameter(name, description="the rest of the path: it may hold '/'")
    if isinstance(converter, UnicodeConverter):
        return Parameter(name)
    return Parameter(name, pattern=f"^{converter.regex}$")
