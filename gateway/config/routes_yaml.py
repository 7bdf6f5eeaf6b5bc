"""The routes file's YAML, read into plain Python values whatever the text holds.

ruamel.yaml's round-trip loader reads YAML 1.2 and remembers where each value was written, so
problems name their line (and a later edit of the file can keep its comments). The file is input
the gateway does not control: an editor's stray byte, a half-written save, or a hostile file.
Reading it either gives plain values (dict, list, str, int, float, bool, None, dates) or raises
YamlProblems, each problem with its line where there is one. The work stays bounded:

- nesting deeper than MAX_DEPTH is refused while the loader composes the document, before its
  recursive parts (and Python's recursion limit) are reached;
- aliases may add at most MAX_ALIAS_VALUES values to those written out: a "billion laughs" file
  (an alias list of alias lists, nine deep) is a few hundred bytes that stand for a billion
  values. The loader shares aliased values, so it is here, where they are copied out, that the
  expansion happens, counted; otherwise validation would expand them, unbounded.

The file used to be read as YAML 1.1 (PyYAML), where a plain `yes`, `no`, `on` or `off` is a
boolean; in YAML 1.2 it is a string. Likewise `017` was octal 15 and is now 17, and `1:30` was
the number 90 and is now a string. Such a value is refused with its line rather than read with
a meaning that silently changed.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

MAX_DEPTH = 50  # a routes file needs five levels
MAX_ALIAS_VALUES = 100_000  # values aliases may add to those written out

_STR_TAG = "tag:yaml.org,2002:str"
_YAML11_BOOL = re.compile(r"yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF")
_YAML11_OCTAL = re.compile(r"[-+]?0[0-9_]+")
_YAML11_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSUPPORTED = {"bytes": "binary (!!binary)", "CommentedSet": "set (!!set)"}


class YamlProblems(ValueError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class YamlDocument:
    data: Any  # plain values
    _root: Any  # as the round-trip loader built it, with positions

    def item_lines(self, key: str) -> dict[int, int]:
        """The line (from 1) of each item of the top-level list under `key`, by index."""
        if not isinstance(self._root, CommentedMap):
            return {}
        items = self._root.get(key)
        if not isinstance(items, CommentedSeq):
            return {}
        positions = {index: _position(items, index) for index in range(len(items))}
        return {index: where[0] + 1 for index, where in positions.items() if where is not None}

    def key_line(self, *keys: str) -> int | None:
        """The line (from 1) of the deepest of `keys` found, walking mappings from the top.

        `key_line("defaults", "shadow", "timeout")` is the line of `timeout` in that block,
        or of `shadow` if the block has no `timeout` (its value is not a mapping, say).
        """
        node, line = self._root, None
        for key in keys:
            if not isinstance(node, CommentedMap) or key not in node:
                break
            where = _position(node, key)
            if where is not None:
                line = where[0] + 1
            node = node[key]
        return line


def load_yaml(text: str) -> YamlDocument:
    """Read one YAML 1.2 document, or raise YamlProblems."""
    yaml = YAML(typ="rt")
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    yaml.max_depth = MAX_DEPTH
    try:
        root = yaml.load(text)
    except MaxDepthExceededError as exc:
        where = _at(exc.problem_mark)
        raise YamlProblems([f"{where}nested deeper than {MAX_DEPTH} levels"]) from None
    except MarkedYAMLError as exc:
        raise YamlProblems([f"{_at(exc.problem_mark)}invalid YAML: {exc.problem}"]) from None
    except ReaderError as exc:
        raise YamlProblems([_reader_problem(exc, text)]) from None
    except YAMLError as exc:
        raise YamlProblems([f"invalid YAML: {exc}"]) from None
    except Exception as exc:
        # Past its scalar constructors (see _Constructor), ruamel.yaml still lets Python's own
        # errors out on some malformed input: a TypeError for a mapping used as a key inside
        # a mapping key, a ValueError for a %YAML directive with a 5,000-digit version.
        raise YamlProblems([f"invalid YAML: {type(exc).__name__}: {exc}"]) from None
    composer: _Composer = yaml.composer
    if composer.ambiguous:
        raise YamlProblems(composer.ambiguous)
    return YamlDocument(_Flattener(composer.written + MAX_ALIAS_VALUES).document(root), root)


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _reader_problem(exc: ReaderError, text: str) -> str:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    character = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return (
        f"line {line}, column {column}: invalid YAML: character U+{character:04X} is not "
        "allowed (YAML allows printable characters, tab and line breaks)"
    )


def yaml11_change(value: str) -> str | None:
    """How a plain scalar's meaning differs between YAML 1.1 and 1.2, if it does."""
    quoted = _quote(value)
    if _YAML11_BOOL.fullmatch(value):
        boolean = "true" if value.lower() in ("yes", "on") else "false"
        return (
            f"{quoted} is the string {quoted} in YAML 1.2 (the boolean {boolean} in YAML 1.1): "
            f"write {boolean}, or quote it to mean the string"
        )
    if _YAML11_OCTAL.fullmatch(value):
        return (
            f"{quoted} is a decimal number in YAML 1.2 (with its leading zero, octal or a "
            "string in YAML 1.1): write it without the leading zero, or quote it"
        )
    if _YAML11_SEXAGESIMAL.fullmatch(value):
        return (
            f"{quoted} is a string in YAML 1.2 (a base-60 number in YAML 1.1): write the "
            "number, or quote it to mean the string"
        )
    return None


