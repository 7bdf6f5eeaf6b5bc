"""MkDocs hooks: the reference pages, generated from the code at every build.

`reference/settings.md` walks the settings model (nested models too) and reads each setting's
environment variable from the model's own configuration; `reference/cli.md` walks the `gateway`
command tree; `reference/metrics.md` builds every metrics class of the gateway (a class named
`...Metrics` that takes a `CollectorRegistry`) on a fresh registry and describes what it
registered. The pages exist only in the built site, so they cannot fall behind the code;
tests/docs checks the built pages against the code by other means.

A page in docs/ that the `nav:` of mkdocs.yml does not list is added to a section of its own at
the end ("More"), so a new page is never left out of the site; list it in `nav:` to give it its
place.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

log = logging.getLogger("mkdocs.plugins.reference")

SETTINGS_PAGE = "reference/settings.md"
CLI_PAGE = "reference/cli.md"
METRICS_PAGE = "reference/metrics.md"
# The `nav:` section that pages missing from `nav:` are added to.
UNLISTED_SECTION = "More"


# --- settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    path: tuple[str, ...]  # field names from the settings class down, e.g. ("wsgi", "threads")
    env: tuple[str, ...]
    kind: str
    default: str
    description: str
    section: str


def settings_class() -> type[BaseModel]:
    from gateway.settings import GatewaySettings

    return GatewaySettings


def _alias_names(info: FieldInfo) -> list[str]:
    names: list[str] = []
    for alias in (info.validation_alias, info.alias):
        if isinstance(alias, str):
            names.append(alias)
        elif isinstance(alias, AliasChoices):
            names += [choice for choice in alias.choices if isinstance(choice, str)]
    return list(dict.fromkeys(names))


def _declared_env(info: FieldInfo) -> list[str]:
    """Names a field declares with `json_schema_extra={"env": ...}` (one name or a list)."""
    extra = info.json_schema_extra
    declared = extra.get("env") if isinstance(extra, dict) else None
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [name for name in declared if isinstance(name, str)]
    return []


def env_names(root: type[BaseModel], path: tuple[str, ...], info: FieldInfo) -> tuple[str, ...]:
    """The environment variables that set one field, as pydantic-settings reads them.

    A name the field declares wins; then, at the top level, its aliases (which pydantic-settings
    reads as the variable's whole name unless `env_prefix_target` says otherwise); else the
    prefix and the path, joined by `env_nested_delimiter` below the top level when the model has
    one.
    """
    config = root.model_config
    prefix = str(config.get("env_prefix") or "")
    declared = _declared_env(info)
    if declared:
        return tuple(declared)
    aliases = _alias_names(info)
    if aliases and len(path) == 1:
        prefixed = config.get("env_prefix_target") in ("alias", "all")
        return tuple(f"{prefix if prefixed else ''}{alias}".upper() for alias in aliases)
    names = [aliases[0] if aliases else path[-1]] if len(path) == 1 else list(path)
    delimiter = str(config.get("env_nested_delimiter") or "_")
    return (f"{prefix}{delimiter.join(names)}".upper(),)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (`Model` or `Model | None`), or None for a plain value."""
    candidates = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for candidate in candidates:
        if inspect.isclass(candidate) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def type_text(annotation: Any, info: FieldInfo | None = None) -> str:
    text = _plain_type(annotation)
    bounds = []
    for item in info.metadata if info is not None else []:
        for symbol, attribute in (("≥", "ge"), (">", "gt"), ("≤", "le"), ("<", "lt")):
            if getattr(item, attribute, None) is not None:
                bounds.append(f"{symbol} {getattr(item, attribute)}")
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _plain_type(annotation: Any) -> str:
    if _is_union(annotation):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        text = " or ".join(_plain_type(arg) for arg in members)
        return f"{text}, optional" if len(members) < len(typing.get_args(annotation)) else text
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in typing.get_args(annotation))
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        return f"list of {_plain_type(typing.get_args(annotation)[0])}"
    if inspect.isclass(annotation) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    names = {str: "text", int: "integer", float: "number", bool: "boolean", Path: "path"}
    if annotation in names:
        return names[annotation]
    if annotation is SecretStr:
        return "secret text"
    return getattr(annotation, "__name__", str(annotation))


