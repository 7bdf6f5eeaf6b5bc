from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.tables import LARGE_SIZE, dummy_paths, new_routes, routes_yaml
from gateway.behaviours.canary import CanaryOptions
from gateway.behaviours.shadow_target import ShadowEntryOptions
from gateway.config.routes_file import (
    RoutesFileError,
    new_side_check,
    parse_routes,
    read_routes_file,
)
from gateway.routing.table import RouteEntry, RouteTable
from tests.gateway.routing.routes_corpus import CorpusDocument, canonical, corpus


def parse(text: str) -> object:
    return parse_routes(text.encode("utf-8"), "routes.yaml")


def test_minimal_file() -> None:
    table = parse_routes(
        b"default: new\nroutes:\n  - path: /a/{x}\n    methods: [get, Post]\n    target: legacy\n",
        "routes.yaml",
    )
    assert table.default == "new"
    (entry,) = table.entries
    assert entry.methods == frozenset({"GET", "POST"})
    assert entry.line == 3
    assert table.target_for("/a/1", "GET") == "legacy"
    assert table.target_for("/b", "GET") == "new"


def test_defaults_when_keys_are_left_out() -> None:
    table = parse_routes(b"routes: []\n", "routes.yaml")
    assert table.default == "legacy" and len(table) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "expected a mapping", id="empty"),
        pytest.param("- a\n- b\n", "expected a mapping", id="list"),
        pytest.param("routes: [\n", r"line 2, column 1: invalid YAML", id="broken-yaml"),
        pytest.param(
            "default: old\n",
            "default: Input should be 'legacy' or 'new'",
            id="bad-default",
        ),
        pytest.param("defualt: legacy\n", "defualt: unknown key", id="typo-key"),
        pytest.param(
            "routes:\n  - path: /a\n    target: legacy\n  - path: /b\n    target: blue\n",
            r"routes\[1\] \(line 4\): target: "
            "Input should be 'legacy', 'new', 'canary', 'shadow' or 'match'",
            id="unknown-target",
        ),
        pytest.param(
            "routes:\n  - path: /a/{b\n    target: new\n",
            r"routes\[0\] \(line 2\): path: path template '/a/\{b'",
            id="malformed-template",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: new\n    methods: [FETCH]\n",
            r"methods: unknown HTTP method\(s\) FETCH",
            id="unknown-method",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: new\n    methods: []\n",
            "must list at least one method",
            id="empty-methods",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: new\n  - path: /a\n    methods: [GET]\n"
            "    target: legacy\n",
            r"routes.yaml: routes\[1\] \(line 4\) '/a' overlaps routes\[0\] \(line 2\) '/a'",
            id="overlap",
        ),
        pytest.param(
            "routes:\n  - {path: /a, target: new}\n  - {path: /a, target: new}\n",
            r"routes\[1\] \(line 3\) '/a' duplicates routes\[0\] \(line 2\)",
            id="duplicate",
        ),
    ],
)
def test_problems_name_the_file_the_entry_and_the_cause(text: str, message: str) -> None:
    with pytest.raises(RoutesFileError, match=message) as caught:
        parse(text)
    assert str(caught.value).startswith("routes.yaml: ")


def test_not_utf8() -> None:
    with pytest.raises(RoutesFileError, match=r"^routes.yaml: line 2: not UTF-8 text \(byte 13\)"):
        parse_routes(b"routes: []\n# \xff\n", "routes.yaml")


