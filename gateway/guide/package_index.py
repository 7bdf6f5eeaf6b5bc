"""The modules of one Python package, parsed with `ast` and never imported: what each defines,
imports and names as constants, and what a dotted name in it refers to.

Used by gateway.guide.flask_analysis to follow calls from a Flask view into the application's
own code. Only the package's files are read; anything outside it (Flask, SQLAlchemy, the
standard library) is a boundary the analysis does not cross.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("gateway")

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

# Where Flask's context locals and `abort` come from, whichever public module a codebase uses.
FLASK_MODULES = frozenset({"flask", "flask.globals", "flask.helpers", "werkzeug.exceptions"})
PROXIES = frozenset({"g", "request", "session", "current_app"})
BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True, slots=True)
class FunctionRef:
    module: str
    qualname: str

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


@dataclass(frozen=True, slots=True)
class Symbol:
    """What a name refers to: a package function or class, a module, a Flask context local
    (`proxy`), Flask's `abort`, an HTTP exception class (`status`), or a constant."""

    kind: str  # "function", "class", "module", "proxy", "abort", "status", "constant",
    # "instance" (of the class in `value`), "localproxy" (of the function in `value`), "outside"
    module: str = ""
    name: str = ""
    value: object = None

    @property
    def ref(self) -> FunctionRef:
        return FunctionRef(self.module, self.name)


