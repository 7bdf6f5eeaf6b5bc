"""The parity ledger: lasting evidence, per route, that the new side answers as the old one does.

Every shadow comparison is recorded off the request path (`recorder`), grouped by route and by
difference signature (`signatures`), with secrets redacted (`redaction`), in SQLite or
PostgreSQL (`store`, `schema`). `readiness` reads it back per route; `export` turns its samples
into a pytest module; `command` is `gateway parity`.
"""
