from __future__ import annotations

import pytest

from gateway.http.error_shape import ErrorShape


def test_the_default_shape() -> None:
    body = ErrorShape().render(504, "timeout", "no answer in 30 s", "new", "abc")
    assert body == {"error": "timeout", "detail": "no answer in 30 s", "side": "new"}


def test_a_placeholder_alone_keeps_its_type() -> None:
    shape = ErrorShape('{"code": "{status}", "side": "{side}", "id": "req-{request_id}"}')
    assert shape.render(503, "overloaded", "busy", None, "abc") == {
        "code": 503,
        "side": None,
        "id": "req-abc",
    }


def test_nested_templates_are_filled() -> None:
    shape = ErrorShape('{"error": {"code": "{error}", "messages": ["{detail}", "{side}!"]}}')
    body = shape.render(400, "bad_path", "a '..' segment", None, "abc")
    assert body == {"error": {"code": "bad_path", "messages": ["a '..' segment", "!"]}}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("{", "not JSON", id="not-json"),
        pytest.param('["{error}"]', "must be a JSON object", id="not-an-object"),
        pytest.param('{"e": "{eror}"}', r"unknown placeholders \['eror'\]", id="typo"),
        pytest.param('{"{nope}": 1}', "unknown placeholders", id="in-a-key"),
    ],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ErrorShape(template)
