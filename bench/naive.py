"""The setup a team writes first: FastAPI with the whole Flask app mounted at "/" by a2wsgi.

Served by uvicorn in the benchmark (`uvicorn bench.naive:app`), as the baseline the gateway's
own WSGI bridge has to beat.
"""

from __future__ import annotations

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI

from legacy_app import create_app

app = FastAPI()
app.mount("/", WSGIMiddleware(create_app()))  # type: ignore[arg-type]
