from __future__ import annotations

import pytest

from gateway.routing.templates import TemplateError, parse_template


def test_parses_literals_parameters_and_convertors() -> None:
    template = parse_template("/api/tickets/{ticket_id:int}/files/{rest:path}")
    assert [(s.kind, s.value) for s in template.segments] == [
        ("static", "api"),
        ("static", "tickets"),
        ("int", "ticket_id"),
        ("static", "files"),
        ("path", "rest"),
    ]


def test_trailing_slash_is_a_segment_of_its_own() -> None:
    assert parse_template("/a/").shape != parse_template("/a").shape
    assert parse_template("/").segments[0].value == ""


def test_parameter_names_do_not_change_the_shape() -> None:
    assert parse_template("/t/{a}").shape == parse_template("/t/{b:str}").shape
    assert parse_template("/t/{a}").shape != parse_template("/t/{a:int}").shape


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("api/x", "must start with '/'", id="relative"),
        pytest.param("/a//b", "empty segment", id="double-slash"),
        pytest.param("/a/../b", "dot segment", id="dot-dot"),
        pytest.param("/a/{b", "not a literal", id="unclosed-brace"),
        pytest.param("/files/{name}.csv", "not a literal", id="partial-segment-param"),
        pytest.param("/a/{x:float}", "unknown convertor 'float'", id="unknown-convertor"),
        pytest.param("/a/{p:path}/b", "must come last", id="path-not-last"),
        pytest.param("/a/{x}/{x}", "repeats parameter 'x'", id="repeated-name"),
        pytest.param("/a/%2F", "not a literal", id="percent"),
        pytest.param("/a\\b", "not a literal", id="backslash"),
        pytest.param("/{1x}", "not a literal", id="bad-name"),
    ],
)
def test_malformed_templates_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(text)


@pytest.mark.parametrize(
    ("kind_template", "segment", "fits"),
    [
        ("/{x}", "abc", True),
        ("/{x}", "", False),
        ("/{x:int}", "123", True),
        ("/{x:int}", "12a", False),
        ("/{x:uuid}", "00000000-0000-0000-0000-000000000001", True),
        ("/{x:uuid}", "not-a-uuid", False),
        ("/abc", "abc", True),
        ("/abc", "ABC", False),
    ],
)
def test_segment_matching(kind_template: str, segment: str, fits: bool) -> None:
    assert parse_template(kind_template).segments[0].matches(segment) is fits
