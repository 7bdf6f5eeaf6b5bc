"""A Flask app's views and the hooks that apply to each, read from the app object itself.

Flask registers hooks per scope: `None` for the app, a blueprint's dotted name otherwise
(`api.tickets` is the `tickets` blueprint nested in `api`). A request to an endpoint of
blueprint `api.tickets` runs the app's hooks and those of `api` and `api.tickets`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.guide.package_index import FunctionRef

HookKind = str  # "before_request", "after_request", "teardown_request", ...

# Flask's attribute holding each kind of hook: {scope: [functions]}.
_SCOPED_HOOKS: dict[HookKind, str] = {
    "url_value_preprocessor": "url_value_preprocessors",
    "before_request": "before_request_funcs",
    "after_request": "after_request_funcs",
    "teardown_request": "teardown_request_funcs",
    "url_defaults": "url_default_functions",  # run by url_for() while the view builds URLs
}


@dataclass(frozen=True, slots=True)
class Hook:
    kind: HookKind  # one of the above, "teardown_appcontext" or "errorhandler"
    scope: str  # "app" or "blueprint <name>"
    function: Callable[..., Any]
    handles: str | None = None  # for an error handler: the status or exception class
    exception: type | None = None  # for an error handler of an exception class: the class


def scopes(blueprint: str | None) -> list[str | None]:
    """The hook scopes that apply to an endpoint of `blueprint`, outermost first."""
    found: list[str | None] = [None]
    if blueprint:
        parts = blueprint.split(".")
        found += [".".join(parts[: index + 1]) for index in range(len(parts))]
    return found


def hooks_for(app: Any, blueprint: str | None) -> list[Hook]:
    hooks: list[Hook] = []
    applicable = scopes(blueprint)
    for kind, attribute in _SCOPED_HOOKS.items():
        registered = getattr(app, attribute, {})
        for scope in applicable:
            hooks += [Hook(kind, _scope_name(scope), f) for f in registered.get(scope, ())]
    hooks += [
        Hook("teardown_appcontext", "app", f) for f in getattr(app, "teardown_appcontext_funcs", ())
    ]
    hooks += list(_error_handlers(app, applicable))
    return hooks


def context_processors(app: Any, blueprint: str | None) -> list[Hook]:
    """The template context processors a view that renders a template runs (Flask's own,
    which only adds `g`, `request` and `session` to the context, left out)."""
    registered = getattr(app, "template_context_processors", {})
    return [
        Hook("context_processor", _scope_name(scope), function)
        for scope in scopes(blueprint)
        for function in registered.get(scope, ())
        if not getattr(function, "__module__", "").startswith("flask.")
    ]


def _error_handlers(app: Any, applicable: list[str | None]) -> Iterator[Hook]:
    spec = getattr(app, "error_handler_spec", {})
    for scope in applicable:
        for code, handlers in spec.get(scope, {}).items():
            for exception, handler in handlers.items():
                handles = str(code) if code is not None else exception.__name__
                yield Hook("errorhandler", _scope_name(scope), handler, handles, exception)


def _scope_name(scope: str | None) -> str:
    return "app" if scope is None else f"blueprint {scope}"


def view_function(view: Callable[..., Any], method: str) -> Callable[..., Any]:
    """The function that answers `method`: a class-based view's method, or the view itself."""
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, method.lower(), None) if view_class is not None else None
    if handler is None and method == "HEAD" and view_class is not None:
        handler = getattr(view_class, "get", None)
    if handler is None and view_class is not None:
        handler = getattr(view_class, "dispatch_request", None)
    chosen: Callable[..., Any] = handler if callable(handler) else view
    unwrapped: Callable[..., Any] = inspect.unwrap(chosen)
    return unwrapped


def function_ref(function: Callable[..., Any]) -> FunctionRef | None:
    function = inspect.unwrap(function)
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    return FunctionRef(module, qualname)


def location(function: Callable[..., Any]) -> tuple[Path, int] | None:
    """The file and line of the `def` (decorators above it not counted)."""
    function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    try:
        source = inspect.getsourcefile(function)
        lines, first = inspect.getsourcelines(function)
    except (TypeError, OSError):
        return None
    if source is None or code is None:
        return None
    offset = next(
        (index for index, line in enumerate(lines) if line.lstrip().startswith(("def ", "async "))),
        0,
    )
    return Path(source), first + offset
