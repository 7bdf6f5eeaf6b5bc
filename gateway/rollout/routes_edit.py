"""Edits of one routes-file entry that keep the rest of the file as it was written.

ruamel.yaml's round trip keeps comments, key order, quoting and flow style; what it does not do
by itself is keep a comment that follows an entry with that entry's neighbour. It stores such a
comment (the blank line and the `# ...` lines before the next entry) on the last value of the
entry before it, so a key added after that value (a new `status:`) or a key removed would carry
the comment away from the entry it describes. Each edit therefore detaches that trailing comment
first and attaches it again after the entry's new last value.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from gateway.options.rollout import RolloutStatus


class EntryNotFound(LookupError):
    """No entry (or more than one) of the routes file has this path and methods."""


def methods_key(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(method.upper() for method in methods)


class RoutesDocument:
    def __init__(self, text: str) -> None:
        # ruamel.yaml writes `\n` only, and keeps a comment's `\r\n`: a file written with
        # Windows line ends is read without them and given them back whole.
        self._newline = "\r\n" if "\r\n" in text else "\n"
        text = text.replace("\r\n", "\n")
        # Neither a byte order mark nor a `---` before the document survives a round trip.
        self._bom = "\ufeff" if text.startswith("\ufeff") else ""
        text = text.removeprefix("\ufeff")
        self._yaml = YAML(typ="rt")
        self._yaml.explicit_start = text.startswith("---")
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096  # a long reason stays on one line
        # Written as it was: `- ` indented under its key (offset) or not; ruamel.yaml guesses
        # the sequence's indent and offset, and a mapping's indent is the rest.
        _, indent, offset = load_yaml_guess_indent(text)
        sequence = indent or 2
        offset = offset or 0
        self._yaml.indent(mapping=max(sequence - offset, 2), sequence=sequence, offset=offset)
        self.root: Any = self._yaml.load(text)

    def entries(self) -> list[CommentedMap]:
        routes = self.root.get("routes") if isinstance(self.root, CommentedMap) else None
        if not isinstance(routes, CommentedSeq):
            return []
        return [item for item in routes if isinstance(item, CommentedMap)]

    def entry(self, path: str, methods: Iterable[str] | None) -> CommentedMap:
        wanted = methods_key(methods)
        found = [
            item
            for item in self.entries()
            if item.get("path") == path and methods_key(item.get("methods")) == wanted
        ]
        if len(found) != 1:
            described = ",".join(sorted(wanted)) if wanted else "every method"
            raise EntryNotFound(f"no single entry for {path} ({described}) in the routes file")
        return found[0]

    def update(
        self,
        path: str,
        methods: Iterable[str] | None,
        values: Mapping[str, Any],
        drop: Iterable[str] = (),
        fill: Mapping[str, Any] | None = None,
    ) -> None:
        """Set `values` on the entry (None removes a key), remove the keys in `drop`, and set
        the keys of `fill` that the entry does not have."""
        entry = self.entry(path, methods)
        tail = _detach_tail(entry)
        removed = [*drop, *(key for key, value in values.items() if value is None)]
        # A comment at the end of a removed key's line stays, as a line of its own.
        kept = "".join(_own_comment(entry, key) for key in removed if key in entry)
        for key in removed:
            entry.pop(key, None)
        for key, value in (fill or {}).items():
            if key not in entry:
                entry[key] = _flow(_as_written(value))
        for key, value in values.items():
            if value is not None:
                entry[key] = _as_written(value)
        _attach_tail(entry, kept + tail)

    def text(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.root, out)
        return self._bom + out.getvalue().replace("\n", self._newline)


def status_yaml(status: RolloutStatus) -> CommentedMap:
    """The `status:` mapping as written in the file: no empty or default fields, figures on
    one line."""
    data = status.model_dump(mode="json", exclude_none=True)
    if not data.get("paused"):
        data.pop("paused", None)
    if not data.get("approved"):
        data.pop("approved", None)
    mapping = CommentedMap()
    for key, value in data.items():
        if key == "figures":
            figures = CommentedMap(
                (name, round(number, 4) if isinstance(number, float) else number)
                for name, number in value.items()
            )
            figures.fa.set_flow_style()
            mapping[key] = figures
        elif key == "approved":
            approved = CommentedSeq(_as_written(weight) for weight in value)
            approved.fa.set_flow_style()
            mapping[key] = approved
        else:
            mapping[key] = _as_written(value)
    return mapping


def _as_written(value: Any) -> Any:
    """Weights as a person writes them: `50`, not the `50.0` the model holds. Plain values
    only: a ruamel.yaml mapping or list already holds its layout and stays as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if type(value) is dict:
        return {key: _as_written(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return [_as_written(item) for item in value]
    return value


def _flow(value: Any) -> Any:
    """A mapping on one line, as `rollout: {steps: [5, 100], ...}` is usually written."""
    if not isinstance(value, dict):
        return value
    mapping = CommentedMap(value)
    mapping.fa.set_flow_style()
    return mapping


def _last(container: Any) -> tuple[Any, Any] | None:
    """The (container, key) holding the comment written after `container`'s last value."""
    if isinstance(container, CommentedMap) and container:
        key = list(container.keys())[-1]
    elif isinstance(container, CommentedSeq) and container:
        key = len(container) - 1
    else:
        return None
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and not value.fa.flow_style():
        deeper = _last(value)
        if deeper is not None:
            return deeper
    return container, key


def _own_comment(entry: CommentedMap, key: str) -> str:
    comments = entry.ca.items.get(key)
    token = comments[2] if comments and len(comments) > 2 else None
    if not isinstance(token, CommentToken):
        return ""
    comment = token.value.split("\n", 1)[0].strip()
    if not comment.startswith("#"):
        return ""
    column = getattr(entry.lc, "col", 0) or 0
    return f"{' ' * column}# (was on `{key}`) {comment.removeprefix('#').strip()}\n"


def _detach_tail(entry: CommentedMap) -> str:
    """Remove and return the lines after the entry's last value (kept: its end-of-line comment)."""
    last = _last(entry)
    if last is None:
        return ""
    container, key = last
    comments = container.ca.items.get(key)
    token = comments[2] if comments and len(comments) > 2 else None
    if not isinstance(token, CommentToken):
        return ""
    line_end = token.value.find("\n")
    if line_end < 0:
        return ""
    own, tail = token.value[: line_end + 1], token.value[line_end + 1 :]
    if own.strip():
        token.value = own
    else:
        comments[2] = None
    return tail


def _attach_tail(entry: CommentedMap, tail: str) -> None:
    if not tail:
        return
    last = _last(entry)
    if last is None:
        return
    container, key = last
    comments = container.ca.items.setdefault(key, [None, None, None, None])
    token = comments[2]
    if isinstance(token, CommentToken):
        token.value = token.value + tail
    else:
        comments[2] = CommentToken("\n" + tail, CommentMark(0), None)
