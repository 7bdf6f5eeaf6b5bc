"""Where an answer is counted: the request metrics and the access log, from one record.

A sink: it is told each answer (gateway.pipeline.outcomes publishes them) and imports nothing
above the observation layer, so the metrics and the log never disagree and never drive anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.observe.access_log import AccessLog, request_line
from gateway.observe.metrics import GatewayMetrics, method_label


# Not frozen: a frozen dataclass sets each of its 12 fields through object.__setattr__, which
# more than doubled the cost of the one built for every request. Nothing changes it.
@dataclass(slots=True)
class Answered:
    """One answer the client got, as the metrics and the access log count it."""

    request_id: bytes
    method: str
    path: str
    route: str
    side: str  # the side that answered, or "gateway" for its own answers
    status: int
    duration: float  # from the request's start (after a fallback: from legacy's call)
    client: tuple[str, int] | None = None
    target: str | None = None
    fallback_from: str | None = None
    decision: str | None = None  # what chose the side, when a chooser says (match: a rule)
    failed: bool = False  # the answer started, then the side failed: the client saw it cut


# Told each answer while its request's trace is current (gateway.observe.tracing, when tracing
# is on); gives the trace and span ids the access log line carries.
TraceHook = Callable[[Answered], tuple[str, str] | None]


class Accounting:
    def __init__(
        self, metrics: GatewayMetrics, access_log: AccessLog | None, traced: TraceHook | None = None
    ) -> None:
        self.metrics = metrics
        self.access_log = access_log
        self.traced = traced

    def record(self, answered: Answered) -> None:
        """Count one answer in the metrics, and log it."""
        route, side, method = answered.route, answered.side, method_label(answered.method)
        self.metrics.count(route, side, method, str(answered.status), answered.duration)
        if answered.failed:
            self.metrics.failed_responses.labels(route, side, method).inc()
        if self.access_log is not None or self.traced is not None:
            self.log(answered)

    def log(self, answered: Answered) -> None:
        """Write the access log line only (the gateway's own endpoints are not counted)."""
        trace = self.traced(answered) if self.traced is not None else None
        if self.access_log is not None:
            self.write(self.access_log, answered, trace)

    def write(
        self, log: AccessLog, answered: Answered, trace: tuple[str, str] | None = None
    ) -> None:
        client = answered.client
        line = request_line(
            log.now(),
            answered.request_id.decode("ascii"),
            answered.method,
            answered.path,
            answered.route,
            answered.side,
            answered.status,
            answered.duration,
            _host_port(client) if client else None,
            answered.target,
            answered.fallback_from,
            answered.decision,
            answered.failed,
            trace,
        )
        log.add(line)


def _host_port(client: tuple[str, int]) -> str:
    # An IPv6 address is bracketed, as in a URL: `2001:db8::7:4711` reads two ways.
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
