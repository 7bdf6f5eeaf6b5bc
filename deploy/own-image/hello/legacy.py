"""Your Flask app: the legacy side (GATEWAY_LEGACY_APP=hello.legacy:app)."""

import humanize  # a dependency of your own, installed by the image's requirements.txt
from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "from Flask", "visitors": humanize.intcomma(12345)}
