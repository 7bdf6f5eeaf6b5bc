from __future__ import annotations

import random

import pytest

from gateway.behaviours.registry import entry_options
from gateway.routing.table import RouteEntry, RouteTable, TableError, _Node
from gateway.routing.templates import parse_template


def entry(
    index: int, path: str, target: str = "new", methods: list[str] | None = None
) -> RouteEntry:
    methods_set = frozenset(methods) if methods else None
    return RouteEntry(parse_template(path), methods_set, entry_options({"target": target}), index)


@pytest.fixture
def table() -> RouteTable:
    return RouteTable(
        [
            entry(0, "/api/tickets/{ticket_id:int}", methods=["GET"]),
            entry(1, "/api/tickets/export.csv", "legacy"),
            entry(2, "/api/tickets/{slug}", methods=["GET", "PUT"]),
            entry(3, "/api/{rest:path}", "legacy"),
            entry(4, "/api/tickets/{ticket_id:int}", methods=["DELETE"], target="legacy"),
            entry(5, "/"),
            entry(6, "/static/"),
        ],
        default="legacy",
    )


@pytest.mark.parametrize(
    ("method", "path", "index"),
    [
        pytest.param("GET", "/api/tickets/42", 0, id="int-param"),
        pytest.param("HEAD", "/api/tickets/42", 0, id="head-follows-get"),
        pytest.param("DELETE", "/api/tickets/42", 4, id="same-shape-other-method"),
        pytest.param("PUT", "/api/tickets/42", 2, id="method-falls-back-to-str-param"),
        pytest.param("GET", "/api/tickets/export.csv", 1, id="literal-beats-params"),
        pytest.param("GET", "/api/tickets/abc", 2, id="str-param"),
        pytest.param("POST", "/api/tickets/abc", 3, id="catch-all-for-other-methods"),
        pytest.param("GET", "/api/", 3, id="catch-all-empty-rest"),
        pytest.param("GET", "/api/a/b/c", 3, id="catch-all-deep"),
        pytest.param("GET", "/", 5, id="root"),
        pytest.param("GET", "/static/", 6, id="trailing-slash"),
    ],
)
def test_most_specific_entry_wins(table: RouteTable, method: str, path: str, index: int) -> None:
    found = table.match(path, method)
    assert found is not None and found.index == index


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api"), ("GET", "/static"), ("GET", "/other"), ("GET", "/API/tickets/1")],
)
def test_unmatched_paths_go_to_the_default(table: RouteTable, method: str, path: str) -> None:
    assert table.match(path, method) is None
    assert table.target_for(path, method) == "legacy"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        pytest.param(
            [entry(0, "/a/{x}"), entry(1, "/a/{x}")], r"routes\[1\] '/a/\{x\}' duplicates", id="dup"
        ),
        pytest.param(
            [entry(0, "/a/{x}", methods=["GET"]), entry(1, "/a/{y}")],
            r"routes\[1\] '/a/\{y\}' overlaps routes\[0\] '/a/\{x\}': both match GET",
            id="every-method-vs-get",
        ),
        pytest.param(
            [
                entry(0, "/f/{p:path}", methods=["POST", "GET"]),
                entry(1, "/f/{q:path}", methods=["GET"]),
            ],
            "both match GET",
            id="catch-all",
        ),
    ],
)
def test_ambiguous_entries_are_refused(entries: list[RouteEntry], message: str) -> None:
    with pytest.raises(TableError, match=message):
        RouteTable(entries)


def test_every_problem_is_reported() -> None:
    with pytest.raises(TableError) as caught:
        RouteTable([entry(0, "/a"), entry(1, "/a"), entry(2, "/b"), entry(3, "/b")])
    assert len(caught.value.problems) == 2


def test_disjoint_methods_on_one_shape_are_allowed() -> None:
    table = RouteTable(
        [entry(0, "/a/{x}", methods=["GET"]), entry(1, "/a/{y}", "legacy", ["POST"])]
    )
    assert table.target_for("/a/1", "GET") == "new"
    assert table.target_for("/a/1", "POST") == "legacy"
    assert table.target_for("/a/1", "PATCH") == "legacy"  # the default


def test_five_thousand_entries_match_like_a_small_table() -> None:
    rng = random.Random(7)
    entries = [entry(0, "/api/tickets/{ticket_id}", methods=["GET"])]
    for index in range(1, 5000):
        depth = rng.randint(1, 5)
        parts = [f"s{rng.randint(0, 60)}" for _ in range(depth)]
        entries.append(entry(index, "/" + "/".join(parts) + f"/e{index}", "legacy"))
    big = RouteTable(entries)
    small = RouteTable(entries[:1])
    probes = ["/api/tickets/7", "/s1/s2/e9", entries[4321].path, "/nowhere/at/all"]
    for probe in probes:
        expected = big.match(probe, "GET")
        assert (expected.index if expected else None) == (
            4321 if probe == entries[4321].path else (0 if probe.startswith("/api") else None)
        )
    # Lookups do not scan the entries: finding a route visits the same few tree nodes in the
    # 5,000-entry table as in a one-entry table (counted, not timed: timing belongs to bench/).
    assert node_visits(big, "/api/tickets/7") == node_visits(small, "/api/tickets/7") == 4


def node_visits(table: RouteTable, path: str) -> int:
    visits = 0
    original = _Node.match

    def counting(self: _Node, parts: list[str], i: int, method: str) -> RouteEntry | None:
        nonlocal visits
        visits += 1
        return original(self, parts, i, method)

    _Node.match = counting  # type: ignore[method-assign]
    try:
        table.match(path, "GET")
    finally:
        _Node.match = original  # type: ignore[method-assign]
    return visits
