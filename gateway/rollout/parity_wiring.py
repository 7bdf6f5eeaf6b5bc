"""Where the rollout's parity gate meets the parity ledger.

The gate reads a `ParitySource` (gateway.rollout.decide): per route and methods, how many
answers were compared and the share that matched. The ledger (gateway/parity/) is built
separately; until it is wired in here, the gate has no evidence and every rollout with
`min_match_ratio` holds, saying so.
"""

from __future__ import annotations

from gateway.rollout.decide import NoParity, ParitySource
from gateway.settings import GatewaySettings


def ledger_parity(settings: GatewaySettings) -> ParitySource:
    # LEDGER WIRING: return an adapter over the parity ledger's read function here.
    return NoParity()