def billion_laughs(levels: int = 9) -> bytes:
    """Nine aliases of nine aliases ...: a few hundred bytes that stand for 9**levels values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return ("\n".join(lines) + "\n").encode()


def deep_through_aliases() -> bytes:
    """Each anchor nests the one before it 40 levels deeper: shallow as written, deep read."""
    lines = ["a0: &a0 x"]
    for level in range(1, 6):
        lines.append(f"a{level}: &a{level} {'[' * 40}*a{level - 1}{']' * 40}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b"default: legacy\x07\n",
            r"line 1, column 16: invalid YAML: character U\+0007 is not allowed",
            id="control-byte",
        ),
        pytest.param(
            b"routes: []\n# \x1b[31m\n",
            r"line 2, column 3: invalid YAML: character U\+001B",
            id="escape-byte",
        ),
        pytest.param(b"routes: [\x00]\n", r"character U\+0000", id="nul"),
        pytest.param("routes: []\n# \ufffe\n".encode(), r"character U\+FFFE", id="noncharacter"),
        pytest.param(b"\xfe\xff\x00r", r"line 1: not UTF-8 text \(byte 0\)", id="utf-16"),
        pytest.param(
            b"routes: " + b"[" * 5000 + b"]" * 5000 + b"\n",
            r"line 1, column \d+: nested deeper than 50 levels",
            id="deep-flow",
        ),
        pytest.param(
            b"".join(b"  " * level + b"k:\n" for level in range(200)),
            r"nested deeper than 50 levels",
            id="deep-block",
        ),
        pytest.param(deep_through_aliases(), "nested deeper than 50 levels", id="deep-aliases"),
        pytest.param(
            billion_laughs(),
            r"aliases add more than 100,000 values \(an alias bomb\?\)",
            id="billion-laughs",
        ),
        pytest.param(
            b"routes: []\n" + b"#" * (1 << 20),
            "larger than 1 MiB, the most a routes file may hold",
            id="huge",
        ),
        pytest.param(
            b'routes:\n  - {path: "/\\ud83d", target: new}\n',
            r"line 2, column 12: '/\\ud83d' holds a lone surrogate, not text",
            id="lone-surrogate",
        ),
        pytest.param(
            b"routes: []\nroutes: []\n",
            r"line 2, column 1: invalid YAML: found duplicate key \"routes\"",
            id="duplicate-key",
        ),
        pytest.param(
            b"routes: !!python/object/apply:os.system [true]\n",
            r"line 1, column 9: invalid YAML: unknown tag tag:yaml.org,2002:python/object/apply",
            id="python-tag",
        ),
        pytest.param(
            b"routes:\n  - {path: /a, target: new, weight: !!int ten}\n",
            r"line 2, column 37: invalid YAML: cannot read 'ten' as tag:yaml.org,2002:int",
            id="bad-int",
        ),
        pytest.param(
            b"routes: []\nwhen: 2001-02-30\n",
            r"line 2, column 7: invalid YAML: cannot read '2001-02-30'",
            id="bad-date",
        ),
        pytest.param(b"routes: !!bool maybe\n", r"cannot read 'maybe'", id="bad-bool"),
        pytest.param(
            b"routes:\n  - {path: /a, target: new, weight: " + b"9" * 5000 + b"}\n",
            r"line 2, column 37: invalid YAML: cannot read '9{40}'\.\.\. \(5,000 chars\) as ",
            id="5000-digits",
        ),
        pytest.param(b"%YAML 1.1\n---\nroutes: []\n", r"%YAML 1.1 is not supported", id="yaml-1.1"),
        pytest.param(b"? [a, b]\n: 1\n", "a mapping key must be a single value", id="list-key"),
        pytest.param(b"routes: !!set {a}\n", r"set \(!!set\) values are not supported", id="set"),
        pytest.param(b"routes: !!binary aGk=\n", r"binary \(!!binary\) values", id="binary"),
    ],
)
def test_any_bytes_give_an_error_naming_the_file_and_the_cause(
    content: bytes, message: str
) -> None:
    with pytest.raises(RoutesFileError, match=message) as caught:
        parse_routes(content, "routes.yaml")
    assert str(caught.value).startswith("routes.yaml: ")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            "    shadow_unsafe: yes\n",
            "line 4, column 20: 'yes' is the string 'yes' in YAML 1.2 (the boolean true in "
            "YAML 1.1): write true, or quote it to mean the string",
            id="yes",
        ),
        pytest.param("    guard: on\n", "line 4, column 12: 'on' is the string 'on'", id="on"),
        pytest.param(
            "    guard: OFF\n",
            "line 4, column 12: 'OFF' is the string 'OFF' in YAML 1.2 (the boolean false",
            id="off",
        ),
        pytest.param(
            "    fallback: yes\n", "line 4, column 15: 'yes' is the string", id="fallback"
        ),
        pytest.param(
            "    guard: {window: 010}\n",
            "line 4, column 21: '010' is a decimal number in YAML 1.2 (with its leading zero, ",
            id="octal",
        ),
        pytest.param(
            "    guard: {cooldown: 1:30}\n",
            "line 4, column 23: '1:30' is a string in YAML 1.2 (a base-60 number in YAML 1.1)",
            id="base-60",
        ),
    ],
)
def test_values_whose_meaning_changed_from_yaml_1_1_are_refused(line: str, message: str) -> None:
    with pytest.raises(RoutesFileError) as caught:
        parse("routes:\n  - path: /a\n    target: new\n" + line)
    (problem,) = caught.value.problems
    assert problem.startswith(message)


def test_every_changed_value_is_reported_at_once() -> None:
    text = (
        "routes:\n  - {path: /a, target: new, guard: on}\n  - {path: /b, target: new, guard: no}\n"
    )
    with pytest.raises(RoutesFileError) as caught:
        parse(text)
    assert [problem.split(":")[0] for problem in caught.value.problems] == [
        "line 2, column 36",
        "line 3, column 36",
    ]


def test_quoted_or_1_2_spellings_of_those_values_are_read() -> None:
    table = parse_routes(
        b"routes:\n  - {path: /a, target: canary, weight: 10, sticky: 'header:on', guard: true}\n"
        b"  - {path: /b, target: shadow, shadow_unsafe: true, shadow: {headers: ['on', 'no']}}\n",
        "routes.yaml",
    )
    first, second = table.entries
    assert isinstance(first.options, CanaryOptions)
    assert first.options.guard is not None and str(first.options.sticky) == "header:on"
    assert isinstance(second.options, ShadowEntryOptions)
    assert second.options.shadow_unsafe is True
    assert second.options.shadow is not None and second.options.shadow.headers == ("on", "no")


def test_anchors_within_the_budget_are_read() -> None:
    table = parse_routes(
        b"routes:\n  - {path: /a, target: new, guard: &g {min_requests: 3}}\n"
        b"  - {path: /b, target: new, guard: *g}\n",
        "routes.yaml",
    )
    assert [entry.options.guard for entry in table.entries] == [table.entries[0].options.guard] * 2
    assert [entry.line for entry in table.entries] == [2, 3]


def test_reading_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RoutesFileError, match="absent.yaml: file not found"):
        read_routes_file(tmp_path / "absent.yaml")


def test_reading_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RoutesFileError, match=f"^{tmp_path}: is a directory, not a routes file"):
        read_routes_file(tmp_path)


def test_reading_a_fifo_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "routes.yaml"
    os.mkfifo(fifo)
    with pytest.raises(RoutesFileError, match="routes.yaml: is not a regular file"):
        read_routes_file(fifo)


def test_reading_a_huge_file_stops_at_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    with path.open("wb") as file:
        file.truncate(64 << 20)  # sparse: 64 MiB that take no room
    with pytest.raises(RoutesFileError, match="larger than 1 MiB"):
        read_routes_file(path)


def test_entries_sent_to_new_must_exist_there() -> None:
    served = {("GET", "/api/items/1"), ("POST", "/api/items")}

    def serves(path: str, method: str) -> bool:
        return (method, path) in served

    check = new_side_check(serves, "pkg.main:app")
    text = (
        b"routes:\n"
        b"  - {path: '/api/items/{item_id}', methods: [GET, HEAD], target: new}\n"
        b"  - {path: /api/items, methods: [POST, DELETE], target: new}\n"
        b"  - {path: /missing, target: new}\n"
        b"  - {path: /missing-but-legacy, target: legacy}\n"
    )
    with pytest.raises(RoutesFileError) as caught:
        parse_routes(text, "routes.yaml", [check])
    assert caught.value.problems == [
        "routes[1] (line 3) '/api/items' targets 'new' but the new app (pkg.main:app) has no "
        "route for DELETE /api/items",
        "routes[2] (line 4) '/missing' targets 'new' but the new app (pkg.main:app) has no "
        "route for any method /missing",
    ]


def test_every_check_sees_every_valid_entry() -> None:
    seen: list[RouteEntry] = []

    def check(entry: RouteEntry) -> None:
        seen.append(entry)

    parse_routes(
        b"routes:\n  - {path: /a, target: legacy}\n  - {path: /b, target: new}\n", "r", [check]
    )
    assert [entry.path for entry in seen] == ["/a", "/b"]


@pytest.mark.parametrize(
    "document", [pytest.param(document, id=document["name"]) for document in corpus()]
)
def test_every_known_routes_file_reads_as_it_did(document: CorpusDocument) -> None:
    content = document["text"].encode("utf-8")
    if "table" in document:
        assert canonical(parse_routes(content, "routes.yaml")) == document["table"]
        return
    with pytest.raises(RoutesFileError) as caught:
        parse_routes(content, "routes.yaml")
    expected = document["problems"]
    if any("invalid YAML" in problem for problem in expected):
        # Where a syntax error is must not move; the YAML library's wording of it may change.
        (problem,) = caught.value.problems
        (old,) = expected
        assert problem.partition("invalid YAML")[0] == old.partition("invalid YAML")[0]
        assert "invalid YAML" in problem
    else:
        assert caught.value.problems == expected


@pytest.mark.parametrize("with_dummies", [False, True], ids=["small", "5000-entries"])
def test_benchmark_tables_hold_what_they_were_generated_from(with_dummies: bool) -> None:
    table = parse_routes(routes_yaml(with_dummies).encode(), "generated")
    real = new_routes()
    # Each real entry takes three lines (path, methods, target), each dummy two, from line 3.
    expected: list[tuple[str, frozenset[str] | None, str, int]] = [
        (path, frozenset(methods), "new", 3 + 3 * index)
        for index, (path, methods) in enumerate(sorted(real.items()))
    ]
    if with_dummies:
        first = 3 + 3 * len(real)
        dummies = dummy_paths(LARGE_SIZE - len(real))
        expected += [(path, None, "legacy", first + 2 * i) for i, path in enumerate(dummies)]
    found = [(entry.path, entry.methods, entry.target, entry.line) for entry in table.entries]
    assert found == expected


# Modest example counts keep these to seconds; under CI the examples are the same every run.
settings.register_profile(
    "routes-file",
    max_examples=150,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROPERTY = settings.get_profile("routes-file")
YAML_PIECES = st.sampled_from(
    [
        "routes",
        "default",
        "defaults",
        "path",
        "target",
        "methods",
        "weight",
        "guard",
        "shadow",
        "sticky",
    ]
    + ["legacy", "new", "canary", "/a/{x}", "/b", "{x:int}", "GET", "header:X", "$.a", "yes"]
    + ["!!int", "!!str", "!!bool", "!!set", "!!binary", "!foo", "&a", "*a", "<<", "017", "1:30"]
    + ["1e400", "9" * 5000, "2001-02-30", "- ", ": ", "? ", "[", "]", "{", "}", ", ", "\n"]
    + ["  ", "'", '"', "# ", "|", ">", "---", "...", "%YAML 1.1\n", "\t", "~", "\\ud800"]
    + ["\x07", "\ufeff", "\x85", "\u2028", "=", "\r\n", "\xff"]
)
YAMLISH = st.lists(YAML_PIECES, max_size=60).map("".join)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["legacy", "new", "canary", "shadow", "/a", "/a/{x:int}", "/{p:path}", "GET"]),
    st.sampled_from(["header:X", "session:s", "cookie:", "$.a[*]", "$[", "//", "/{x}{y}", "{"]),
)
KEYS = st.sampled_from(
    ["path", "target", "methods", "weight", "guard", "shadow", "sticky", "fallback", "primary"]
    + ["shadow_unsafe", "window", "min_requests", "cooldown", "sample", "timeout", "ignore"]
    + ["headers", "ignore_headers", "noise_sample", "max_body", "max_latency_ratio", "other"]
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=16,
)
# JSON is YAML: documents shaped like routes files reach validation and the table.
DEFAULTS = st.dictionaries(st.sampled_from(["shadow", "guard", "canary", "other"]), VALUES)
ROUTES_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "default": VALUES,
        "defaults": DEFAULTS | VALUES,
        "routes": st.lists(st.dictionaries(KEYS, VALUES), max_size=5),
    },
).map(json.dumps)


def table_or_routes_file_error(content: bytes) -> RouteTable | RoutesFileError:
    try:
        return parse_routes(content, "routes.yaml")
    except RoutesFileError as exc:
        assert str(exc).startswith("routes.yaml: ") and exc.problems
        return exc


@PROPERTY
@given(st.binary(max_size=400))
def test_random_bytes_give_a_table_or_a_routes_file_error(content: bytes) -> None:
    table_or_routes_file_error(content)


@PROPERTY
@given(YAMLISH)
def test_random_yamlish_text_gives_a_table_or_a_routes_file_error(text: str) -> None:
    table_or_routes_file_error(text.encode("utf-8", "surrogatepass"))


@PROPERTY
@given(ROUTES_LIKE)
def test_random_routes_files_give_a_table_or_a_routes_file_error(text: str) -> None:
    table_or_routes_file_error(text.encode("utf-8"))
