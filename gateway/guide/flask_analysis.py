"""What a Flask view depends on, read from the code with `ast`: request-local state and aborts.

For a function, and transitively every function it calls within the application's package
(following imports there): the `flask.g` attributes read and written, the `request` attributes
used, the `session` keys read and written, the `current_app` attributes used, and the statuses
it can `abort()` with (or raise as Werkzeug HTTP exceptions). Where the code cannot be followed
statically (a call of a parameter or of a computed value, `g` read by a computed name), the
place is reported instead of guessed.

Conventions, so the figures mean the same everywhere:
- A function that writes a `g` attribute and reads it too (lazy initialisation, like
  `get_db()` keeping a session on `g.db_session`) depends on nobody else to set it: the
  attribute counts as written, not read.
- A function passed as a value (`paginate(..., ticket_to_dict)`) counts as called.
- A method called on an object of unknown type (`ticket.close()`) is followed into every
  package class method of that name, unless the name is also a method of a built-in type
  (`get`, `items`, `add`...), which it far more likely is.
- Nested functions and lambdas are analysed as part of the function that defines them.
"""

from __future__ import annotations

import ast
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gateway.guide.extensions import NOT_FOUND_METHODS, Effect, effect, extension_name
from gateway.guide.package_index import (
    BUILTINS,
    FLASK_MODULES,
    FunctionNode,
    FunctionRef,
    Module,
    PackageIndex,
    Symbol,
)

logger = logging.getLogger("gateway")

# Methods of built-in types: a call `x.get(...)` on an unknown `x` is not followed by name.
_BUILTIN_METHODS = frozenset(
    name for kind in (dict, list, set, str, bytes, int, tuple, object) for name in dir(kind)
)
_SESSION_WRITES = frozenset({"pop", "setdefault", "update", "clear", "popitem"})
CLEARED = "*"  # session.clear(): every key written
_STATUS_NAMES = frozenset({"status_code", "code", "status", "http_status"})
_NOT_FOUND = NOT_FOUND_METHODS - {"paginate"}  # on an object of unknown type: these only
_RENDERERS = frozenset({"render_template", "stream_template"})


@dataclass(slots=True)
class Facts:
    g_reads: set[str] = field(default_factory=set)
    g_writes: set[str] = field(default_factory=set)
    request: set[str] = field(default_factory=set)
    session_reads: set[str] = field(default_factory=set)
    session_writes: set[str] = field(default_factory=set)
    current_app: set[str] = field(default_factory=set)
    aborts: set[int] = field(default_factory=set)
    # Statuses written in a returned response: `return body, 404`, `Response(status=401)`.
    returns: set[int] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)
    # Extension (top-level module) -> the names used from it.
    extensions: dict[str, set[str]] = field(default_factory=dict)
    templates: set[str] = field(default_factory=set)  # rendered by a literal name
    # Package exception classes raised ("module:Class") -> the statuses they were seen with.
    raises: dict[str, set[int]] = field(default_factory=dict)

    def add(self, other: Facts) -> None:
        for name in self.__slots__:
            mine = getattr(self, name)
            if isinstance(mine, dict):
                for key, values in getattr(other, name).items():
                    mine.setdefault(key, set()).update(values)
            else:
                mine.update(getattr(other, name))

    def use(self, extension: str, name: str) -> None:
        """`name` used from `extension`, with its known effect on the request's state."""
        if extension != "flask":
            self.extensions.setdefault(extension, set()).add(name)
        found = effect(extension, name)
        if found is not None:
            self.apply(found)

    def apply(self, found: Effect) -> None:
        self.session_reads.update(found.session_reads)
        self.session_writes.update(found.session_writes)
        self.aborts.update(found.aborts)
        self.request.update(found.request)

    def as_dict(self) -> dict[str, Any]:
        return {
            "g_reads": sorted(self.g_reads),
            "g_writes": sorted(self.g_writes),
            "request": sorted(self.request),
            "session": {"reads": sorted(self.session_reads), "writes": sorted(self.session_writes)},
            "current_app": sorted(self.current_app),
            "aborts": sorted(self.aborts),
            "returns": sorted(self.returns),
            "unresolved": sorted(self.unresolved),
            "extensions": {name: sorted(used) for name, used in sorted(self.extensions.items())},
            "templates": sorted(self.templates),
        }


@dataclass(slots=True)
class _Own:
    facts: Facts
    calls: set[FunctionRef]


