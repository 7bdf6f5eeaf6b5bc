"""Readiness per route, read from the ledger: how often the new side answered as the old one.

`read()` is the function other code gates on (`compared` and `match_ratio`). It opens the
ledger itself and works whether or not a gateway is running. Noise (differences only in fields
learned to differ between two runs of the same code) counts as matched; timeouts are shown but
not compared.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from gateway.parity import schema
from gateway.parity.store import LedgerError, ledger_url, open_engine, shown

COMPARED_OUTCOMES = ("match", "noise", "mismatch", "error")
MATCHED_OUTCOMES = ("match", "noise")


@dataclass(slots=True)
class SignatureCount:
    signature: str
    outcome: str  # mismatch, error, noise (a match has no difference)
    method: str
    fields: list[str]  # "status", "header:vary", "body:$.author.bio"
    kinds: dict[str, str]  # field -> missing, extra, changed, type_changed
    count: int  # in the window asked for
    first_seen: float
    last_seen: float
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class RouteParity:
    route: str
    methods: list[str] = field(default_factory=list)
    compared: int = 0
    matched: int = 0
    noise: int = 0
    mismatched: int = 0  # mismatches and errors (the new side raised where the old did not)
    errors: int = 0
    timeouts: int = 0
    last_mismatch: float | None = None
    entry_changed_at: float | None = None
    entry_hash: str | None = None
    differences: list[SignatureCount] = field(default_factory=list)
    match_samples: list[dict[str, Any]] = field(default_factory=list)
    more_signatures: int = 0  # left out of `differences` by a limit (the least frequent)

    @property
    def match_ratio(self) -> float | None:
        return self.matched / self.compared if self.compared else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["match_ratio"] = self.match_ratio
        return data

    def meets(self, ratio: float, min_compared: int) -> bool:
        found = self.match_ratio
        return self.compared >= max(min_compared, 1) and found is not None and found >= ratio


def read(
    url: str,
    *,
    route: str | None = None,
    methods: Collection[str] | None = None,
    since: float | None = None,
    samples: bool = True,
    signatures: int | None = None,
) -> list[RouteParity]:
    """Every route in the ledger (or one), figures limited to comparisons after `since`;
    with `signatures`, only that many of each route's (the most frequent), with their samples.

    Raises LedgerError when the ledger cannot be opened or read.
    """
    parsed = ledger_url(url)
    engine = open_engine(parsed, create=False)
    try:
        return _Reader(engine, route, methods, since).routes(samples, signatures)
    except DBAPIError as exc:
        raise LedgerError(f"cannot read the ledger at {shown(parsed)}: {exc.orig}") from exc
    finally:
        engine.dispose()


class _Reader:
    def __init__(
        self,
        engine: Engine,
        route: str | None,
        methods: Collection[str] | None,
        since: float | None,
    ) -> None:
        self.engine = engine
        self.route = route
        self.methods = {method.upper() for method in methods} if methods else None
        self.since = since

    def _where(self, table: Any) -> list[Any]:
        conditions = []
        if self.route is not None:
            conditions.append(table.c.route == self.route)
        if self.methods is not None:
            conditions.append(table.c.method.in_(sorted(self.methods)))
        return conditions

    def routes(self, with_samples: bool, limit: int | None = None) -> list[RouteParity]:
        with self.engine.connect() as connection:
            # A worker's first batch makes the tables one by one: until all are there, the
            # ledger is empty (not broken) to a reader that looks in between.
            tables = schema.metadata.tables.values()
            if not all(self.engine.dialect.has_table(connection, t.name) for t in tables):
                return []
            counts = connection.execute(self._counts_query()).all()
            found: dict[str, RouteParity] = {}
            signatures: dict[tuple[str, str, str, str], int] = {}
            for route, method, outcome, signature, count in counts:
                parity = found.setdefault(route, RouteParity(route))
                if method not in parity.methods:
                    parity.methods.append(method)
                _add(parity, outcome, int(count))
                if signature:
                    signatures[(route, method, outcome, signature)] = int(count)
            self._add_signatures(connection, found, signatures)
            self._add_entries(connection, found)
            for parity in found.values():
                parity.differences.sort(key=lambda s: (-s.count, s.fields))
                if limit is not None and len(parity.differences) > limit:
                    parity.more_signatures = len(parity.differences) - limit
                    del parity.differences[limit:]
            if with_samples:
                self._add_samples(connection, found, limited=limit is not None)
        for parity in found.values():
            parity.methods.sort()
        return [found[route] for route in sorted(found)]

    def _counts_query(self) -> Any:
        table = schema.counts
        conditions = self._where(table)
        if self.since is not None:
            conditions.append(table.c.minute >= int(self.since // 60))
        return (
            select(table.c.route, table.c.method, table.c.outcome, table.c.signature)
            .add_columns(func.sum(table.c.count))
            .where(and_(True, *conditions))
            .group_by(table.c.route, table.c.method, table.c.outcome, table.c.signature)
        )

    def _add_signatures(
        self,
        connection: Any,
        found: dict[str, RouteParity],
        counted: dict[tuple[str, str, str, str], int],
    ) -> None:
        table = schema.signatures
        rows = connection.execute(select(table).where(and_(True, *self._where(table)))).all()
        for row in rows:
            key = (row.route, row.method, row.outcome, row.signature)
            if key not in counted:
                continue  # not seen in the window
            pairs = json.loads(row.fields)
            parity = found[row.route]
            parity.differences.append(
                SignatureCount(
                    signature=row.signature,
                    outcome=row.outcome,
                    method=row.method,
                    fields=[name for name, _ in pairs],
                    kinds=dict(pairs),
                    count=counted[key],
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                )
            )
            if row.outcome in ("mismatch", "error"):
                last = parity.last_mismatch
                parity.last_mismatch = row.last_seen if last is None else max(last, row.last_seen)

    def _add_entries(self, connection: Any, found: dict[str, RouteParity]) -> None:
        table = schema.entries
        query = select(table)
        if self.route is not None:
            query = query.where(table.c.route == self.route)
        for row in connection.execute(query).all():
            parity = found.get(row.route)
            if parity is not None and (
                parity.entry_changed_at is None or row.changed_at > parity.entry_changed_at
            ):
                parity.entry_changed_at = row.changed_at
                parity.entry_hash = row.options_hash

    def _add_samples(
        self, connection: Any, found: dict[str, RouteParity], *, limited: bool = False
    ) -> None:
        table = schema.samples
        conditions = self._where(table)
        if self.since is not None:
            conditions.append(table.c.at >= self.since)
        if limited:  # only the samples of the signatures shown (and of matches)
            shown = {s.signature for parity in found.values() for s in parity.differences}
            conditions.append(table.c.signature.in_(sorted(shown | {""})))
        rows = connection.execute(
            select(table).where(and_(True, *conditions)).order_by(table.c.id)
        ).all()
        by_signature = {
            (parity.route, s.method, s.outcome, s.signature): s
            for parity in found.values()
            for s in parity.differences
        }
        for row in rows:
            parity = found.get(row.route)
            if parity is None:
                continue
            sample = {
                "at": row.at,
                "pid": row.pid,
                "primary": row.primary_side,
                "request": json.loads(row.request),
                "differences": json.loads(row.differences),
                "rules": json.loads(row.rules),
            }
            if not row.signature:
                parity.match_samples.append(sample)
                continue
            signature = by_signature.get((row.route, row.method, row.outcome, row.signature))
            if signature is not None:
                signature.samples.append(sample)


def _add(parity: RouteParity, outcome: str, count: int) -> None:
    if outcome == "timeout":
        parity.timeouts += count
        return
    if outcome not in COMPARED_OUTCOMES:
        return
    parity.compared += count
    if outcome in MATCHED_OUTCOMES:
        parity.matched += count
        if outcome == "noise":
            parity.noise += count
    else:
        parity.mismatched += count
        if outcome == "error":
            parity.errors += count