def default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "(computed)"
    value = info.default
    if value is PydanticUndefined:
        return "(required)"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    if value == "":
        return "empty"
    return f"`{value}`"


def _section_title(model: type[BaseModel], path: tuple[str, ...]) -> str:
    if not path:
        return "General"
    doc = inspect.getdoc(model)
    own = doc.splitlines()[0].rstrip(".") if doc and model.__doc__ else ""
    return own or " ".join(path).replace("_", " ").capitalize()


def walk_settings(
    root: type[BaseModel], model: type[BaseModel] | None = None, path: tuple[str, ...] = ()
) -> Iterator[Setting]:
    """Every leaf setting of the model, nested models included, in declaration order."""
    model = model or root
    section = _section_title(model, path)
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        inner = _model_in(info.annotation)
        if inner is not None:
            nested.append((name, inner))
            continue
        where = (*path, name)
        yield Setting(
            path=where,
            env=env_names(root, where, info),
            kind=type_text(info.annotation, info),
            default=default_text(info),
            description=" ".join((info.description or "").split()),
            section=section,
        )
    for name, inner in nested:
        yield from walk_settings(root, inner, (*path, name))


def settings_page() -> str:
    model = settings_class()
    settings = list(walk_settings(model))
    lines = [
        "# Settings",
        "",
        f"Generated from `{model.__module__}.{model.__qualname__}` at every build of these"
        " docs. Each setting is an environment variable (or a line of a `.env` file in the"
        " working folder), read by `gateway serve`, `gateway check`, the other commands and"
        " `create_app()`. A value that does not fit is refused at start, naming the setting.",
        "",
        "| variable | type | default |",
        "| --- | --- | --- |",
    ]
    for setting in settings:
        anchor = _anchor(setting.env[0])
        lines.append(f"| [`{setting.env[0]}`](#{anchor}) | {setting.kind} | {setting.default} |")
    for section in dict.fromkeys(setting.section for setting in settings):
        lines += ["", f"## {section}"]
        for setting in (s for s in settings if s.section == section):
            if not setting.description:
                log.info("settings: %s has no description", ".".join(setting.path))
            names = ", ".join(f"`{name}`" for name in setting.env)
            lines += [
                "",
                f"### {setting.env[0]} {{ #{_anchor(setting.env[0])} }}",
                "",
                _escape(setting.description) or "(no description in the model)",
                "",
                f"- variable: {names}",
                f"- setting: `{'.'.join(setting.path)}`",
                f"- type: {setting.kind}",
                f"- default: {setting.default}",
            ]
    lines += ["", *_command_variables()]
    return "\n".join(lines) + "\n"


def _command_variables() -> list[str]:
    """Variables read by command-line options rather than by the settings model."""
    rows = [
        (envvar, " ".join(path), param)
        for path, command in walk_commands()
        for param in command.params
        for envvar in _envvars(param)
    ]
    if not rows:
        return []
    lines = [
        "## Read by command-line options",
        "",
        "These variables give an option of one command its value when the option is not on the"
        " command line ([command-line reference](cli.md)).",
        "",
        "| variable | command | option | default |",
        "| --- | --- | --- | --- |",
    ]
    for envvar, command_path, param in rows:
        options = ", ".join(f"`{opt}`" for opt in param.opts)
        default = param.default
        shown = "unset" if default is None else f"`{default}`" if default != "" else "empty"
        lines.append(f"| `{envvar}` | `{command_path}` | {options} | {shown} |")
    return lines


def _envvars(param: Any) -> list[str]:
    envvar = getattr(param, "envvar", None)
    if isinstance(envvar, str):
        return [envvar]
    return list(envvar or [])


def _anchor(name: str) -> str:
    return name.lower()


# --- the command line ----------------------------------------------------------------------


