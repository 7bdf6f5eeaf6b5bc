"""Routes files and what the parser made of them before it moved from PyYAML to ruamel.yaml.

`routes_corpus.json` was written by the PyYAML-based parser: every routes file the test suite
fed the gateway at that time (recorded over a full run, the 5,000-entry benchmark table aside),
the shipped config/routes.yaml, and hand-written files that use YAML features on which YAML 1.1
and 1.2 agree (anchors, merge keys, CRLF, a BOM, block scalars, explicit tags...). Each document
comes with the table built from it, in the form `canonical` gives, or the problems reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from gateway.routing.table import RouteTable

CORPUS_PATH = Path(__file__).with_name("routes_corpus.json")


class CorpusDocument(TypedDict, total=False):
    name: str
    text: str
    table: dict[str, Any]  # when the file was valid
    problems: list[str]  # when it was not


def canonical(table: RouteTable) -> dict[str, Any]:
    """Everything a table holds that the file decides, as JSON-comparable values."""
    return {
        "default": table.default,
        "entries": [
            {
                "path": entry.path,
                "methods": sorted(entry.methods) if entry.methods is not None else None,
                # Only what the file set: which options were given matters (e.g. to refuse
                # an option that does not fit the target), the defaults follow from the model.
                "options": entry.options.model_dump(mode="json", exclude_unset=True),
                "index": entry.index,
                "line": entry.line,
            }
            for entry in table.entries
        ],
    }


def corpus() -> list[CorpusDocument]:
    documents: list[CorpusDocument] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    return documents
