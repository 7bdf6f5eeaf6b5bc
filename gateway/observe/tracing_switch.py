"""Whether OpenTelemetry tracing is on: read from the standard OTEL_* variables, importing none
of OpenTelemetry, so a gateway without tracing (or without the `otel` extra) never loads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

# The variables that turn tracing on, as OpenTelemetry's own SDKs name them.
EXPORTER = "OTEL_TRACES_EXPORTER"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
DISABLED = "OTEL_SDK_DISABLED"


def tracing_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """On when an exporter or an OTLP endpoint is named and the SDK is not disabled.

    `OTEL_TRACES_EXPORTER=none` names no exporter: tracing stays off, as the SDK reads it.
    """
    env = os.environ if environ is None else environ
    if env.get(DISABLED, "").strip().lower() == "true":
        return False
    exporter = env.get(EXPORTER, "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get(ENDPOINT, "").strip() or env.get(TRACES_ENDPOINT, "").strip())