def root_command() -> Any:
    """The `gateway` command as Click (or Typer's own copy of Click) sees it."""
    import typer.main

    from gateway.cli import cli

    return typer.main.get_command(cli)


def walk_commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and subcommand with its path from `gateway`, depth first, hidden ones out."""
    root = root_command()
    yield from _walk(root, ("gateway",), root.make_context("gateway", [], resilient_parsing=True))


def _walk(
    command: Any, path: tuple[str, ...], context: Any
) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    if not hasattr(command, "list_commands"):
        return
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_context = sub.make_context(name, [], parent=context, resilient_parsing=True)
        yield from _walk(sub, (*path, name), sub_context)


def cli_page() -> str:
    lines = [
        "# Command line",
        "",
        "Generated from the `gateway` command tree (`gateway.cli`) at every build of these docs:"
        " every command and subcommand with its options, as `--help` prints them. Options"
        " that an environment variable can set say so; the settings every command reads are"
        " in the [settings reference](settings.md).",
    ]
    for path, command in walk_commands():
        context = command.make_context(path[-1], [], resilient_parsing=True)
        context.info_name = " ".join(path)
        level = "#" * min(len(path) + 1, 4)
        usage = command.get_usage(context).strip()
        lines += ["", f"{level} {' '.join(path)}", "", "```", usage, "```"]
        help_text = inspect.cleandoc(command.help or command.short_help or "")
        if help_text:
            lines += ["", _escape(help_text)]
        records = [
            record
            for param in command.params
            if (record := param.get_help_record(context)) is not None
        ]
        if records:
            lines += ["", "| option | what |", "| --- | --- |"]
            for names, what in records:
                lines.append(f"| `{names}` | {_cell(what)} |")
        subcommands = _subcommands(command, context)
        if subcommands:
            lines += ["", "| command | what |", "| --- | --- |"]
            for name, summary in subcommands:
                lines.append(f"| `{' '.join((*path, name))}` | {_cell(summary)} |")
    return "\n".join(lines) + "\n"


def _subcommands(command: Any, context: Any) -> list[tuple[str, str]]:
    if not hasattr(command, "list_commands"):
        return []
    found = []
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is not None and not getattr(sub, "hidden", False):
            found.append((name, sub.get_short_help_str(limit=200)))
    return found


def _escape(text: str) -> str:
    """Text from the code as Markdown: its line breaks kept, `code` spans too, but no `*` or `<`
    read as emphasis or HTML."""
    return "\n".join(line.replace("<", "&lt;").replace("*", "\\*") for line in text.splitlines())


def _cell(text: str) -> str:
    return " ".join(_escape(text).split()).replace("|", "\\|")


# --- metrics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDoc:
    name: str  # as exposed: a counter's with _total
    kind: str
    labels: tuple[str, ...]
    help: str
    combined: str | None  # with several workers: how a gauge's values combine


def metrics_classes() -> list[type]:
    """Every `...Metrics` class in the gateway package that takes a `CollectorRegistry`."""
    import gateway

    found: list[type] = []
    for module_info in pkgutil.walk_packages(gateway.__path__, "gateway."):
        spec = importlib.util.find_spec(module_info.name)
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(".py"):
            continue
        if "CollectorRegistry" not in Path(origin).read_text(encoding="utf-8"):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls.__name__.endswith("Metrics"):
                if "registry" in inspect.signature(cls.__init__).parameters:
                    found.append(cls)
    return found


def describe_metrics(cls: type) -> list[MetricDoc]:
    """What one metrics class registers, as the registry reports it, in registration order.

    The registry gives every family with its type and help; label names and a gauge's
    multiprocess mode come from the metric objects the instance holds (at any depth)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    held = {next(iter(metric.describe())).name: metric for metric in _held(cls(registry), 3)}
    docs = []
    for family in registry.collect():
        metric = held.get(family.name)
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        docs.append(
            MetricDoc(
                name=family.name + suffix,
                kind=family.type,
                labels=tuple(getattr(metric, "_labelnames", ())),
                help=family.documentation,
                combined=getattr(metric, "_multiprocess_mode", None)
                if family.type == "gauge"
                else None,
            )
        )
    return docs


