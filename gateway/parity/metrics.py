"""The ledger's own metrics: what reached the database, and what did not."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

# written: stored; dropped: the queue was full (the ledger slower than the traffic);
# failed: the database refused or could not be reached.
LEDGER_RESULTS = ("written", "dropped", "failed")


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "gateway_ledger_records_total",
            "Shadow comparisons and route entries sent to the parity ledger, by result "
            "(written, dropped because the queue was full, failed to write).",
            ["result"],
            registry=registry,
        )
        for result in LEDGER_RESULTS:
            self.records.labels(result)  # every series present from the start, at 0
