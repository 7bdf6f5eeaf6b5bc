from __future__ import annotations

import gzip
import json

import pytest

from gateway.behaviours.shadow import ALWAYS_IGNORED_HEADERS
from gateway.compare import (
    DESCENT,
    Answer,
    Comparator,
    format_json_path,
    parse_json_path,
)


def answer(body: object, status: int = 200, **headers: str) -> Answer:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    content_type = headers.pop("content_type", "application/json")
    pairs = [(b"content-type", content_type.encode())]
    pairs += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Answer(status=status, headers=pairs, body=bytearray(raw))


def fields(comparator: Comparator, a: Answer, b: Answer) -> list[str]:
    return [difference.field for difference in comparator.differences(a, b)]


@pytest.fixture
def comparator() -> Comparator:
    return Comparator(None, (), ("$.meta", "$.items[*].updated_at"), ALWAYS_IGNORED_HEADERS)


def test_key_order_and_number_spelling_do_not_count(comparator: Comparator) -> None:
    a = answer({"a": 1, "b": [1, 2.5], "c": {"x": True}})
    b = Answer(a.status, a.headers, bytearray(b'{"c": {"x": true}, "b": [1.0, 25e-1], "a": 1e0}'))
    assert comparator.differences(a, b) == []


def gzipped(body: object, level: int) -> Answer:
    raw = gzip.compress(json.dumps(body).encode(), compresslevel=level)
    return answer(raw, content_encoding="gzip")


def test_compressed_bodies_are_compared_as_what_they_hold(comparator: Comparator) -> None:
    # Two compressors (or levels) give different bytes for the same JSON.
    a, b = gzipped({"a": 1, "b": "x" * 50}, 1), gzipped({"b": "x" * 50, "a": 1.0}, 9)
    assert bytes(a.body) != bytes(b.body)
    assert comparator.differences(a, b) == []
    (found,) = comparator.differences(a, gzipped({"a": 2, "b": "x" * 50}, 9))
    assert (found.field, found.primary, found.shadow) == ("body:$.a", "1", "2")
    # One side compressing and the other not differ in that header only.
    assert fields(comparator, a, answer({"a": 1, "b": "x" * 50})) == ["header:content-encoding"]


def test_a_body_that_does_not_decompress_is_compared_as_sent(comparator: Comparator) -> None:
    broken = answer(b"not gzip at all", content_encoding="gzip")
    assert fields(comparator, broken, answer(b"not gzip at all!", content_encoding="gzip")) == [
        "body"
    ]
    # Past the size compared, it is not decompressed either (a small body can hold a lot).
    bomb = gzip.compress(b"0" * 5000)
    small = Answer(200, [(b"content-encoding", b"gzip")], bytearray(bomb), limit=1000)
    other = Answer(200, [(b"content-encoding", b"gzip")], bytearray(bomb + b"x"), limit=1000)
    assert fields(comparator, small, other) == ["body"]


def test_nan_on_both_sides_is_the_same_value(comparator: Comparator) -> None:
    # Python's json (Flask's jsonify) writes NaN; NaN == NaN is false, an answer is not.
    a = answer(b'{"ratio": NaN, "n": Infinity}')
    assert comparator.differences(a, answer(b'{"ratio": NaN, "n": Infinity}')) == []
    assert fields(comparator, a, answer(b'{"ratio": 0.5, "n": Infinity}')) == ["body:$.ratio"]
    huge = answer(('{"ratio": NaN, "n": 1' + "0" * 400 + "}").encode())
    assert fields(comparator, a, huge) == ["body:$.n"]  # too large for a float, still compared


def test_booleans_are_not_numbers(comparator: Comparator) -> None:
    assert fields(comparator, answer({"a": True}), answer({"a": 1})) == ["body:$.a"]


def test_every_difference_is_named_with_both_values(comparator: Comparator) -> None:
    a = answer({"id": 1, "tags": ["x"], "gone": 1}, status=200, x_api="v1")
    b = answer({"id": 2, "tags": ["x", "y"], "new": None}, status=201, x_api="v2")
    found = {d.field: (d.primary, d.shadow) for d in comparator.differences(a, b)}
    assert found == {
        "status": ("200", "201"),
        "header:x-api": ("v1", "v2"),
        "body:$.id": ("1", "2"),
        "body:$.tags[1]": ("(absent)", '"y"'),
        "body:$.gone": ("1", "(absent)"),
        "body:$.new": ("(absent)", "null"),
    }


def test_ignored_paths_and_headers(comparator: Comparator) -> None:
    a = answer({"meta": {"t": 1}, "items": [{"id": 1, "updated_at": "x"}]}, date="d1", server="s")
    b = answer({"meta": {"t": 2}, "items": [{"id": 1, "updated_at": "y"}]}, date="d2")
    assert comparator.differences(a, b) == []


def test_chosen_headers_only() -> None:
    comparator = Comparator(("content-type",), (), (), ALWAYS_IGNORED_HEADERS)
    assert fields(comparator, answer({}, x_a="1"), answer({}, x_a="2")) == []
    assert fields(comparator, answer({}), answer({}, content_type="text/plain")) == [
        "header:content-type"
    ]