def _held(value: Any, depth: int) -> Iterator[Any]:
    """The prometheus_client metrics an object holds: as attributes, in collections, or in
    objects of the gateway's own that it holds."""
    from prometheus_client.metrics import MetricWrapperBase

    if isinstance(value, MetricWrapperBase):
        yield value
    elif depth == 0:
        return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _held(item, depth - 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _held(item, depth - 1)
    elif type(value).__module__.startswith("gateway") and hasattr(value, "__dict__"):
        for item in vars(value).values():
            yield from _held(item, depth - 1)


COMBINED = {
    "livesum": "summed over the live workers",
    "liveall": "one series per live worker",
    "livemax": "the largest value of the live workers",
    "livemin": "the smallest value of the live workers",
    "livemostrecent": "the most recent value of the live workers",
    "sum": "summed over every worker, dead ones included",
    "all": "one series per worker",
    "max": "the largest value of every worker",
    "min": "the smallest value of every worker",
    "mostrecent": "the most recent value",
}


def metrics_page() -> str:
    lines = [
        "# Metrics",
        "",
        "Generated at every build of these docs from the gateway's metrics classes, each built"
        " on a fresh registry: every metric with its type, labels and help. What the labels"
        " hold and where the metrics are served is on the [metrics page](../metrics.md).",
        "",
        "| metric | type | labels |",
        "| --- | --- | --- |",
    ]
    sections = [(cls, describe_metrics(cls)) for cls in metrics_classes()]
    for _, docs in sections:
        for doc in docs:
            labels = ", ".join(f"`{label}`" for label in doc.labels) or "-"
            lines.append(f"| [`{doc.name}`](#{doc.name}) | {doc.kind} | {labels} |")
    for cls, docs in sections:
        module = inspect.getmodule(cls)
        summary = (inspect.getdoc(module) or "").split("\n\n")[0] if module else ""
        lines += ["", f"## `{cls.__module__}.{cls.__qualname__}`", "", " ".join(summary.split())]
        for doc in docs:
            labels = ", ".join(f"`{label}`" for label in doc.labels) or "none"
            lines += [
                "",
                f"### {doc.name} {{ #{doc.name} }}",
                "",
                _escape(doc.help),
                "",
                f"- type: {doc.kind}"
                + (" (series `_bucket`, `_sum`, `_count`)" if doc.kind == "histogram" else ""),
                f"- labels: {labels}",
            ]
            if doc.combined:
                lines.append(
                    f"- with `--workers N`: {COMBINED.get(doc.combined, doc.combined)}"
                    f" (`{doc.combined}`)"
                )
    return "\n".join(lines) + "\n"


# --- the hooks ----------------------------------------------------------------------------

GENERATED = {SETTINGS_PAGE: settings_page, CLI_PAGE: cli_page, METRICS_PAGE: metrics_page}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for uri, render in GENERATED.items():
        if files.get_file_from_path(uri) is not None:
            log.warning("%s is generated: remove docs/%s", uri, uri)
            continue
        files.append(File.generated(config, uri, content=render()))
    _add_unlisted(files, config)
    return files


def _listed(nav: Sequence[Any]) -> Iterator[str]:
    for item in nav:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for value in item.values():
                yield from _listed(value) if isinstance(value, list) else [value]


def _add_unlisted(files: Files, config: MkDocsConfig) -> None:
    nav = config.nav
    if not nav:
        return
    listed = set(_listed(nav))
    unlisted = sorted(
        file.src_uri
        for file in files.documentation_pages()
        if file.src_uri not in listed and not file.src_uri.startswith("hooks/")
    )
    if not unlisted:
        return
    log.info("pages not in nav, added under %r: %s", UNLISTED_SECTION, ", ".join(unlisted))
    for item in nav:
        if isinstance(item, dict) and UNLISTED_SECTION in item:
            item[UNLISTED_SECTION].extend(unlisted)
            return
    nav.append({UNLISTED_SECTION: unlisted})
