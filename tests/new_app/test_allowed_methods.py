from __future__ import annotations

import pytest

from new_app.allowed_methods import AllowedMethods
from new_app.main import migrated_endpoints


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        pytest.param("/api/tickets", "GET, HEAD, POST", id="two-routes-one-path"),
        pytest.param("/api/tickets/7", "GET, HEAD, PATCH", id="typed-segment"),
        pytest.param("/health", "GET, HEAD", id="get-only"),
        pytest.param("/api/tickets/x", "", id="converter-mismatch"),
        pytest.param("/nowhere", "", id="unknown"),
    ],
)
def test_every_method_served_on_the_path(path: str, allow: str) -> None:
    assert AllowedMethods(migrated_endpoints()).header(path) == allow


def test_post_only_path_gets_no_head() -> None:
    assert AllowedMethods([("POST", "/login")]).header("/login") == "POST"
