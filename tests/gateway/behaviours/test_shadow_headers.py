"""The header rules of a shadow copy: validation, environment references, and application."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.behaviours.shadow import ShadowOptions, ShadowRoute
from gateway.options.headers import HIDDEN, RequestHeaderRules


def test_drop_and_set_apply_to_any_spelling_of_a_name() -> None:
    rules = RequestHeaderRules.model_validate(
        {"drop": ["Authorization", "COOKIE"], "set": {"X-Token": "test"}}
    ).resolve({})
    sent = [
        (b"authorization", b"Basic a"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"x-token", b"client"),
        (b"accept", b"*/*"),
    ]
    assert rules.apply(sent) == [(b"accept", b"*/*"), (b"x-token", b"test")]


def test_values_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHADOW_TOKEN", "abc")
    options = ShadowOptions.model_validate(
        {"request_headers": {"set": {"Authorization": "Bearer ${SHADOW_TOKEN}", "X-Cost": "$$5"}}}
    )
    route = ShadowRoute("/r", options, unsafe_allowed=False)
    assert route.header_rules.apply([]) == [
        (b"authorization", b"Bearer abc"),
        (b"x-cost", b"$5"),
    ]
    # Shown as written where the file names a variable, hidden where it holds the value.
    shown = options.model_dump(mode="json")["request_headers"]["set"]
    assert shown == {"authorization": "Bearer ${SHADOW_TOKEN}", "x-cost": HIDDEN}


@pytest.mark.parametrize(
    ("rules", "environ", "message"),
    [
        pytest.param({"drop": ["Bad Name"]}, {}, "'Bad Name' is not a header name", id="name"),
        pytest.param(
            {"set": {"X-T": "${MISSING}"}},
            {},
            "header x-t: environment variable MISSING is not set",
            id="missing-variable",
        ),
        pytest.param({"set": {"X-T": "5$"}}, {}, r"write \$\$ for a literal", id="stray-dollar"),
        pytest.param(
            {"set": {"X-T": "${LINES}"}},
            {"LINES": "a\r\nX-Evil: 1"},
            "holds a line break or control character",
            id="line-break",
        ),
        pytest.param({"set": {"X-T": "\u20ac"}}, {}, "not Latin-1 text", id="not-latin-1"),
        pytest.param({"set": {"X-T": 5}}, {}, "valid string", id="not-text"),
        pytest.param({"copy": ["x"]}, {}, "Extra inputs are not permitted", id="unknown-key"),
        pytest.param(
            {"set": {"X-Gateway-Shadow": "0"}},
            {},
            "x-gateway-shadow is the gateway's mark of a copy",
            id="set-the-copy-mark",
        ),
        pytest.param(
            {"drop": ["x-gateway-shadow"]},
            {},
            "x-gateway-shadow is the gateway's mark of a copy",
            id="drop-the-copy-mark",
        ),
        pytest.param(
            {"set": {"Content-Length": "0"}},
            {},
            "content-length frames the copied body",
            id="framing",
        ),
        pytest.param(
            {"drop": ["Transfer-Encoding"]},
            {},
            "transfer-encoding frames the copied body",
            id="framing-dropped",
        ),
        pytest.param(
            {"set": {"X-A": "1", "x-a": "2"}}, {}, "header x-a is set twice", id="set-twice"
        ),
    ],
)
def test_bad_rules_are_refused_with_the_reason(
    rules: dict[str, object], environ: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MISSING", raising=False)
    with pytest.raises(ValidationError, match=message) as caught:
        RequestHeaderRules.model_validate(rules)
    for value in environ.values():
        assert value not in str(caught.value)  # a secret is never repeated in an error


def test_the_rules_are_hashable_so_a_route_keeps_its_state_across_reloads() -> None:
    one = ShadowOptions.model_validate({"request_headers": {"set": {"X-A": "1"}}})
    two = ShadowOptions.model_validate({"request_headers": {"set": {"x-a": "1"}}})
    assert one == two and hash(one) == hash(two)