class Analyzer:
    """Facts of functions of one package; each function is read once."""

    def __init__(self, index: PackageIndex) -> None:
        self.index = index
        self._own: dict[FunctionRef, _Own] = {}
        self._closure: dict[FunctionRef, Facts] = {}

    def facts(self, ref: FunctionRef) -> Facts:
        """The function's facts and those of everything it calls in the package."""
        if ref not in self._closure:
            total = Facts()
            seen = {ref}
            queue = deque([ref])
            while queue:
                own = self._own_facts(queue.popleft())
                total.add(own.facts)
                for callee in own.calls - seen:
                    seen.add(callee)
                    queue.append(callee)
            self._closure[ref] = total
        return self._closure[ref]

    def _own_facts(self, ref: FunctionRef) -> _Own:
        if ref not in self._own:
            found = self.index.function(ref)
            if found is None:
                self._own[ref] = _Own(Facts(), set())
            else:
                module, node = found
                reader = _FunctionReader(self.index, module, node, ref)
                try:
                    reader.read()
                except RecursionError:
                    # Deeper than the visitor can walk (Python compiled it): not followed.
                    logger.warning("the guide does not follow %s (RecursionError)", module.path)
                    self._own[ref] = _Own(Facts(), set())
                else:
                    self._own[ref] = _Own(reader.facts, reader.calls)
        return self._own[ref]


