from __future__ import annotations

import random
from typing import Any

import pytest
from flask import Flask

from gateway.behaviours.canary import BUCKETS, CanaryChooser, CanaryOptions, Sticky, bucket_of
from gateway.behaviours.facts import flask_session_reader


def scope(**headers: str) -> dict[str, Any]:
    return {"headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def canary(weight: float, sticky: str | None = None) -> CanaryOptions:
    return CanaryOptions.model_validate({"target": "canary", "weight": weight, "sticky": sticky})


@pytest.mark.parametrize("weight", [10, 25, 50])
def test_proportions_over_ten_thousand_keys(weight: int) -> None:
    chooser = CanaryChooser(None)
    options = canary(weight, "header:x-user")
    new = sum(chooser.choose(options, scope(x_user=f"user-{n}")) == "new" for n in range(10_000))
    assert abs(new / 10_000 - weight / 100) < 0.02


def test_raising_the_weight_never_moves_a_key_back() -> None:
    chooser = CanaryChooser(None)
    keys = [f"user-{n}" for n in range(5_000)]
    previous: set[str] = set()
    for weight in (0, 5, 10, 25, 50, 75, 100):
        options = canary(weight, "cookie:uid")
        on_new = {k for k in keys if chooser.choose(options, scope(cookie=f"uid={k}")) == "new"}
        assert previous <= on_new
        previous = on_new
    assert previous == set(keys)


def test_same_decision_everywhere_for_a_key() -> None:
    # Nothing random, nothing per process: a fresh chooser, a fresh random source.
    a, b = CanaryChooser(None, random.Random(1)), CanaryChooser(None, random.Random(2))
    options = canary(30, "header:x-user")
    for n in range(1_000):
        request = scope(x_user=str(n))
        assert a.choose(options, request) == b.choose(options, request)
    assert bucket_of(b"user-42") == bucket_of(b"user-42") < BUCKETS


def test_requests_without_a_key_are_drawn_one_by_one() -> None:
    chooser = CanaryChooser(None, random.Random(3))
    options = canary(50, "header:x-user")
    sides = [chooser.choose(options, scope()) for _ in range(2_000)]
    assert 0.45 < sides.count("new") / 2_000 < 0.55


def test_flask_session_key_is_read_with_flasks_own_serializer() -> None:
    app = Flask("sticky")
    app.secret_key = "s3cret"

    @app.post("/login/<uid>")
    def login(uid: str) -> str:
        from flask import session

        session["user_id"] = uid
        return "ok"

    reader = flask_session_reader(app)
    assert reader is not None and reader[0] == "session"
    cookies = []
    for uid in ("u-7", "u-8"):
        response = app.test_client().post(f"/login/{uid}")
        cookies.append(response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1])
    chooser = CanaryChooser(reader)
    sticky = Sticky.model_validate("session:user_id")
    keys = [chooser.sticky_key(sticky, scope(cookie=f"session={c}")) for c in cookies]
    assert keys == [b"u-7", b"u-8"]
    assert chooser.sticky_key(sticky, scope(cookie="session=forged.value.sig")) is None


def test_apps_without_signed_sessions_have_no_reader() -> None:
    assert flask_session_reader(Flask("no-secret")) is None
    assert flask_session_reader(object()) is None
