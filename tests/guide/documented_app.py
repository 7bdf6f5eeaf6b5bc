"""A small Flask app whose view has a docstring and a typed converter, for the OpenAPI tests."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/reports/<float:day>")
def report(day: float) -> dict[str, float]:
    """One day's report.

    Counted at midnight, in the server's time zone.
    """
    return {"day": day}
