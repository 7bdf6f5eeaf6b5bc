"""Where the rollout's parity gate meets the parity ledger.

The gate reads a `ParitySource` (gateway.rollout.decide): per route and methods, how many
answers were compared and the share that matched. Here that is the ledger's readiness
(gateway.parity.readiness), over every comparison it still keeps (its retention).
"""

from __future__ import annotations

import logging

from gateway.parity.readiness import read
from gateway.parity.store import LedgerError
from gateway.rollout.decide import NoParity, ParityFigures, ParitySource
from gateway.settings import GatewaySettings

logger = logging.getLogger("gateway.rollout")


class LedgerParity:
    def __init__(self, url: str) -> None:
        self.url = url

    def parity(self, route: str, methods: frozenset[str] | None) -> ParityFigures | None:
        try:
            found = read(self.url, route=route, methods=methods, samples=False)
        except LedgerError as exc:
            # A ledger that cannot be read is no evidence: the gate holds and says so.
            logger.warning("parity gate: %s", exc)
            return None
        compared = sum(parity.compared for parity in found)
        if not compared:
            return None
        matched = sum(parity.matched for parity in found)
        return ParityFigures(compared=compared, match_ratio=matched / compared)


def ledger_parity(settings: GatewaySettings) -> ParitySource:
    if not settings.ledger:
        return NoParity()
    return LedgerParity(settings.ledger_location)
