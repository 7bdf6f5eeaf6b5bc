"""The routes file's `defaults:` section: what entries inherit, what is refused, and that the
file itself is never rewritten with the defaults."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gateway.behaviours.canary import CanaryOptions
from gateway.behaviours.shadow_target import ShadowEntryOptions
from gateway.config.entry_defaults import effective_options
from gateway.config.routes_file import RoutesFileError, parse_routes
from gateway.routing.table import RouteTable
from tests.gateway.routing.routes_corpus import canonical
from tests.gateway.routing.test_routes_file import PROPERTY
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW, bin_path

WITH_DEFAULTS = """\
defaults:
  shadow:
    timeout: 2
    concurrency: 3
    ignore: ["$.updated_at"]
  guard: {window: 120, min_requests: 50}
  canary: {sticky: "header:X-User", fallback: legacy}
routes:
  - {path: /a, target: shadow}
  - path: /b
    target: shadow
    shadow: {ignore: ["$.etag"], sample: 50}
  - {path: /c, target: canary, weight: 10}
  - {path: /d, target: canary, weight: 10, sticky: "cookie:uid", guard: true}
  - {path: /e, target: new, guard: {window: 30}}
  - {path: /f, target: new}
  - {path: /g, target: canary, weight: 10, guard: false}
"""


def parse(text: str) -> RouteTable:
    return parse_routes(text.encode("utf-8"), "routes.yaml")


def options_by_path(table: RouteTable) -> dict[str, Any]:
    return {
        entry.path: entry.options.model_dump(mode="json", exclude_unset=True)
        for entry in table.entries
    }


def test_entries_inherit_the_defaults_of_their_kind() -> None:
    table = parse(WITH_DEFAULTS)
    entries = {entry.path: entry.options for entry in table.entries}
    a, b = entries["/a"], entries["/b"]
    assert isinstance(a, ShadowEntryOptions) and a.shadow is not None
    assert (a.shadow.timeout, a.shadow.concurrency, a.shadow.ignore) == (2, 3, ("$.updated_at",))
    # One level deep: /b's own `ignore` and `sample` replace the default's, the rest is kept.
    assert isinstance(b, ShadowEntryOptions) and b.shadow is not None
    assert (b.shadow.timeout, b.shadow.ignore, b.shadow.sample) == (2, ("$.etag",), 50)
    c, d = entries["/c"], entries["/d"]
    assert isinstance(c, CanaryOptions) and isinstance(d, CanaryOptions)
    assert (str(c.sticky), c.fallback, c.guard) == ("header:x-user", "legacy", None)
    assert str(d.sticky) == "cookie:uid"
    # A guard default never turns a guard on, and fills in every guard an entry turns on.
    assert d.guard is not None and (d.guard.window, d.guard.min_requests) == (120, 50)
    e = entries["/e"].guard
    assert e is not None and (e.window, e.min_requests) == (30, 50)
    assert entries["/f"].guard is None and entries["/g"].guard is None


def block(value: Any) -> Any:
    return {} if value is True else value


def expand(text: str) -> str:
    """The same table written without `defaults:`: the expansion the README describes."""
    document = YAML(typ="safe").load(text)
    defaults = document.pop("defaults", {})
    for entry in document["routes"]:
        if entry["target"] == "canary":
            for key, value in defaults.get("canary", {}).items():
                own = entry.get(key)
                if key == "guard" and isinstance(block(value), dict) and own is not False:
                    # Blocks merge one level deep; `guard: true` is an empty block.
                    entry["guard"] = {**block(value), **(block(own) if own is not None else {})}
                else:
                    entry.setdefault(key, value)
        if entry["target"] == "shadow" and defaults.get("shadow"):
            entry["shadow"] = {**defaults["shadow"], **entry.get("shadow", {})}
        guard = entry.get("guard")
        if guard is True or isinstance(guard, dict):
            entry["guard"] = {**defaults.get("guard", {}), **(guard if guard is not True else {})}
    return json.dumps(document)


def without_lines(table: RouteTable) -> dict[str, Any]:
    found = canonical(table)
    for entry in found["entries"]:
        entry.pop("line")
    return found


def test_a_file_with_defaults_is_the_file_with_them_written_out() -> None:
    assert without_lines(parse(WITH_DEFAULTS)) == without_lines(parse(expand(WITH_DEFAULTS)))


SHADOW_BLOCKS = st.fixed_dictionaries(
    {},
    optional={
        "timeout": st.sampled_from([1, 2.5, 30]),
        "sample": st.sampled_from([0, 10, 100]),
        "ignore": st.lists(st.sampled_from(["$.a", "$.b[*].c"]), max_size=2),
        "ignore_headers": st.lists(st.sampled_from(["etag", "vary"]), max_size=2),
        "summary_every": st.sampled_from([0, 5]),
        "request_headers": st.fixed_dictionaries(
            {}, optional={"drop": st.just(["cookie"]), "set": st.just({"x-test": "1"})}
        ),
    },
)
GUARD_BLOCKS = st.fixed_dictionaries(
    {}, optional={"window": st.sampled_from([10, 60]), "min_requests": st.sampled_from([1, 20])}
)
CANARY_BLOCKS = st.fixed_dictionaries(
    {},
    optional={
        "sticky": st.sampled_from(["header:X-User", "cookie:uid"]),
        "fallback": st.just("legacy"),
        "timeout": st.sampled_from([1, 5]),
        "guard": st.one_of(st.booleans(), GUARD_BLOCKS),
    },
)
ENTRIES = st.one_of(
    st.builds(lambda shadow: {"target": "shadow", **shadow}, st.just({}))
    | SHADOW_BLOCKS.map(lambda block: {"target": "shadow", "shadow": block}),
    st.builds(
        lambda own, weight: {"target": "canary", "weight": weight, **own},
        CANARY_BLOCKS,
        st.sampled_from([0, 25, 100]),
    ),
    st.one_of(st.none(), st.booleans(), GUARD_BLOCKS).map(
        lambda guard: {"target": "new"} if guard is None else {"target": "new", "guard": guard}
    ),
)
FILES = st.fixed_dictionaries(
    {
        "defaults": st.fixed_dictionaries(
            {}, optional={"shadow": SHADOW_BLOCKS, "guard": GUARD_BLOCKS, "canary": CANARY_BLOCKS}
        ),
        "routes": st.lists(ENTRIES, max_size=5).map(
            lambda entries: [{"path": f"/r{i}", **entry} for i, entry in enumerate(entries)]
        ),
    }
)


@PROPERTY
@given(FILES)
def test_any_valid_defaults_read_as_if_written_out(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert without_lines(parse(text)) == without_lines(parse(expand(text)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "defaults:\n  shadow:\n    timeout: 0\nroutes: []\n",
            r"defaults \(line 3\): shadow.timeout: Input should be greater than 0",
            id="bad-shadow-value",
        ),
        pytest.param(
            "defaults:\n  guard: {windw: 3}\nroutes: []\n",
            r"defaults \(line 2\): guard.windw: unknown key",
            id="typo-in-guard",
        ),
        pytest.param(
            "defaults:\n  canary:\n    sticky: ip\nroutes: []\n",
            r"defaults \(line 3\): canary.sticky: 'ip' must be",
            id="bad-sticky",
        ),
        pytest.param(
            "defaults:\n  canary:\n    target: new\nroutes: []\n",
            r"defaults \(line 3\): canary.target: unknown key",
            id="target-in-canary",
        ),
        pytest.param(
            "defaults:\n  canary:\n    primary: new\nroutes: []\n",
            r"defaults \(line 3\): canary.primary: unknown key",
            id="shadow-option-in-canary",
        ),
        pytest.param(
            "defaults:\n  match: {otherwise: new}\nroutes: []\n",
            r"defaults \(line 2\): match: unknown key",
            id="unknown-block",
        ),
        pytest.param(
            "routes: []\ndefaults: [shadow]\n",
            r"defaults \(line 2\): must be a mapping of option blocks \(shadow, guard, canary\)$",
            id="not-a-section",
        ),
        pytest.param(
            "defaults:\n  shadow: 5\nroutes: []\n",
            r"defaults \(line 2\): shadow: Input should be a valid dictionary",
            id="not-a-block",
        ),
        pytest.param(
            "defaults:\n  canary: {sticky: 'header:X'}\nroutes:\n  - {path: /a, target: canary}\n",
            r"routes\[0\] \(line 4\): target 'canary' needs a weight",
            id="entry-still-checked",
        ),
        pytest.param(
            "defaults:\n  shadow: {request_headers: {set: {X-Token: '${NOT_SET_HERE}'}}}\n"
            "routes: []\n",
            r"defaults \(line 2\): shadow.request_headers.set: header x-token: environment "
            "variable NOT_SET_HERE is not set",
            id="missing-environment-variable",
        ),
    ],
)
def test_problems_name_the_default_or_the_entry(text: str, message: str) -> None:
    with pytest.raises(RoutesFileError, match=message):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("defaults:\n  # shadow: {timeout: 2}\n", id="section-left-empty"),
        pytest.param("defaults:\n  shadow:\n  guard:\n  canary:\n", id="blocks-left-empty"),
    ],
)
def test_a_defaults_section_or_block_left_empty_is_no_defaults(text: str) -> None:
    # YAML reads a key whose lines are all commented out as null: the section an operator
    # emptied (to try the entries without it) means no defaults, not a broken file.
    table = parse(text + "routes:\n  - {path: /a, target: shadow}\n")
    assert options_by_path(table)["/a"] == {"target": "shadow"}


def test_a_broken_default_is_reported_once_with_the_entries_own_problems() -> None:
    text = (
        "defaults:\n  shadow: {timeout: -1}\n"
        "routes:\n  - {path: /a, target: shadow}\n  - {path: /b, target: shadow}\n"
        "  - {path: /c, target: blue}\n"
    )
    with pytest.raises(RoutesFileError) as caught:
        parse(text)
    problems = caught.value.problems
    assert len(problems) == 2, problems
    assert problems[0].startswith("defaults (line 2): shadow.timeout")
    assert problems[1].startswith("routes[2] (line 6): target")


def test_effective_options_show_what_was_inherited() -> None:
    table = parse(WITH_DEFAULTS)
    shown = {entry.path: json.loads(effective_options(entry)) for entry in table.entries}
    assert shown["/a"] == {"shadow": {"timeout": 2.0, "concurrency": 3, "ignore": ["$.updated_at"]}}
    assert shown["/c"]["sticky"] == {"kind": "header", "name": "x-user"}
    assert shown["/f"] == {}


def test_defaults_are_not_written_into_the_file_when_an_entry_is_edited() -> None:
    # The rollout controller edits entries in place with ruamel.yaml's round trip; the
    # defaults stay where they are and keep applying to the edited entry.
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(WITH_DEFAULTS)
    document["routes"][2]["weight"] = 50
    out = io.StringIO()
    yaml.dump(document, out)
    edited = out.getvalue()
    assert edited.replace("weight: 50", "weight: 10") == WITH_DEFAULTS
    entry = parse(edited).entries[2]
    assert isinstance(entry.options, CanaryOptions)
    assert entry.options.weight == 50 and str(entry.options.sticky) == "header:x-user"


def test_check_and_routes_print_the_effective_options(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "defaults:\n  guard: {window: 120}\n  canary: {sticky: 'header:X-User'}\n"
        "routes:\n  - {path: /admin, target: canary, weight: 5, guard: true}\n"
    )
    env = {**os.environ, "GATEWAY_LEGACY_APP": SAMPLE_LEGACY, "GATEWAY_NEW_APP": SAMPLE_NEW}
    inherited = '{"guard": {"window": 120.0}, "weight": 5.0, "sticky": {"kind": "header", '
    for command in ("check", "routes"):
        done = subprocess.run(
            [bin_path("gateway"), command, "--routes-file", str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        (line,) = [line for line in done.stdout.splitlines() if "/admin " in line and "{" in line]
        assert inherited in line, line
