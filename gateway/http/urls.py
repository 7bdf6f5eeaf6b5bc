"""Showing URLs without their passwords: the one masker for logs, messages and answers.

A regular expression rather than a URL parser, so that it also masks a URL that does not parse
(the one an error message is about) and URLs inside longer text.
"""

from __future__ import annotations

import re

# scheme://user:PASSWORD@host: what stands between the first ':' after '//' and the '@'.
_PASSWORD = re.compile(r"(//[^/\s:@\"'<>]*:)[^/\s@\"'<>]*@")
MASK = "***"


def masked(text: str, mark: str = MASK) -> str:
    """`text` with the password of every URL in it replaced by `mark`."""
    return _PASSWORD.sub(lambda match: f"{match[1]}{mark}@", text)
