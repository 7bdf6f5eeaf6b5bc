"""Responses that are not one JSON document: the CSV export, server-sent events, files."""

from __future__ import annotations

import csv
import io
import time

import httpx

from tests.helpdesk import assert_error, token
from tests.legacy_app.conftest import UPLOAD_LIMIT
from tests.servers import ServerProcess


def test_csv_export_streams(client: httpx.Client) -> None:
    params = {"status": "open"}
    with client.stream(
        "GET", "/api/tickets/export.csv", headers=token("agent"), params=params
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        # A generator response: no length up front, so the body goes out chunked as it is made.
        assert "content-length" not in r.headers
        assert r.headers["transfer-encoding"] == "chunked"
        chunks = r.iter_bytes()
        first = next(chunks)
        assert first.startswith(b"id,title,status,")
        body = first + b"".join(chunks)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["id"] for row in rows][:3] == ["1", "4", "5"]
    assert {row["status"] for row in rows} == {"open"}
    assert rows[0]["created_at"] == "2024-03-01T09:00:00+00:00"


def test_csv_export_validates_filters_before_streaming(client: httpx.Client) -> None:
    response = client.get("/api/tickets/export.csv?priority=urgent", headers=token("agent"))
    assert_error(response, 400, "bad_request")


def test_csv_export_is_scoped_to_the_customer(client: httpx.Client) -> None:
    response = client.get("/api/tickets/export.csv", headers=token("customer2"))
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and {row["requester_id"] for row in rows} == {"5"}


def test_server_sent_events(client: httpx.Client) -> None:
    started = time.monotonic()
    with client.stream("GET", "/api/stream/events?limit=3", headers=token("agent")) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert data == [f'data: {{"seq": {n}, "user_id": 2}}' for n in (1, 2, 3)]
    assert time.monotonic() - started >= 1.0


def test_disconnecting_from_an_endless_stream_frees_the_worker(legacy: ServerProcess) -> None:
    with legacy.client() as client:
        with client.stream("GET", "/api/stream/events", headers=token("agent")) as response:
            assert next(response.iter_lines()).startswith("id: 1")
    # One sync worker: it is free again only once a write to the closed socket has failed,
    # an event or two later (0.5 s apart); the timeout leaves room for a loaded machine.
    with legacy.client() as client:
        assert client.get("/health", timeout=30.0).status_code == 200


def test_upload_and_download(client: httpx.Client) -> None:
    files = {"file": ("error log.txt", b"line 1\nline 2\n", "text/plain")}
    uploaded = client.post("/api/tickets/1/attachments", headers=token("customer"), files=files)
    assert uploaded.status_code == 201
    attachment = uploaded.json()
    assert attachment["filename"] == "error_log.txt"
    assert attachment["size"] == 14 and attachment["content_type"] == "text/plain"
    assert uploaded.headers["location"] == attachment["url"]

    downloaded = client.get(attachment["url"], headers=token("agent"))
    assert downloaded.status_code == 200
    assert downloaded.content == b"line 1\nline 2\n"
    assert downloaded.headers["content-disposition"] == "attachment; filename=error_log.txt"
    assert_error(client.get(attachment["url"], headers=token("customer2")), 404, "not_found")


def test_upload_failures(client: httpx.Client) -> None:
    missing = client.post(
        "/api/tickets/1/attachments", headers=token("agent"), data={"note": "no file"}
    )
    assert_error(missing, 422, "validation_error", "'file' is required")
    big = {"file": ("big.bin", b"x" * (UPLOAD_LIMIT + 1), "application/octet-stream")}
    too_big = client.post("/api/tickets/1/attachments", headers=token("agent"), files=big)
    message = f"Attachment exceeds the maximum size of {UPLOAD_LIMIT} bytes"
    assert_error(too_big, 413, "payload_too_large", message)