@dataclass(slots=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    functions: dict[str, FunctionNode] = field(default_factory=dict)  # by qualname
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # (module, attr)
    constants: dict[str, object] = field(default_factory=dict)
    # Module-level `name = Something(...)`: the callee, to resolve `auth.login_required` of an
    # `auth = HTTPBasicAuth()`; and every module-level value, for statuses held in constants.
    instances: dict[str, ast.expr] = field(default_factory=dict)
    values: dict[str, ast.expr] = field(default_factory=dict)
    # Module-level `current_user = LocalProxy(lambda: _get_user())` (a vendored Flask-Login):
    # the callable behind the proxy, which runs wherever the name is used.
    proxied: dict[str, ast.expr] = field(default_factory=dict)


class PackageIndex:
    """Lazily parsed modules of `package` (a top-level package name)."""

    def __init__(self, package: str) -> None:
        self.package = package
        self._modules: dict[str, Module | None] = {}
        try:
            spec = importlib.util.find_spec(package)
        except Exception:  # finding it may run its code (a parent package's `__init__`)
            spec = None
        origin = spec.origin if spec is not None else None
        self._origin = Path(origin) if origin else None
        self.root = Path(origin).parent.parent if origin else Path(".")
        self._methods: dict[str, list[FunctionRef]] = {}  # of classes in modules read
        self._expanded: set[str] = set()  # modules whose imports were read too

    def owns(self, module: str) -> bool:
        return module == self.package or module.startswith(self.package + ".")

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def module(self, name: str) -> Module | None:
        if name not in self._modules:
            self._modules[name] = self._load(name) if self.owns(name) else None
        return self._modules[name]

    def _path(self, name: str) -> Path | None:
        """The module's file, found on disk: `importlib.util.find_spec` would import its
        parent packages, running their code (which may fail, or do anything)."""
        origin = self._origin
        if origin is None or origin.suffix != ".py":
            return None
        if name == self.package:
            return origin
        if origin.name != "__init__.py":
            return None  # a single-module app has no submodules
        base = origin.parent.joinpath(*name.split(".")[1:])
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def _load(self, name: str) -> Module | None:
        path = self._path(name)
        if path is None:
            return None
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            module = Module(name, path, tree, is_package=path.name == "__init__.py")
            _Indexer(module).visit(tree)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            # Python may import what `ast` cannot walk (a 500-term expression overflows the
            # visitor's recursion): the module is not followed, and the reader is told once.
            logger.warning("the guide does not follow %s (%s)", path, type(exc).__name__)
            return None  # not followed: calls into it add nothing
        for qualname in module.functions:
            owner, _, method = qualname.rpartition(".")
            if owner in module.classes:
                self._methods.setdefault(method, []).append(FunctionRef(name, qualname))
        return module

    def function(self, ref: FunctionRef) -> tuple[Module, FunctionNode] | None:
        module = self.module(ref.module)
        if module is None or ref.qualname not in module.functions:
            return None
        return module, module.functions[ref.qualname]

    def resolve(self, module: Module, name: str, depth: int = 0) -> Symbol | None:
        """What a module-level name of `module` is (following re-exports in the package)."""
        if name in module.functions:
            return Symbol("function", module.name, name)
        if name in module.classes:
            return Symbol("class", module.name, name)
        if name in module.imports:
            source, attr = module.imports[name]
            if attr is None:
                return self._module_symbol(source)
            return self.member(source, attr, depth + 1)
        if name in module.constants:
            return Symbol("constant", module.name, name, module.constants[name])
        if name in module.proxied and depth <= 8:
            target = module.proxied[name]
            target = target.body if isinstance(target, ast.Lambda) else target
            target = target.func if isinstance(target, ast.Call) else target
            behind = self._expression(module, target, depth + 1)
            if behind is not None and behind.kind == "function":
                return Symbol("localproxy", module.name, name, behind)
        if name in module.instances and depth <= 8:
            made = self._expression(module, module.instances[name], depth + 1)
            if made is not None and made.kind in ("class", "outside"):
                return Symbol("instance", module.name, name, made)
        return None

    def _expression(self, module: Module, node: ast.expr, depth: int) -> Symbol | None:
        """What a dotted name (`HTTPBasicAuth`, `flask_httpauth.HTTPBasicAuth`) refers to."""
        if isinstance(node, ast.Name):
            return self.resolve(module, node.id, depth)
        if isinstance(node, ast.Attribute):
            owner = self._expression(module, node.value, depth + 1)
            if owner is not None and owner.kind == "module":
                return self.member(owner.module, node.attr, depth + 1)
            if owner is not None and owner.kind == "outside":
                return Symbol("outside", owner.module, node.attr)
        return None

    def member(self, source: str, attr: str, depth: int = 0) -> Symbol | None:
        """`source.attr`, where `source` is a module name."""
        if source in FLASK_MODULES:
            if attr in PROXIES:
                return Symbol("proxy", source, attr)
            if attr == "abort":
                return Symbol("abort", source, attr)
            status = _http_status(source, attr)
            if status is not None:
                return Symbol("status", source, attr, status)
            return Symbol("outside", source, attr)
        if not self.owns(source) or depth > 8:
            return Symbol("outside", source, attr)
        submodule = f"{source}.{attr}"
        if self.module(submodule) is not None:
            return Symbol("module", submodule)
        module = self.module(source)
        if module is None:
            return Symbol("outside", source, attr)
        return self.resolve(module, attr, depth + 1)

    def _module_symbol(self, name: str) -> Symbol:
        if self.owns(name) or name in FLASK_MODULES:
            return Symbol("module", name)
        return Symbol("outside", name, "")

    def methods_named(self, name: str) -> list[FunctionRef]:
        """Methods called `name` of the classes the analysis can reach (for calls on objects
        of unknown type): those of every module read so far and of the package modules they
        import, transitively. Not the whole package: a big one would be read for nothing."""
        self._read_imported()
        return self._methods.get(name, [])

    def _read_imported(self) -> None:
        pending = [m for m in self._modules.values() if m is not None]
        while pending:
            module = pending.pop()
            if module.name in self._expanded:
                continue
            self._expanded.add(module.name)
            for source, attr in module.imports.values():
                for candidate in (source, f"{source}.{attr}" if attr else ""):
                    if self.owns(candidate) and candidate not in self._modules:
                        found = self.module(candidate)
                        if found is not None:
                            pending.append(found)


class _Indexer(ast.NodeVisitor):
    """Fills a Module: definitions by qualname (as Python spells `__qualname__`), every import
    (at any depth: Flask apps import inside factories), module-level constants."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.scope: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def _function(self, node: FunctionNode) -> None:
        qualname = ".".join([*self.scope, node.name])
        self.module.functions[qualname] = node
        self.scope += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.scope[-2:]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.module.classes[".".join([*self.scope, node.name])] = node
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.module.imports[alias.asname] = (alias.name, None)
            else:
                top = alias.name.partition(".")[0]
                self.module.imports[top] = (top, None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _absolute(self.module, node.module, node.level)
        for alias in node.names:
            if alias.name != "*":
                self.module.imports[alias.asname or alias.name] = (source, alias.name)

    def visit_Assign(self, node: ast.Assign) -> None:
        if not self.scope:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.module.values[target.id] = node.value
                    if isinstance(node.value, ast.Constant):
                        self.module.constants[target.id] = node.value.value
                    elif isinstance(node.value, ast.Call):
                        self.module.instances[target.id] = node.value.func
                        if _is_local_proxy(node.value):
                            self.module.proxied[target.id] = node.value.args[0]
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if (
            not self.scope
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant)
        ):
            self.module.constants[node.target.id] = node.value.value
        self.generic_visit(node)


def _absolute(module: Module, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _http_status(source: str, attr: str) -> int | None:
    """The status of an HTTP exception class Werkzeug defines (`NotFound` -> 404)."""
    if source not in ("werkzeug.exceptions", "flask"):
        return None
    import werkzeug.exceptions

    found = getattr(werkzeug.exceptions, attr, None)
    code = getattr(found, "code", None)
    if isinstance(found, type) and isinstance(code, int):
        return code
    return None


def _is_local_proxy(call: ast.Call) -> bool:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name == "LocalProxy" and bool(call.args)
