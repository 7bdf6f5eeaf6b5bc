"""The RealWorld "Conduit" API's most common shape: a literal rule beside a variable one.

`legacy` is Flask: `GET /api/articles/feed` and `/api/articles/<slug>` are two views, and
Werkzeug matches the literal first. `new` is the FastAPI rewrite so far (the articles, not the
feed); `new_with_feed` has both, the literal declared first as Starlette needs.
"""

from __future__ import annotations

from fastapi import FastAPI
from flask import Flask

legacy = Flask("conduit")


@legacy.get("/api/articles/feed")
def articles_feed() -> dict[str, str]:
    return {"app": "legacy", "view": "feed"}


@legacy.route("/api/articles/<slug>", methods=["GET", "PUT", "DELETE"])
def get_article(slug: str) -> dict[str, str]:
    return {"app": "legacy", "view": "article", "slug": slug}


new = FastAPI()


@new.get("/api/articles/{slug}")
async def new_article(slug: str) -> dict[str, str]:
    return {"app": "new", "view": "article", "slug": slug}


new_with_feed = FastAPI()


@new_with_feed.get("/api/articles/feed")
async def new_feed() -> dict[str, str]:
    return {"app": "new", "view": "feed"}


new_with_feed.get("/api/articles/{slug}")(new_article)
