"""What the Jinja templates a view renders read from request-local state, with Jinja's own parser.

A template reads `g.locale`, `session["cart"]`, `current_user` (Flask-Login's context
processor), calls `get_flashed_messages()` or `csrf_token()`: each is a dependency of every
endpoint that renders it. Templates it extends, includes or imports by a literal name are read
too (`jinja2.meta.find_referenced_templates`). A template that cannot be loaded or parsed is
reported by name, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.guide.flask_analysis import Facts

# Names Flask and its extensions put in every template's context: (extension, name used).
_CONTEXT_NAMES: dict[str, tuple[str, str]] = {
    "current_user": ("flask_login", "current_user"),
    "get_flashed_messages": ("flask", "get_flashed_messages"),
    "csrf_token": ("flask_wtf", "csrf_token"),
}
# Flask-Babel installs gettext in the environment: `_()` and friends in a template.
_GETTEXT = frozenset({"_", "gettext", "ngettext", "pgettext", "npgettext"})


class TemplateReader:
    """Reads templates of one Flask app; each template is parsed once."""

    def __init__(self, app: Any) -> None:
        self.env = getattr(app, "jinja_env", None)
        self.babel = "babel" in getattr(app, "extensions", {})
        self._read: dict[str, Facts] = {}

    def facts(self, names: set[str]) -> Facts:
        total = Facts()
        for name in sorted(names):
            for found in self._closure(name):
                total.add(found)
        return total

    def _closure(self, name: str) -> Iterator[Facts]:
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            facts, referenced = self._one(current)
            yield facts
            pending += referenced

    def _one(self, name: str) -> tuple[Facts, list[str]]:
        facts = Facts()
        if self.env is None:
            return facts, []
        try:
            source, _, _ = self.env.loader.get_source(self.env, name)
            tree = self.env.parse(source)
        except Exception as exc:  # any loader or syntax error: the template is not read
            facts.unresolved.add(f"template {name}: not read ({type(exc).__name__})")
            return facts, []
        from jinja2 import meta

        referenced = [found for found in meta.find_referenced_templates(tree) if found]
        self._read_tree(tree, facts)
        return facts, referenced

    def _read_tree(self, tree: Any, facts: Facts) -> None:
        from jinja2 import nodes

        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Call)):
            if isinstance(node, nodes.Getattr) and _named(node.node, "g"):
                facts.g_reads.add(node.attr)
            elif isinstance(node, nodes.Getattr) and _named(node.node, "session"):
                if node.attr not in ("get", "pop", "keys", "items"):
                    facts.session_reads.add(node.attr)  # Jinja's `session.cart` is a lookup
            elif isinstance(node, nodes.Getitem) and _named(node.node, "session"):
                _session_key(node.arg, facts)
            elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
                if _named(node.node.node, "session") and node.args:
                    _session_key(node.args[0], facts)
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                self._context_name(node.name, facts)

    def _context_name(self, name: str, facts: Facts) -> None:
        if name in _CONTEXT_NAMES:
            extension, used = _CONTEXT_NAMES[name]
            facts.use(extension, used)
        elif name in _GETTEXT and self.babel:
            facts.use("flask_babel", name)


def _named(node: Any, name: str) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Name) and node.name == name


def _session_key(node: Any, facts: Facts) -> None:
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        facts.session_reads.add(node.value)
    else:
        facts.unresolved.add("template: session key computed at run time")
