"""The guide as a running gateway serves it: the inventory and the merged OpenAPI document.

Listing and analysing the legacy app is done once, on first use, in a worker thread (it reads
every module of the app's package; a gateway that is never asked does not pay for it). Each
answer then places the endpoints in the route table in force and, for the inventory, adds the
traffic counted by this gateway's own metrics (all workers).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.control.reloading import LiveRouteTable
from gateway.guide.inventory import Catalogue, LedgerParity, records
from gateway.guide.openapi import merged, new_document
from gateway.guide.traffic import Traffic
from gateway.observe.metrics import collect

logger = logging.getLogger("gateway")


class GuideUnavailable(RuntimeError):
    """The legacy app could not be listed or analysed; the message says why."""


class Guide:
    def __init__(
        self,
        *,
        legacy_app: object,
        new_app: object | None,
        live: LiveRouteTable,
        registry: CollectorRegistry,
        ledger: str | None = None,
    ) -> None:
        self.legacy_app = legacy_app
        self.new_app = new_app
        self.live = live
        self.registry = registry
        self.ledger = ledger  # the parity ledger's URL, read per answer (in a thread)
        self._lock = asyncio.Lock()
        self._built: tuple[Catalogue, dict[str, Any] | None] | None = None

    async def _static(self) -> tuple[Catalogue, dict[str, Any] | None]:
        async with self._lock:
            if self._built is None:
                try:
                    self._built = await asyncio.to_thread(self._build)
                except RecursionError as exc:
                    # Its traceback is thousands of lines of the same frame: one line says it.
                    logger.error("the migration guide could not read the apps: %r", exc)
                    raise GuideUnavailable(f"{type(exc).__name__}: {exc}") from exc
                except Exception as exc:
                    logger.exception("the migration guide could not read the apps")
                    raise GuideUnavailable(f"{type(exc).__name__}: {exc}") from exc
            return self._built

    def _build(self) -> tuple[Catalogue, dict[str, Any] | None]:
        return Catalogue.build(self.legacy_app, self.new_app), new_document(self.new_app)

    async def inventory(self) -> dict[str, Any]:
        catalogue, _ = await self._static()
        traffic = Traffic()
        traffic.add(collect(self.registry))
        parity = await asyncio.to_thread(LedgerParity.read, self.ledger)
        return records(catalogue, self.live.table, traffic, parity)

    async def openapi(self) -> dict[str, Any]:
        catalogue, document = await self._static()
        return merged(catalogue, self.live.table, document, self.new_app)
