from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.behaviours.facts import RequestFacts, SessionReader
from gateway.behaviours.match import MatchOptions

OPTIONS = MatchOptions.model_validate(
    {
        "target": "match",
        "rules": [
            {"header": "X-Beta", "equals": 1, "side": "new"},
            {"session": "role", "in": ["admin", "agent"], "side": "new"},
            {"cookie": "stay", "present": True, "side": "legacy"},
            {"query": "beta", "in": ["yes", True], "side": "new"},
        ],
        "otherwise": "legacy",
    }
)


def _session_reader(valid: Mapping[str, Mapping[str, Any]]) -> SessionReader:
    return ("session", lambda cookie: valid.get(cookie))


def _facts(
    headers: Sequence[tuple[str, str]] = (),
    query: str = "",
    session: SessionReader | None = None,
) -> RequestFacts:
    scope = {
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
        "query_string": query.encode(),
    }
    return RequestFacts(scope, session)


@pytest.mark.parametrize(
    ("headers", "query", "decision"),
    [
        pytest.param([("X-Beta", "1")], "", ("0", "new"), id="header-equals"),
        pytest.param([("x-beta", "1")], "", ("0", "new"), id="header-name-any-case"),
        pytest.param([("X-Beta", "0"), ("X-Beta", "1")], "", ("0", "new"), id="repeated-any"),
        pytest.param([("X-Beta", "01")], "", ("otherwise", "legacy"), id="text-not-number"),
        pytest.param([("Cookie", "session=agent")], "", ("1", "new"), id="session-in"),
        pytest.param([("Cookie", "session=forged")], "", ("otherwise", "legacy"), id="forged"),
        pytest.param([("Cookie", "stay=")], "beta=yes", ("2", "legacy"), id="first-rule-wins"),
        pytest.param([], "beta=no&beta=true", ("3", "new"), id="query-repeated"),
        pytest.param([], "", ("otherwise", "legacy"), id="otherwise"),
    ],
)
def test_the_first_rule_that_holds_decides(
    headers: list[tuple[str, str]], query: str, decision: tuple[str, str]
) -> None:
    session = _session_reader({"agent": {"role": "agent"}, "customer": {"role": "customer"}})
    assert OPTIONS.decide(_facts(headers, query, session)) == decision


def test_present_false_holds_for_a_missing_or_unreadable_session() -> None:
    options = MatchOptions.model_validate(
        {"target": "match", "rules": [{"session": "user_id", "present": False, "side": "new"}]}
    )
    assert options.decide(_facts([("Cookie", "session=forged")], "", _session_reader({}))) == (
        "0",
        "new",
    )
    assert options.decide(_facts()) == ("0", "new")  # no session reader at all


def test_reaches_new_and_reads_session() -> None:
    assert OPTIONS.reaches_new and OPTIONS.reads_session
    only_legacy = MatchOptions.model_validate(
        {"target": "match", "rules": [{"header": "X-A", "present": True, "side": "legacy"}]}
    )
    assert not only_legacy.reaches_new and not only_legacy.reads_session


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"rules": []}, "needs at least one rule", id="empty-rules"),
        pytest.param({}, "rules", id="no-rules"),
        pytest.param(
            {"rules": [{"header": "A", "cookie": "b", "equals": "1", "side": "new"}]},
            "exactly one fact",
            id="two-facts",
        ),
        pytest.param({"rules": [{"equals": "1", "side": "new"}]}, "exactly one fact", id="no-fact"),
        pytest.param(
            {"rules": [{"ip": "1.2.3.4", "equals": "1", "side": "new"}]},
            "Extra inputs",
            id="unknown-fact",
        ),
        pytest.param(
            {"rules": [{"header": "A", "side": "new"}]}, "exactly one operator", id="no-operator"
        ),
        pytest.param(
            {"rules": [{"header": "A", "equals": "1", "present": True, "side": "new"}]},
            "exactly one operator",
            id="two-operators",
        ),
        pytest.param(
            {"rules": [{"header": "A", "matches": "x.*", "side": "new"}]},
            "Extra inputs",
            id="unknown-operator",
        ),
        pytest.param(
            {"rules": [{"header": "A", "equals": "1", "side": "canary"}]}, "side", id="bad-side"
        ),
        pytest.param(
            {"rules": [{"header": "A", "in": [], "side": "new"}]}, "at least 1", id="empty-in"
        ),
    ],
)
def test_malformed_rules_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MatchOptions.model_validate({"target": "match", **options})


def test_rules_describe_themselves() -> None:
    assert [rule.describe() for rule in OPTIONS.rules] == [
        "header X-Beta = '1' -> new",
        "session role in ['admin', 'agent'] -> new",
        "cookie stay present -> legacy",
        "query beta in ['yes', 'true'] -> new",
    ]