class _FunctionReader(ast.NodeVisitor):
    def __init__(
        self, index: PackageIndex, module: Module, node: FunctionNode, ref: FunctionRef
    ) -> None:
        self.index = index
        self.module = module
        self.node = node
        self.ref = ref
        self.facts = Facts()
        self.calls: set[FunctionRef] = set()
        self.locals = _local_names(node)
        self.nested = {
            child.name
            for child in ast.walk(node)
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child is not node
        }
        self._handled: set[int] = set()  # ids of nodes already accounted for by a parent

    def read(self) -> None:
        for decorator in self.node.decorator_list:
            self._reference(decorator)
        for statement in self.node.body:
            self.visit(statement)
        # Read after written by the same function: it provides the attribute itself.
        self.facts.g_reads -= self.facts.g_writes

    def _where(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", self.node.lineno)
        return f"{self.index.relative(self.module.path)}:{line}"

    # --- names -------------------------------------------------------------------------------

    def symbol(self, node: ast.expr) -> Symbol | None:
        if isinstance(node, ast.Name):
            if node.id in self.locals or node.id in self.nested:
                return None
            return self.index.resolve(self.module, node.id)
        if isinstance(node, ast.Attribute):
            owner = self.symbol(node.value)
            if owner is None:
                return None
            if owner.kind == "module":
                return self.index.member(owner.module, node.attr)
            if owner.kind == "outside" and not owner.name:  # `import flask_login`
                return Symbol("outside", owner.module, node.attr)
            if owner.kind == "instance" and isinstance(owner.value, Symbol):
                return self._instance_member(owner.value, node.attr)
        return None

    def _instance_member(self, made_by: Symbol, attr: str) -> Symbol | None:
        """`auth.login_required` of a module-level `auth = HTTPBasicAuth()`."""
        if made_by.kind == "outside":
            return Symbol("outside", made_by.module, attr)
        method = FunctionRef(made_by.module, f"{made_by.name}.{attr}")
        if self.index.function(method) is not None:
            return Symbol("function", method.module, method.qualname)
        return None

    def _is_proxy(self, node: ast.expr, name: str) -> bool:
        found = self.symbol(node)
        return found is not None and found.kind == "proxy" and found.name == name

    def _key(self, node: ast.expr | None) -> str | None:
        """A literal key, or a module constant's value; None when computed."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name | ast.Attribute):
            found = self.symbol(node)
            if found is not None and found.kind == "constant" and isinstance(found.value, str):
                return found.value
        return None

    # --- visiting ----------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) not in self._handled:
            if self._is_proxy(node.value, "g"):
                if isinstance(node.ctx, ast.Load):
                    self.facts.g_reads.add(node.attr)
                else:
                    self.facts.g_writes.add(node.attr)
            elif self._is_proxy(node.value, "request"):
                self.facts.request.add(node.attr)
            elif self._is_proxy(node.value, "current_app"):
                self.facts.current_app.add(node.attr)
            elif self._is_proxy(node.value, "session"):
                if node.attr not in ("get", "pop", "setdefault", "clear", "update", "keys"):
                    self.facts.unresolved.add(f"{self._where(node)}: session.{node.attr}")
            elif isinstance(node.ctx, ast.Load):
                self._reference(node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and id(node) not in self._handled:
            self._reference(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._is_proxy(node.value, "session"):
            kind = self.facts.session_reads
            if not isinstance(node.ctx, ast.Load):
                kind = self.facts.session_writes
            self._put(kind, node.slice, node, "session key")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        # `"db_session" in g`, `"user_id" in session`: presence tests are reads.
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            container = node.comparators[0]
            if self._is_proxy(container, "g"):
                self._put(self.facts.g_reads, node.left, node, "g name")
            elif self._is_proxy(container, "session"):
                self._put(self.facts.session_reads, node.left, node, "session key")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if exc is not None:
            found = self.symbol(exc)
            if found is not None and found.kind == "status" and isinstance(found.value, int):
                self.facts.aborts.add(found.value)
            else:
                self._raised(node.exc, exc)
        self.generic_visit(node)

    def _raised(self, raised: ast.expr | None, exc: ast.expr) -> None:
        """A package exception class raised, directly or from a classmethod factory
        (`raise InvalidUsage.not_found()`), with the statuses it carries. Whether one becomes
        a response is known from the app's error handlers (gateway.guide.inventory)."""
        factory = None
        if isinstance(exc, ast.Attribute):
            factory, exc = exc.attr, exc.value
        found = self.symbol(exc)
        if found is None or found.kind != "class":
            return
        statuses = self._statuses(raised, self.module, 0) if raised is not None else set()
        if factory is not None:
            method = self.index.function(FunctionRef(found.module, f"{found.name}.{factory}"))
            if method is not None:
                statuses |= self._statuses(method[1], method[0], 0)
        if not statuses:
            statuses = self._class_statuses(found)
        self.facts.raises.setdefault(str(found.ref), set()).update(statuses)

    def _statuses(self, node: ast.AST, module: Module, depth: int) -> set[int]:
        """Statuses written in an expression: `status_code=404`, `{"code": 422}`, a literal
        4xx/5xx argument, or one of those in a module-level value the expression names."""
        found: set[int] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.keyword) and child.arg in _STATUS_NAMES:
                found |= _status(child.value)
            elif isinstance(child, ast.Dict):
                for key, value in zip(child.keys, child.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value in _STATUS_NAMES:
                        found |= _status(value)
            elif isinstance(child, ast.Call):
                for argument in child.args:
                    found |= {s for s in _status(argument) if s >= 400}
            elif isinstance(child, ast.Name) and depth < 3 and child.id in module.values:
                found |= self._statuses(module.values[child.id], module, depth + 1)
        return found

    def _class_statuses(self, found: Symbol) -> set[int]:
        """The class's own default (`status_code = 400` in its body)."""
        module = self.index.module(found.module)
        node = module.classes.get(found.name) if module is not None else None
        statuses: set[int] = set()
        for statement in node.body if node is not None else ():
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name) and target.id in _STATUS_NAMES:
                        statuses |= _status(statement.value)
        return statuses

    def visit_Return(self, node: ast.Return) -> None:
        value = node.value
        if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
            self.facts.returns |= _status(value.elts[1])
        for child in ast.walk(value) if value is not None else ():
            if isinstance(child, ast.Call):
                for keyword in child.keywords:
                    if keyword.arg in ("status", "status_code"):
                        self.facts.returns |= _status(keyword.value)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and self._proxy_method(node, func):
            self._handled.add(id(func))
        elif isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "hasattr", "delattr"):
            self._attr_builtin(node, func.id)
        else:
            self._call(node)
        self.generic_visit(node)

    # --- calls -------------------------------------------------------------------------------

    def _proxy_method(self, node: ast.Call, func: ast.Attribute) -> bool:
        """`g.get("x")`, `session.pop("k")`...: handled here, as reads or writes of a key."""
        first = node.args[0] if node.args else None
        if self._is_proxy(func.value, "g") and func.attr in ("get", "pop", "setdefault"):
            self._put(self.facts.g_reads, first, node, "g name")
            if func.attr != "get":
                self._put(self.facts.g_writes, first, node, "g name")
            return True
        if self._is_proxy(func.value, "session") and func.attr in ("get", *_SESSION_WRITES):
            if func.attr == "clear":
                self.facts.session_writes.add(CLEARED)
            elif func.attr == "update":
                self._put(self.facts.session_writes, None, node, "session keys")
            else:
                self._put(self.facts.session_reads, first, node, "session key")
                if func.attr in _SESSION_WRITES:
                    self._put(self.facts.session_writes, first, node, "session key")
            return True
        return False

    def _attr_builtin(self, node: ast.Call, builtin: str) -> None:
        if not node.args or not self._is_proxy(node.args[0], "g"):
            return
        self._handled.add(id(node.args[0]))
        kind = self.facts.g_reads if builtin in ("getattr", "hasattr") else self.facts.g_writes
        self._put(kind, node.args[1] if len(node.args) > 1 else None, node, "g name")

    def _call(self, node: ast.Call) -> None:
        func = node.func
        found = self.symbol(func)
        if found is not None:
            self._handled.add(id(func))
            if found.kind == "abort":
                self._abort(node)
            elif found.kind == "outside" and found.name in _RENDERERS:
                self._rendered(node)
            else:
                self._target(found)
            return
        if isinstance(func, ast.Name):
            self._handled.add(id(func))
            if func.id in self.nested or (func.id not in self.locals and func.id in BUILTINS):
                return  # analysed as part of this function, or Python's own
            if func.id == "cls" and self._is_classmethod():
                self._target(Symbol("class", self.module.name, self._owner_class()))
                return  # a classmethod factory: `cls(...)` builds the class it is defined on
            if func.id in self.locals:
                self.facts.unresolved.add(f"{self._where(node)}: calls {func.id}(), a value")
            return
        if isinstance(func, ast.Attribute):
            self._method(node, func)
            return
        self.facts.unresolved.add(f"{self._where(node)}: calls a computed callable")

    def _method(self, node: ast.Call, func: ast.Attribute) -> None:
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            cls_name = self.ref.qualname.rpartition(".")[0]
            method = FunctionRef(self.module.name, f"{cls_name}.{func.attr}")
            if self.index.function(method) is not None:
                self.calls.add(method)
                return
        if func.attr in _NOT_FOUND:
            self.facts.aborts.add(404)  # Flask-SQLAlchemy's query.get_or_404(...), db.first_or_404
            return
        if func.attr in _BUILTIN_METHODS:
            return
        self.calls.update(self.index.methods_named(func.attr))

    def _is_classmethod(self) -> bool:
        return any(
            isinstance(decorator, ast.Name) and decorator.id == "classmethod"
            for decorator in self.node.decorator_list
        )

    def _owner_class(self) -> str:
        return self.ref.qualname.rpartition(".")[0]

    def _rendered(self, node: ast.Call) -> None:
        """`render_template("page.html", ...)`: the template, read later with the app's Jinja."""
        first = node.args[0] if node.args else None
        if isinstance(first, ast.List | ast.Tuple):  # a list of names: the first found is used
            first = first.elts[0] if first.elts else None
        name = self._key(first)
        if name is not None:
            self.facts.templates.add(name)

    def _reference(self, node: ast.expr) -> None:
        """A package function used as a value (a decorator, an argument): it may be called."""
        target = node.func if isinstance(node, ast.Call) else node
        found = self.symbol(target)
        if found is not None:
            self._target(found)

    def _target(self, found: Symbol) -> None:
        if found.kind == "outside" and found.name:
            extension = extension_name(found.module)
            if found.module in FLASK_MODULES:
                self.facts.use("flask", found.name)
            elif extension is not None:
                self.facts.use(extension, found.name)
        if found.kind == "function":
            self.calls.add(found.ref)
        elif found.kind == "localproxy" and isinstance(found.value, Symbol):
            self.calls.add(found.value.ref)  # using the proxy calls what is behind it
        elif found.kind == "class":
            for method in ("__init__", "__post_init__", "__call__"):
                ref = FunctionRef(found.module, f"{found.name}.{method}")
                if self.index.function(ref) is not None:
                    self.calls.add(ref)

    def _abort(self, node: ast.Call) -> None:
        status = node.args[0] if node.args else None
        if isinstance(status, ast.Constant) and isinstance(status.value, int):
            self.facts.aborts.add(status.value)
            return
        if isinstance(status, ast.Name | ast.Attribute):
            found = self.symbol(status)
            if found is not None and found.kind == "constant" and isinstance(found.value, int):
                self.facts.aborts.add(found.value)
                return
        self.facts.unresolved.add(f"{self._where(node)}: abort() with a computed status")

    def _put(self, into: set[str], key: ast.expr | None, node: ast.AST, what: str) -> None:
        """Record a literal key, or say where a key is computed at run time."""
        found = self._key(key)
        if found is None:
            self.facts.unresolved.add(f"{self._where(node)}: {what} computed at run time")
        else:
            into.add(found)


def _local_names(node: FunctionNode) -> set[str]:
    """Parameters and names bound inside the function: a call of one is a call of a value."""
    args = node.args
    names = {
        arg.arg
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        if arg is not None
    }
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
    return names


def _status(node: ast.expr) -> set[int]:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        if 100 <= node.value <= 599 and not isinstance(node.value, bool):
            return {node.value}
    return set()