@pytest.mark.parametrize(
    ("header", "a", "b", "same"),
    [
        pytest.param("vary", "Cookie, Accept-Encoding", "accept-encoding,cookie", True, id="vary"),
        pytest.param("vary", "Cookie", "Cookie, Origin", False, id="vary-more"),
        pytest.param("allow", "GET, HEAD, OPTIONS", "OPTIONS, GET, HEAD", True, id="allow"),
        pytest.param("allow", "GET, HEAD", "get, head", False, id="methods-case"),
        pytest.param("x_list", "a, b", "b, a", False, id="other-headers-exactly"),
    ],
)
def test_headers_that_list_tokens_compare_as_sets(header: str, a: str, b: str, same: bool) -> None:
    comparator = Comparator(None, (), (), ALWAYS_IGNORED_HEADERS)
    name = header.replace("_", "-").encode()

    def listing(value: str) -> Answer:
        return Answer(status=200, headers=[(name, value.encode())], body=bytearray(b"{}"))

    found = fields(comparator, listing(a), listing(b))
    assert found == ([] if same else [f"header:{name.decode()}"])


def test_non_json_bodies_compare_as_bytes(comparator: Comparator) -> None:
    a = answer(b"hello", content_type="text/plain")
    assert fields(comparator, a, answer(b"hello", content_type="text/plain")) == []
    assert fields(comparator, a, answer(b"hellO", content_type="text/plain")) == ["body"]


def test_long_values_are_shortened(comparator: Comparator) -> None:
    (difference,) = comparator.differences(answer({"a": "x" * 1000}), answer({"a": "y"}))
    assert len(difference.primary) == 200 and difference.primary.endswith("\u2026")


def test_exceptions_are_compared(comparator: Comparator) -> None:
    failed = Answer(exception=RuntimeError("boom"))
    assert comparator.differences(failed, Answer(exception=RuntimeError("other"))) == []
    (difference,) = comparator.differences(answer({}), failed)
    assert difference.field == "exception"
    assert difference.shadow == "RuntimeError: boom"
    assert difference.primary == "(answered 200)"


def test_noise_keys_generalize_list_positions(comparator: Comparator) -> None:
    (difference,) = comparator.differences(
        answer({"l": [0, {"t": 1}]}), answer({"l": [0, {"t": 2}]})
    )
    assert difference.field == "body:$.l[1].t"
    assert difference.noise_key == "body:$.l[*].t"


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("$.items[*].id", ("items", "*", "id")),
        ("$.items[2]", ("items", 2)),
        ("$['a key']", ("a key",)),
        ("$..id", (DESCENT, "id")),
        ("$.a..['b c']", ("a", DESCENT, "b c")),
    ],
)
def test_json_paths_round_trip(text: str, steps: tuple[object, ...]) -> None:
    assert parse_json_path(text) == steps
    assert format_json_path(parse_json_path(text)) == text


@pytest.mark.parametrize("text", ["a.b", "$.a[", "$...a", "$..", "$..[0]", "$.a[x]"])
def test_bad_json_paths(text: str) -> None:
    with pytest.raises(ValueError, match="JSON path"):
        parse_json_path(text)


def kinds(comparator: Comparator, a: Answer, b: Answer) -> dict[str, str]:
    return {difference.field: difference.kind for difference in comparator.differences(a, b)}


def test_every_difference_has_a_kind(comparator: Comparator) -> None:
    a = answer({"gone": 1, "n": 1, "s": "1", "l": [1, 2], "o": None}, x_old="1", x_same="a")
    b = answer({"new": 1, "n": 2, "s": 1, "l": [1], "o": {}}, x_new="1", x_same="b")
    assert kinds(comparator, a, b) == {
        "header:x-old": "missing",
        "header:x-new": "extra",
        "header:x-same": "changed",
        "body:$.gone": "missing",
        "body:$.new": "extra",
        "body:$.n": "changed",
        "body:$.s": "type_changed",
        "body:$.l[1]": "missing",
        "body:$.o": "type_changed",
    }
    assert kinds(comparator, answer([1]), answer([1, 2])) == {"body:$[1]": "extra"}
    assert kinds(comparator, answer({"b": True}), answer({"b": 1})) == {"body:$.b": "type_changed"}
    assert comparator.differences(answer({}), answer({}, status=201))[0].as_dict() == {
        "field": "status",
        "kind": "changed",
        "primary": "200",
        "shadow": "201",
    }


@pytest.mark.parametrize(
    ("ignored", "body_a", "body_b", "left"),
    [
        pytest.param("$..etag", {"etag": 1}, {"etag": 2}, [], id="top-level"),
        pytest.param(
            "$..etag",
            {"items": [{"etag": 1, "id": 1}]},
            {"items": [{"etag": 2, "id": 2}]},
            ["body:$.items[0].id"],
            id="nested-in-lists",
        ),
        pytest.param(
            "$.a..t",
            {"a": {"x": {"t": 1}}, "t": 1},
            {"a": {"x": {"t": 2}}, "t": 2},
            ["body:$.t"],
            id="below-a-prefix-only",
        ),
        pytest.param(
            "$..meta", {"meta": {"x": 1}}, {"meta": {"x": 2, "y": 3}}, [], id="covers-below"
        ),
        pytest.param("$..etag", {"etags": 1}, {"etags": 2}, ["body:$.etags"], id="whole-names"),
    ],
)
def test_recursive_descent_in_ignored_paths(
    ignored: str, body_a: object, body_b: object, left: list[str]
) -> None:
    comparator = Comparator(None, (), (ignored,), ALWAYS_IGNORED_HEADERS)
    assert fields(comparator, answer(body_a), answer(body_b)) == left
