"""Each table loaded, checked against both sides' own routers: warned about, counted, served.

`gateway check` refuses an entry that captures an endpoint its side's router sends elsewhere
(gateway.frameworks.agreement); a running gateway logs it as a warning at start-up and on each
reload and shows the count in `gateway_route_conflicts`, and keeps loading the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.control.reloading import TableReview
from gateway.frameworks.agreement import RouterAgreement
from gateway.observe.metrics import GatewayMetrics
from gateway.routing.table import RouteTable
from gateway.side_names import SIDE_NAMES

logger = logging.getLogger("gateway.reload")


def router_review(
    legacy_app: object, new_app: object | None, metrics: GatewayMetrics
) -> TableReview:
    """A review of each table against the two applications' routers (read once, here)."""
    try:
        agreement = RouterAgreement.of(legacy_app, new_app)
    except Exception:
        # A router that cannot be listed must not keep the gateway from starting: its apps are
        # served all the same, the table just goes unchecked.
        logger.exception("the apps' routers could not be read: the route table is not checked")
        return lambda table: ()

    def review(table: RouteTable) -> Sequence[str]:
        try:
            conflicts = agreement.conflicts(table)
        except Exception:
            # A warning's bug must not refuse a table that serves: it loads unchecked.
            logger.exception("the route table could not be checked against the apps' routers")
            return ()
        for side in SIDE_NAMES:
            metrics.route_conflicts.labels(side).set(sum(c.side == side for c in conflicts))
        return [conflict.message() for conflict in conflicts]

    return review
