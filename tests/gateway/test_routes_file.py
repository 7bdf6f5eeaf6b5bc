from __future__ import annotations

import pytest

from bench.tables import LARGE_SIZE, dummy_paths, new_routes, routes_yaml
from gateway.routes_file import RoutesFileError, new_side_check, parse_routes
from gateway.table import RouteEntry
from tests.gateway.routes_corpus import CorpusDocument, canonical, corpus


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
            "Input should be 'legacy', 'new', 'canary' or 'shadow'",
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
    with pytest.raises(RoutesFileError, match="not UTF-8"):
        parse_routes(b"routes: []\n# \xff\n", "routes.yaml")


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
        # The YAML library's own wording of a syntax error is not part of the contract.
        (problem,) = caught.value.problems
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