class _Composer(Composer):
    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        # Redefining an anchor is valid YAML; ruamel.yaml's warning about it would be noise in
        # the gateway's log, and an exception wherever warnings are errors.
        self.warn_double_anchors = False
        self.ambiguous: list[str] = []
        self.written = 0  # nodes written out, aliases not counted

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            self.written += 1
        return super().compose_node(parent, index)

    def compose_document(self) -> Any:
        version = self.resolver.processing_version
        if version != (1, 2):  # a %YAML directive: YAML 1.1 would bring back its booleans
            raise ComposerError(
                None,
                None,
                f"%YAML {version[0]}.{version[1]} is not supported: the file is YAML 1.2",
                self.parser.peek_event().start_mark,
            )
        return super().compose_document()

    def compose_scalar_node(self, anchor: Any) -> Any:
        event = self.parser.peek_event()
        node = super().compose_scalar_node(anchor)
        # Only plain scalars without a tag are typed by their look; quoted ones are strings.
        if event.style is None and event.implicit[0]:
            change = yaml11_change(event.value)
            if change is not None:
                self.ambiguous.append(_at(event.start_mark) + change)
        return node


class _Constructor(RoundTripConstructor):
    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except YAMLError:
            raise
        except Exception as exc:
            # The scalar constructors let Python's own errors through for values their tag
            # cannot hold: ValueError for `!!int x` or the date 2001-02-30, KeyError for
            # `!!bool x`, ValueError for an integer of more than 4,300 digits.
            raise ConstructorError(
                None,
                None,
                f"cannot read {_quote(node.value)} as {node.tag}: {exc}",
                node.start_mark,
            ) from exc

    def construct_undefined_tag(self, node: Any) -> Any:
        # The round-trip loader would keep an unknown tag (`!custom`, `!!python/object`) as a
        # tagged value; the routes file has no use for one.
        raise ConstructorError(None, None, f"unknown tag {node.tag}", node.start_mark)


_Constructor.add_constructor(None, _Constructor.construct_undefined_tag)


class _Flattener:
    """Plain values from the round-trip loader's, each alias expanded and counted."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.values = 0
        self.problems: list[str] = []

    def document(self, root: Any) -> Any:
        data = self.value(root, 0, None)
        if self.problems:
            raise YamlProblems(self.problems)
        return data

    def value(self, value: Any, depth: int, where: Sequence[int] | None) -> Any:
        self.values += 1
        if self.values > self.budget:
            added = f"{MAX_ALIAS_VALUES:,}"
            raise YamlProblems([f"aliases add more than {added} values (an alias bomb?)"])
        if depth > MAX_DEPTH:  # an alias of a deep value placed deep
            raise YamlProblems([f"{_where(where)}nested deeper than {MAX_DEPTH} levels"])
        if isinstance(value, dict):
            return self.mapping(value, depth)
        if isinstance(value, list):
            return [
                self.value(item, depth + 1, _position(value, index))
                for index, item in enumerate(value)
            ]
        return self.scalar(value, where)

    def mapping(self, mapping: dict[Any, Any], depth: int) -> dict[Any, Any]:
        plain: dict[Any, Any] = {}
        for key, item in mapping.items():
            position = _position(mapping, key)
            if not _is_scalar(key):  # `? [a, b]` or `{[a]: b}`: valid YAML, no use here
                self.problems.append(f"{_where(position)}a mapping key must be a single value")
                continue
            where = position[2:] if position is not None and len(position) > 2 else position
            plain[self.scalar(key, position)] = self.value(item, depth + 1, where)
        return plain

    def scalar(self, value: Any, where: Sequence[int] | None) -> Any:
        if isinstance(value, TaggedScalar) and str(value.tag) == _STR_TAG:
            return str(value.value)
        if value is None or isinstance(value, bool | datetime.date):
            return value
        if isinstance(value, ScalarBoolean):  # an anchored boolean, which is an int subclass
            return bool(value)
        if isinstance(value, str) and _SURROGATE.search(value):
            # Only an escape in a double-quoted string (`"\ud83d"`) makes one; YAML escapes
            # name code points, so JSON's escaped surrogate pairs do not combine either.
            self.problems.append(f"{_where(where)}{_quote(value)} holds a lone surrogate, not text")
            return None
        for kind in (str, int, float):
            if isinstance(value, kind):
                return kind(value)
        name = _UNSUPPORTED.get(type(value).__name__, type(value).__name__)
        self.problems.append(f"{_where(where)}{name} values are not supported")
        return None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | datetime.date | TaggedScalar)


def _position(collection: Any, key: Any) -> Sequence[int] | None:
    """[line, column, ...] of an item, 0-based, as the round-trip loader recorded it."""
    positions = getattr(getattr(collection, "lc", None), "data", None)
    position = positions.get(key) if isinstance(positions, dict) else None
    return position if isinstance(position, Sequence) and len(position) >= 2 else None


def _quote(value: Any, limit: int = 40) -> str:
    """A value for a message: a whole file on one line would drown the problem."""
    text = str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} chars)"


def _where(position: Sequence[int] | None) -> str:
    if position is None or len(position) < 2:  # values from a merge key have no position
        return ""
    return f"line {position[0] + 1}, column {position[1] + 1}: "
