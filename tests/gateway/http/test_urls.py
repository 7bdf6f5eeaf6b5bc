"""The one URL masker: a password never shows, whatever the URL or the text around it."""

from __future__ import annotations

import pytest

from gateway.http.urls import masked


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("postgresql://u:s3cret@db/x", "postgresql://u:***@db/x", id="url"),
        pytest.param("http://u@host/x", "http://u@host/x", id="no-password"),
        pytest.param("http://host:9090/api", "http://host:9090/api", id="a-port-is-no-password"),
        pytest.param("http://:pw@host", "http://:***@host", id="no-user"),
        pytest.param("http://u:@host", "http://u:***@host", id="empty-password"),
        pytest.param(
            "'a://u:p@h' and b://v:q@i", "'a://u:***@h' and b://v:***@i", id="in-text-twice"
        ),
        pytest.param("not a url: p@ss", "not a url: p@ss", id="no-scheme"),
    ],
)
def test_passwords_are_masked(text: str, shown: str) -> None:
    assert masked(text) == shown
    assert "s3cret" not in masked(text)


def test_the_mark_can_be_chosen() -> None:
    assert masked("http://u:p@h", "[redacted]") == "http://u:[redacted]@h"
