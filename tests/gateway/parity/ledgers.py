"""Building ledgers and shadow copies in-process for the unit tests."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.behaviours.shadow import Copy, ShadowOptions, ShadowRoute
from gateway.compare import Answer
from gateway.parity.metrics import LedgerMetrics
from gateway.parity.recorder import Ledger
from gateway.parity.redaction import Redactor
from gateway.parity.store import (
    LedgerWriter,
    Observation,
    ensure_schema,
    ledger_url,
    open_engine,
)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'parity.db'}"


def make_ledger(
    url: str, *, registry: CollectorRegistry | None = None, samples: int = 3, queue_size: int = 100
) -> Ledger:
    return Ledger(
        ledger_url(url),
        LedgerMetrics(registry or CollectorRegistry()),
        redactor=Redactor(),
        queue_size=queue_size,
        samples_per_signature=samples,
        retention_seconds=86400,
        interval=0.02,
    )


def make_copy(
    route: str = "/authors/{id}",
    path: str = "/authors/1",
    *,
    method: str = "GET",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    options: ShadowOptions | None = None,
    body: bytes = b"",
) -> Copy:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers or [(b"accept", b"application/json")],
    }
    shadow_route = ShadowRoute(route, options or ShadowOptions(), False)
    return Copy(shadow_route, "legacy", scope, body, Answer(status=200), 0.01)


def written(registry: CollectorRegistry, result: str) -> float:
    return registry.get_sample_value("gateway_ledger_records_total", {"result": result}) or 0.0


def write(url: str, observations: list[Observation]) -> None:
    """Observations straight into the ledger, at the times they carry."""
    engine = open_engine(ledger_url(url), create=True)
    ensure_schema(engine)
    LedgerWriter(engine, 3).write(observations, [])
    engine.dispose()


def seen(at: float, outcome: str = "match", method: str = "GET", route: str = "/r") -> Observation:
    signature = "" if outcome == "match" else "abc"
    fields = [] if not signature else [("body:$.value", "changed")]
    return Observation(route, method, outcome, signature, fields, at)
