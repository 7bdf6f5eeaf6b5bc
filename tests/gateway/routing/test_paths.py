from __future__ import annotations

import pytest

from gateway.routing.paths import CanonicalPath, PathRejected, canonicalize


@pytest.mark.parametrize(
    ("raw", "path", "canonical_raw"),
    [
        pytest.param(b"/api/tickets", "/api/tickets", b"/api/tickets", id="plain"),
        pytest.param(b"/", "/", b"/", id="root"),
        pytest.param(b"//admin", "/admin", b"/admin", id="leading-double-slash"),
        pytest.param(b"///admin//x", "/admin/x", b"/admin/x", id="slash-runs"),
        pytest.param(b"/api/tickets//", "/api/tickets/", b"/api/tickets/", id="trailing-run"),
        pytest.param(b"/caf%C3%A9", "/caf\u00e9", b"/caf%C3%A9", id="utf8-escape"),
        pytest.param(b"/caf\xc3\xa9", "/caf\u00e9", b"/caf\xc3\xa9", id="raw-utf8"),
        pytest.param(b"/%61dmin", "/admin", b"/%61dmin", id="escaped-letter"),
        pytest.param(b"/a%20b", "/a b", b"/a%20b", id="space"),
        pytest.param(
            b"/.well-known/x", "/.well-known/x", b"/.well-known/x", id="dot-prefixed-name"
        ),
        pytest.param(b"/ADMIN", "/ADMIN", b"/ADMIN", id="case-kept"),
        pytest.param(b"/admin;x", "/admin;x", b"/admin;x", id="semicolon-kept"),
    ],
)
def test_canonical_forms(raw: bytes, path: str, canonical_raw: bytes) -> None:
    assert canonicalize(raw) == CanonicalPath(path, canonical_raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"/a/../admin", "'..' segment", id="dot-dot"),
        pytest.param(b"/./admin", "'.' or '..'", id="dot"),
        pytest.param(b"/admin/.", "'.' or '..'", id="trailing-dot"),
        pytest.param(b"/%2e%2E/admin", "'.' or '..'", id="encoded-dot-dot"),
        pytest.param(b"/%2fadmin", "encoded '/'", id="encoded-slash"),
        pytest.param(b"/a%2Fb", "encoded '/'", id="encoded-slash-inside"),
        pytest.param(b"/\\admin", "backslash", id="backslash"),
        pytest.param(b"/%5Cadmin", "encoded backslash", id="encoded-backslash"),
        pytest.param(b"/admin%00", "encoded control", id="encoded-nul"),
        pytest.param(b"/admin\x00", "control character", id="raw-nul"),
        pytest.param(b"/a\tb", "control character", id="tab"),
        pytest.param(b"/%FF", "not valid UTF-8", id="bad-utf8-escape"),
        pytest.param(b"/\xff", "not valid UTF-8", id="bad-utf8-raw"),
        pytest.param(b"admin", "must start with '/'", id="relative"),
        pytest.param(b"*", "must start with '/'", id="asterisk"),
    ],
)
def test_ambiguous_paths_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(PathRejected, match=reason):
        canonicalize(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"/api/tickets/%D9%A1", "digit other than 0-9", id="arabic-indic-digit"),
        pytest.param(b"/api/tickets/%EF%BC%91", "digit other than 0-9", id="fullwidth-digit"),
        pytest.param(b"/api/tickets/%E0%A5%A7", "digit other than 0-9", id="devanagari-digit"),
        pytest.param(b"/api/tickets/\xd9\xa1", "digit other than 0-9", id="raw-arabic-digit"),
        pytest.param(b"/a%C2%85b", "C1 control", id="c1-next-line"),
        pytest.param(b"/a%C2%9Bb", "C1 control", id="c1-csi"),
        pytest.param(b"/a%E2%80%A8b", "line separator", id="line-separator"),
        pytest.param(b"/a%E2%80%A9b", "line separator", id="paragraph-separator"),
        pytest.param(b"/a%E2%80%AEb", "bidirectional", id="right-to-left-override"),
        pytest.param(b"/a%E2%81%A6b", "bidirectional", id="left-to-right-isolate"),
    ],
)
def test_characters_that_fool_routers_or_log_readers_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(PathRejected, match=reason):
        canonicalize(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"/caf%C3%A9/12", id="latin-letter"),
        pytest.param(b"/%E2%91%A0", id="circled-digit-is-not-a-decimal-digit"),
        pytest.param(b"/%D8%B9%D8%B1%D8%A8%D9%8A", id="arabic-letters"),
    ],
)
def test_other_non_ascii_text_is_kept(raw: bytes) -> None:
    assert canonicalize(raw).raw == raw
