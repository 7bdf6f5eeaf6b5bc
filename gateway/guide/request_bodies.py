"""The request body a legacy view declares, as an OpenAPI `requestBody`, read from the view object.

Declared, not guessed: webargs' `use_args`/`use_kwargs` keep their marshmallow schema and
location in the decorator's closure; APIFlask keeps `_spec["body"]`; flask-smorest keeps
`_apidoc["arguments"]`; a pydantic model annotated on a view's parameter (Flask-Pydantic's
`body: Model`) has its own JSON schema. Anything else has no `requestBody`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

_BODY_LOCATIONS = {
    "json": "application/json",
    "json_or_form": "application/json",
    "form": "application/x-www-form-urlencoded",
    "files": "multipart/form-data",
}
# marshmallow field class names -> JSON schema (the field's class and its bases are looked up).
_FIELD_TYPES: dict[str, dict[str, Any]] = {
    "String": {"type": "string"},
    "UUID": {"type": "string", "format": "uuid"},
    "Email": {"type": "string", "format": "email"},
    "URL": {"type": "string", "format": "uri"},
    "DateTime": {"type": "string", "format": "date-time"},
    "Date": {"type": "string", "format": "date"},
    "Integer": {"type": "integer"},
    "Number": {"type": "number"},
    "Boolean": {"type": "boolean"},
    "List": {"type": "array"},
    "Tuple": {"type": "array"},
    "Nested": {"type": "object"},
    "Dict": {"type": "object"},
    "Mapping": {"type": "object"},
}


def request_body(view: Callable[..., Any]) -> dict[str, Any] | None:
    for reader in (_webargs, _apiflask, _smorest, _pydantic):
        found = reader(view)
        if found is not None:
            return found
    return None


def _chain(view: Callable[..., Any]) -> Iterator[Any]:
    """The view and every function it wraps (`__wrapped__`), outermost first."""
    seen: set[int] = set()
    current: Any = view
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "__wrapped__", None)


# webargs locations -> the `request` attributes they read.
_REQUEST_ATTRIBUTES = {
    "json": ("json",),
    "form": ("form",),
    "json_or_form": ("form", "json"),
    "query": ("args",),
    "querystring": ("args",),
    "headers": ("headers",),
    "cookies": ("cookies",),
    "files": ("files",),
    "view_args": ("view_args",),
}


def _webargs_uses(view: Callable[..., Any]) -> Iterator[tuple[Any, str]]:
    """(argmap, location) of each webargs decorator on the view."""
    for function in _chain(view):
        code = getattr(function, "__code__", None)
        cells = getattr(function, "__closure__", None)
        if code is None or not cells:
            continue
        names = dict(zip(code.co_freevars, cells, strict=False))
        if "argmap" not in names or "location" not in names:
            continue
        try:
            argmap, location = names["argmap"].cell_contents, names["location"].cell_contents
        except ValueError:
            continue
        if isinstance(location, str):
            yield argmap, location


def declared_request(view: Callable[..., Any]) -> set[str]:
    """The `request` attributes webargs decorators read for the view (`use_kwargs(...)`)."""
    return {
        attribute
        for _, location in _webargs_uses(view)
        for attribute in _REQUEST_ATTRIBUTES.get(location, ())
    }


def _webargs(view: Callable[..., Any]) -> dict[str, Any] | None:
    for argmap, location in _webargs_uses(view):
        media = _BODY_LOCATIONS.get(location)
        schema = _marshmallow(argmap)
        if media is not None and schema is not None:
            return {"content": {media: {"schema": schema}}}
    return None


def _marshmallow(schema: Any) -> dict[str, Any] | None:
    fields = getattr(schema, "fields", None) or getattr(schema, "_declared_fields", None)
    if not isinstance(fields, dict):
        return None
    properties = {}
    required = []
    for name, field in fields.items():
        key = getattr(field, "data_key", None) or name
        if getattr(field, "dump_only", False):
            continue
        properties[key] = _field_schema(field)
        if getattr(field, "required", False):
            required.append(key)
    described: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        described["required"] = sorted(required)
    return described


def _field_schema(field: Any) -> dict[str, Any]:
    for kind in type(field).__mro__:
        if kind.__name__ in _FIELD_TYPES:
            return dict(_FIELD_TYPES[kind.__name__])
    return {}


def _apiflask(view: Callable[..., Any]) -> dict[str, Any] | None:
    for function in _chain(view):
        spec = getattr(function, "_spec", None)
        body = spec.get("body") if isinstance(spec, dict) else None
        schema = _marshmallow(body) if body is not None else None
        if schema is not None:
            return {"content": {"application/json": {"schema": schema}}}
    return None


def _smorest(view: Callable[..., Any]) -> dict[str, Any] | None:
    for function in _chain(view):
        apidoc = getattr(function, "_apidoc", None)
        arguments = apidoc.get("arguments") if isinstance(apidoc, dict) else None
        for argument in (arguments or {}).get("parameters", ()):
            location = argument.get("location", "json")
            media = _BODY_LOCATIONS.get(location)
            schema = _marshmallow(argument.get("schema"))
            if media is not None and schema is not None:
                return {"content": {media: {"schema": schema}}}
    return None


def _pydantic(view: Callable[..., Any]) -> dict[str, Any] | None:
    function = inspect.unwrap(view)
    try:
        annotations = inspect.get_annotations(function, eval_str=True)
    except Exception:  # an annotation that names something the module no longer has
        return None
    for name, annotation in annotations.items():
        if name == "return" or not isinstance(annotation, type):
            continue
        if issubclass(annotation, BaseModel):
            schema = annotation.model_json_schema()
            if "$defs" in schema:
                return None  # references into its own $defs: not placed in components here
            return {"content": {"application/json": {"schema": schema}}, "required": True}
    return None
