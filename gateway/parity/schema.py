"""The ledger's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Counts are kept per minute, so any window (`--since`) can be summed from them; a signature's
totals and first and last sighting are kept beside, and a few samples per signature.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, Table, Text

metadata = MetaData()

_KEY = ("route", "method", "outcome", "signature")

counts = Table(
    "parity_counts",
    metadata,
    Column("route", Text, primary_key=True),
    Column("method", Text, primary_key=True),
    Column("outcome", Text, primary_key=True),  # match, noise, mismatch, error, timeout
    Column("signature", Text, primary_key=True),  # "" for a match
    Column("minute", BigInteger, primary_key=True),  # Unix time // 60
    Column("count", BigInteger, nullable=False),
)

signatures = Table(
    "parity_signatures",
    metadata,
    Column("route", Text, primary_key=True),
    Column("method", Text, primary_key=True),
    Column("outcome", Text, primary_key=True),
    Column("signature", Text, primary_key=True),
    Column("fields", Text, nullable=False),  # JSON: [[field, kind], ...]
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
)

samples = Table(
    "parity_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("pid", Integer, nullable=False),  # the worker process that compared
    Column("primary_side", Text, nullable=False),
    Column("request", Text, nullable=False),  # JSON, redacted (gateway.parity.redaction)
    Column("differences", Text, nullable=False),  # JSON, redacted
    Column("rules", Text, nullable=False),  # JSON: how the route compared (export uses them)
    Index("parity_samples_by_signature", *_KEY),
)

entries = Table(
    "parity_entries",
    metadata,
    Column("route", Text, primary_key=True),
    Column("methods", Text, primary_key=True),  # "GET,POST", or "" for every method
    Column("options_hash", Text, nullable=False),
    Column("changed_at", Float, nullable=False),  # when this hash was first loaded
    Column("loaded_at", Float, nullable=False),
)
