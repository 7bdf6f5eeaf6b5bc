from __future__ import annotations

import pytest

from gateway.config.routes_file import RoutesFileError, parse_routes

NEW_ROUTE = "routes:\n  - path: /a\n    target: {target}\n{extra}"


def parse(target: str, extra: str = "") -> None:
    parse_routes(NEW_ROUTE.format(target=target, extra=extra).encode(), "routes.yaml")


@pytest.mark.parametrize(
    ("target", "extra"),
    [
        (
            "canary",
            "    weight: 25\n    sticky: header:X-User\n    fallback: legacy\n    guard: true\n",
        ),
        ("canary", "    weight: 0\n"),
        ("new", "    fallback: legacy\n    guard: {min_requests: 5, cooldown: 60}\n"),
        ("shadow", "    primary: new\n    shadow: {sample: 10, ignore: ['$.items[*].at']}\n"),
        ("shadow", "    shadow_unsafe: true\n"),
        # The shadow policy fits every chooser.
        ("canary", "    weight: 25\n    shadow: {timeout: 5}\n    fallback: legacy\n"),
        ("match", "    rules: [{header: X-Beta, present: true, side: new}]\n    shadow: true\n"),
        ("legacy", "    shadow: {sample: 5}\n"),
        ("new", "    shadow: {}\n    shadow_unsafe: true\n"),
    ],
)
def test_valid_options(target: str, extra: str) -> None:
    parse(target, extra)


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("canary", "", "target 'canary' needs a weight"),
        ("canary", "    weight: 101\n", "weight: Input should be less than or equal to 100"),
        ("canary", "    weight: 5\n    sticky: ip\n", "must be 'header:<name>', 'cookie:<name>'"),
        ("legacy", "    weight: 5\n", "weight cannot be used with target 'legacy'"),
        ("new", "    primary: new\n", "primary cannot be used with target 'new'"),
        ("shadow", "    fallback: legacy\n", "fallback cannot be used with target 'shadow'"),
        ("new", "    fallback: new\n", "fallback: Input should be 'legacy'"),
        ("new", "    guard: {max_error_ratio: 2}\n", "less than or equal to 1"),
        ("new", "    guard: {windw: 2}\n", "guard.windw: unknown key"),
        ("shadow", "    shadow: {ignore: ['items']}\n", "JSON path 'items' must start with '\\$'"),
        ("shadow", "    shadow: {timeout: 0}\n", "greater than 0"),
        ("new", "    shadow_unsafe: true\n", "shadow_unsafe needs a shadow policy"),
        ("canary", "    weight: 5\n    shadow: {sampel: 5}\n", "shadow.sampel: unknown key"),
    ],
)
def test_invalid_options_are_explained(target: str, extra: str, message: str) -> None:
    with pytest.raises(RoutesFileError, match=message) as caught:
        parse(target, extra)
    assert "routes[0] (line 2)" in str(caught.value)
