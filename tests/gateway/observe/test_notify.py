"""The notifier: each notice posted to every URL in the background, retried with backoff,
bounded, in Slack's format for a Slack webhook, and its URLs' secrets never logged."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from gateway.observe.notify import Notice, Notifier, body_for, shown
from tests.waiting import wait_for
from tests.webhook_receiver import webhook_receiver

NOTICE = Notice(
    "rollout_step",
    "/api/tickets",
    "Rollout of GET /api/tickets stepped to 50%",
    "gates passed: weight 50%",
    None,
    ("GET",),
    {"error_ratio": 0.001, "new_requests": 200},
    {"step": 2, "weight": 50},
)


def test_a_notice_reaches_every_url_as_json() -> None:
    with webhook_receiver() as (first, hooks_a), webhook_receiver() as (second, hooks_b):
        notifier = Notifier([first, second])
        notifier.notify(NOTICE)
        wait_for(lambda: len(hooks_a.bodies) == 1 and len(hooks_b.bodies) == 1, what="both")
        notifier.close()
    body = hooks_a.bodies[0]
    assert body["event"] == "rollout_step"
    assert body["route"] == "/api/tickets"
    assert body["methods"] == ["GET"]
    assert body["reason"] == "gates passed: weight 50%"
    assert body["figures"] == {"error_ratio": 0.001, "new_requests": 200}
    assert body["step"] == 2 and body["weight"] == 50


def test_a_failed_post_is_retried_and_a_refused_one_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with webhook_receiver() as (url, hooks):
        hooks.failures = [503, 500]  # two failures, then accepted
        notifier = Notifier([url], first_pause=0.01)
        notifier.notify(NOTICE)
        wait_for(lambda: len(hooks.bodies) == 1, what="the notice, third time lucky")
        assert hooks.posts == 3
        hooks.failures = [404]  # a webhook that is gone: asking again will not help
        with caplog.at_level(logging.WARNING, logger="gateway.notify"):
            notifier.notify(NOTICE)
            wait_for(notifier.idle, what="the refused notice given up")
        notifier.close()
    assert hooks.posts == 4 and len(hooks.bodies) == 1
    failed = json.loads(caplog.records[-1].getMessage())
    assert failed["event"] == "notify_failed" and failed["error"] == "HTTP 404"
    assert failed["retry"] is False


def test_retries_are_bounded() -> None:
    with webhook_receiver() as (url, hooks):
        hooks.failures = [500] * 10
        notifier = Notifier([url], first_pause=0.01, attempts=3)
        notifier.notify(NOTICE)
        wait_for(notifier.idle, what="the notice given up")
        notifier.close()
    assert hooks.posts == 3 and hooks.bodies == []


def test_notify_never_blocks_and_drops_what_does_not_fit() -> None:
    release = threading.Event()
    sent: list[str] = []
    dropped: list[int] = []

    def slow(url: str, body: bytes) -> None:
        release.wait(30)
        sent.append(url)

    notifier = Notifier(
        ["http://hook"], send=slow, queue_size=2, on_dropped=lambda: dropped.append(1)
    )
    for _ in range(6):
        notifier.notify(NOTICE)  # one being sent, two waiting, the rest dropped
    assert len(dropped) >= 3
    release.set()
    wait_for(notifier.idle, what="the queued notices sent")
    notifier.close()
    assert len(sent) == 6 - len(dropped)


def test_the_logs_never_show_a_webhook_url_secret(caplog: pytest.LogCaptureFixture) -> None:
    url = "http://user:hunter2@127.0.0.1:9/services/T000/B000/XXXXSECRET"
    notifier = Notifier([url], attempts=1)
    with caplog.at_level(logging.WARNING, logger="gateway.notify"):
        notifier.notify(NOTICE)
        wait_for(notifier.idle, what="the unreachable webhook given up")
    notifier.close()
    text = caplog.text
    assert "127.0.0.1:9" in text
    assert "hunter2" not in text and "XXXXSECRET" not in text and "user" not in text
    assert shown(url) == "http://127.0.0.1:9/..."


def test_a_slack_webhook_gets_slacks_format() -> None:
    body = json.loads(body_for("https://hooks.slack.com/services/T/B/X", NOTICE))
    assert body["text"] == "Rollout of GET /api/tickets stepped to 50%: gates passed: weight 50%"
    section, figures = body["blocks"]
    assert "`/api/tickets` GET: gates passed" in section["text"]["text"]
    assert {"type": "mrkdwn", "text": "*new_requests*: 200"} in figures["fields"]
    assert json.loads(body_for("https://example.com/hook", NOTICE))["event"] == "rollout_step"
