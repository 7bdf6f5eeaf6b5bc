"""One OpenAPI document for what the gateway serves: the new app's operations where the route
table sends them to the new side, and the legacy endpoints everywhere else.

Each operation is described by the side that answers it: `x-gateway-side` says which (`new` or
`legacy`), `x-gateway-target` how the table routes it (`new`, `legacy`, `canary 25%`,
`shadow (legacy answers)`). A canary route answered by both sides is described by the new
app's operation when it has one (its contract is the one going forward). An operation of
either app that the table never lets it answer is left out: the document describes what
clients can call. Legacy operations have typed path parameters (from the framework's
converters), the view's docstring as description, and the statuses the view can abort with.
"""

from __future__ import annotations

import copy
import re
from http import HTTPStatus
from typing import Any

from gateway.frameworks.router import ANY_METHOD
from gateway.guide.inventory import Catalogue, Endpoint, Placement, place
from gateway.routing.endpoints import find_attribute, starlette_endpoints, starlette_routes
from gateway.routing.table import RouteTable

OPENAPI_VERSION = "3.1.0"
_BEFORE = ("url_value_preprocessor", "before_request")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_CONVERTER = re.compile(r"\{(\w+):\w+\}")
# What a path template holds when it is a framework's regular expression, not a path.
_NOT_A_PATH = re.compile(r"[()\[\]^$\\*+?|]")


def openapi_path(template: str) -> str:
    """`/tickets/{ticket_id:int}` -> `/tickets/{ticket_id}` (OpenAPI has no converters)."""
    return _CONVERTER.sub(r"{\1}", template)


def new_document(new_app: object | None) -> dict[str, Any] | None:
    """The new app's own OpenAPI document (FastAPI's `app.openapi()`), or None."""
    if new_app is None:
        return None
    build = find_attribute(new_app, "openapi")
    if not callable(build):
        return None
    document = build()
    return copy.deepcopy(document) if isinstance(document, dict) else None


def merged(
    catalogue: Catalogue,
    table: RouteTable,
    new_doc: dict[str, Any] | None,
    new_app: object | None,
    title: str = "API served by the gateway",
) -> dict[str, Any]:
    document = new_doc or {}
    info = document.get("info") or {"title": title, "version": "0"}
    paths: dict[str, dict[str, Any]] = {}
    for path, item in _new_operations(document, table, new_app):
        paths.setdefault(path, {}).update(item)
    for endpoint in catalogue.endpoints:
        _add_legacy(paths, endpoint, place(table, endpoint.sample, endpoint.method))
    _unique_operation_ids(dict(sorted(paths.items())))  # the shortest path keeps the id
    result: dict[str, Any] = {
        "openapi": document.get("openapi", OPENAPI_VERSION),
        "info": info,
        "paths": dict(sorted(paths.items())),
    }
    if "components" in document:
        result["components"] = document["components"]
    return result


def _new_operations(
    document: dict[str, Any], table: RouteTable, new_app: object | None
) -> list[tuple[str, dict[str, Any]]]:
    samples = _new_samples(new_app)
    kept = []
    for path, item in (document.get("paths") or {}).items():
        operations: dict[str, Any] = {}
        for method, operation in item.items():
            if method not in _METHODS:
                operations[method] = operation  # shared `parameters`, `summary`...
                continue
            sample = samples.get(path, path)
            placement = place(table, sample, method.upper())
            if not _new_answers(placement):
                continue
            operations[method] = {
                **operation,
                "x-gateway-side": "new",
                "x-gateway-target": placement.target,
            }
        if any(method in operations for method in _METHODS):
            kept.append((path, operations))
    return kept


def _new_samples(new_app: object | None) -> dict[str, str]:
    routes = starlette_routes(new_app) if new_app is not None else None
    if routes is None:
        return {}
    return {openapi_path(e.template): e.sample for e in starlette_endpoints(routes)}


def _new_answers(placement: Placement) -> bool:
    target = placement.target
    return target == "new" or target.startswith("canary") or target == "shadow (new answers)"


def _add_legacy(paths: dict[str, dict[str, Any]], endpoint: Endpoint, placement: Placement) -> None:
    if placement.served_by_new or _NOT_A_PATH.search(endpoint.path):
        return
    method = "get" if endpoint.method == ANY_METHOD else endpoint.method.lower()
    if method not in _METHODS:
        return
    item = paths.setdefault(openapi_path(endpoint.path), {})
    if method in item:
        return  # the new app's operation, for a canary both sides answer
    item[method] = _legacy_operation(endpoint, placement)


def _unique_operation_ids(paths: dict[str, dict[str, Any]]) -> None:
    """One view on several rules (`/` and `/index`) would repeat its operationId, which OpenAPI
    forbids and client generators answer by dropping operations: later ones get the path too."""
    seen: set[str] = set()
    for path, item in paths.items():
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            wanted = operation["operationId"]
            if wanted in seen:
                base = f"{wanted}_{re.sub(r'[^0-9A-Za-z]+', '_', path).strip('_') or 'root'}"
                wanted, number = base, 2
                while wanted in seen:
                    wanted, number = f"{base}_{number}", number + 1
                operation["operationId"] = wanted
            seen.add(wanted)


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    """What the inventory knows the endpoint answers: the statuses its view, its decorators
    (an auth decorator's 401) and the exceptions its error handlers turn into answers give,
    and those written in the responses it returns."""
    responses: dict[str, Any] = {
        "default": {"description": "Answered by the legacy application (not described)."}
    }
    statuses: set[int] = set()
    if endpoint.facts is not None:
        statuses |= endpoint.facts.aborts | endpoint.facts.returns
    for hook in endpoint.hooks:  # the app's own `before_request` that aborts with a 401
        if hook.kind in _BEFORE and hook.analysed.own and hook.analysed.facts is not None:
            statuses |= hook.analysed.facts.aborts
    for status in sorted(statuses):
        responses[str(status)] = {"description": _phrase(status)}
    return responses


def _legacy_operation(endpoint: Endpoint, placement: Placement) -> dict[str, Any]:
    docstring = endpoint.docstring or ""
    summary = docstring.strip().splitlines()[0] if docstring.strip() else endpoint.name
    responses = _responses(endpoint)
    operation: dict[str, Any] = {
        "operationId": "legacy_" + re.sub(r"\W", "_", f"{endpoint.name}_{endpoint.method}"),
        "summary": summary,
        "tags": [endpoint.blueprint or "legacy"],
        "parameters": _parameters(endpoint),
        "responses": responses,
        "x-gateway-side": "legacy",
        "x-gateway-target": placement.target,
    }
    if endpoint.request_body is not None:
        operation["requestBody"] = endpoint.request_body
    if docstring:
        operation["description"] = docstring
    if endpoint.method == ANY_METHOD:
        operation["x-gateway-methods"] = "any: the legacy view decides"
    return operation


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    typed = {parameter.name: parameter for parameter in endpoint.parameters}
    described = []
    for name in re.findall(r"\{(\w+)(?::\w+)?\}", endpoint.path):
        parameter = typed.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "in": "path",
            "required": True,
            "schema": parameter.schema() if parameter else {"type": "string"},
        }
        if parameter is not None and parameter.description:
            entry["description"] = parameter.description
        described.append(entry)
    return described


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"
