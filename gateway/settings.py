"""Gateway settings, read from `GATEWAY_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.http.error_shape import DEFAULT_TEMPLATE, ErrorShape
from gateway.http.proxies import ForwardedHeader, TrustedProxies

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
WSGIBridgeName = Literal["gateway", "a2wsgi"]
WSGIConcurrency = Literal["adaptive", "fixed"]
NotifyRollbacks = Literal["auto", "controller", "gateway"]


class GatewaySettings(BaseSettings):
    # A refused value is not repeated in the error: it may hold a secret (the ledger URL's
    # password); each message names the setting, and ours show the value with it masked.
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    legacy_app: str = Field(
        "legacy_app.wsgi:app", description="WSGI application served as the legacy side"
    )
    new_app: str | None = Field(
        "new_app.main:app",
        description="ASGI application served as the new side; empty: none (every entry legacy)",
    )
    routes_file: Path = Field(Path("config/routes.yaml"), description="the route table")
    watch_routes: bool = Field(
        True, description="reload the route table when the routes file changes"
    )
    side_header: bool = Field(True, description="add X-Gateway-Side to every response")
    access_log: bool = Field(True, description="one JSON log line per request")
    access_log_to: str = Field(
        "stdout",
        description="where the access log goes, comma-separated: stdout, stderr, a file's path, "
        "or logging (the gateway.access logger, one record per line, for custom handlers); "
        "lines are written in batches every 50 ms",
    )
    metrics_path: str = Field("/metrics", description="where Prometheus metrics are served")
    metrics_auth: bool = Field(
        False,
        description="require a bearer token to read the metrics: the admin token, or the read "
        "token (GATEWAY_READ_TOKEN)",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="also serve the metrics on this port of their own (gateway serve only)",
    )
    admin_token: SecretStr | None = Field(
        None, description="bearer token of the admin API and dashboard under /_gateway/"
    )
    fallback_body_limit: int = Field(
        1 << 20,
        ge=0,
        description="request bodies up to this size are kept so that legacy can answer a request "
        "the new side failed (fallback: legacy); larger ones are not retried",
    )
    shadow_history: int = Field(
        100, ge=1, le=10_000, description="recent shadow mismatches kept for the admin API"
    )
    wsgi_threads: int = Field(
        16, ge=1, le=1024, description="threads that run the legacy WSGI application"
    )
    wsgi_concurrency: WSGIConcurrency = Field(
        "adaptive",
        description="adaptive: how many WSGI threads run calls at once follows the app, few "
        "for CPU-bound calls (extra threads only contend for the GIL), up to wsgi_threads for "
        "calls that wait on I/O (gateway_wsgi_concurrency_limit); fixed: always wsgi_threads",
    )
    wsgi_queue_timeout: float = Field(
        2.0,
        ge=0.01,  # shorter than a thread takes to wake: every call refused, threads idle
        description="a legacy request that waited this many seconds for a free thread is "
        "answered 503 with Retry-After, not run (gateway_wsgi_queue_timeouts_total); at or "
        "above wsgi_timeout, the wait is bounded by wsgi_timeout alone (504); at least 0.01",
    )
    wsgi_bridge: WSGIBridgeName = Field(
        "gateway",
        description="what serves the legacy app: the gateway's own WSGI bridge, or a2wsgi's "
        "stock WSGIMiddleware (unbounded queue, no 503, no timeouts nor body limits: the "
        "wsgi_* limits and body_timeout, max_body are ignored)",
    )
    wsgi_queue_limit: int = Field(
        64,
        ge=0,
        description="legacy requests that may wait for a free thread; more are answered 503 "
        "with Retry-After (counted in gateway_wsgi_rejected_total)",
    )
    wsgi_buffer_limit: int = Field(
        1024 * 1024,
        ge=0,
        description="a legacy response whose first chunk holds its whole declared "
        "Content-Length, up to this many bytes, is sent in one piece; anything else streams "
        "chunk by chunk as the application produces it",
    )
    wsgi_timeout: float = Field(
        30.0,
        ge=0.01,  # as wsgi_queue_timeout: shorter, calls time out waiting for an idle thread
        description="a legacy call that moves no data (reads no request body, yields no response "
        "bytes) for this many seconds is answered 504, or its response cut if it had started; "
        "its thread counts as stuck (gateway_wsgi_stuck_threads) and is replaced",
    )
    wsgi_max_stuck: int | None = Field(
        None,
        ge=0,
        description="stuck WSGI threads replaced at most (default: twice wsgi_threads); once "
        "this many are stuck the gateway reports itself unhealthy",
    )
    wsgi_body_buffer: int = Field(
        64 * 1024,
        ge=0,
        description="request bodies up to this many bytes are read on the event loop before the "
        "legacy call takes a thread, so a slow client holds none; larger ones stream to the app",
    )
    body_timeout: float = Field(
        10.0,
        gt=0,
        description="seconds to wait for the next piece of a request body; then 408",
    )
    body_min_rate: float = Field(
        500.0,
        ge=0,
        description="bytes a second a request body must average: it may take GATEWAY_BODY_TIMEOUT "
        "plus a second per this many bytes, then 408 (0: no minimum)",
    )
    max_body: int | None = Field(
        None,
        ge=0,
        description="largest request body accepted, in bytes (default: no limit); beyond it 413",
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="largest request head (request line and headers), in bytes; beyond it the "
        "server answers 431 and closes the connection (gateway serve)",
    )
    header_timeout: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="seconds a connection may take to send a complete request head, from when "
        "it opens or the previous answer ends; then it is closed, with 408 if part of a head "
        "came (gateway serve)",
    )
    worker_timeout: int = Field(
        30,
        ge=1,
        description="with --workers N: a worker whose event loop does not answer the arbiter "
        "for this many seconds is killed and replaced (gunicorn's --timeout)",
    )
    max_requests: int = Field(
        0,
        ge=0,
        description="with --workers N: a worker is replaced after about this many requests "
        "(gunicorn's --max-requests, with 10% jitter); 0 never",
    )
    new_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="seconds the new side may take to start an answer before the client gets "
        "504 (or legacy's answer, with fallback: legacy); an entry's `timeout` overrides it",
    )
    error_template: str = Field(
        DEFAULT_TEMPLATE,
        description="JSON shape of the answers the gateway gives itself (400, 408, 413, 500, "
        "503, 504); placeholders {status}, {error}, {detail}, {side}, {request_id}",
    )
    openapi_path: str | None = Field(
        None,
        description="also serve the merged OpenAPI document of both apps here, without a token "
        "(e.g. /openapi.json); unset: only at /_gateway/openapi.json, with the admin token",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="proxies (addresses and CIDRs, comma-separated; * for any) whose "
        "X-Forwarded-For/-Proto (or Forwarded) headers name the client; default: none, so the "
        "connection's own address is the client",
    )
    forwarded_header: ForwardedHeader = Field(
        "x-forwarded-for",
        description="the header the trusted proxies write: x-forwarded-for (with "
        "X-Forwarded-Proto) or forwarded (RFC 7239); the other one is ignored",
    )
    drain_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="on SIGTERM, /_gateway/health answers 503 at once and the server keeps "
        "serving this long before it stops accepting, so load balancers stop sending first",
    )
    # Progressive delivery (gateway.rollout).
    rollout: bool = Field(
        False,
        description="gateway serve also runs the rollout controller, once per host (in the "
        "supervising process); the routes file's folder must then be writable",
    )
    rollout_every: float = Field(5.0, gt=0, description="seconds between two controller passes")
    read_token: SecretStr | None = Field(
        None,
        description="bearer token for the dashboard and the admin API's GET answers only; "
        "actions (POST) need GATEWAY_ADMIN_TOKEN",
    )
    # Notifications (gateway/observe/notify.py): docs/notifications.md.
    notify_url: SecretStr | None = Field(
        None,
        description="webhook URLs (comma-separated) told each rollout step, wait for approval, "
        "pause, resume, abort and promotion, and each guard rollback; a Slack incoming webhook "
        "(hooks.slack.com) gets Slack's format, any other URL a JSON object",
    )
    notify_rollbacks: NotifyRollbacks = Field(
        "auto",
        description="who tells guard rollbacks: controller (it sees every gateway's), gateway "
        "(each gateway process its own, once per trip), or auto: the controller with "
        "GATEWAY_ROLLOUT=true, else the gateway; set controller on gateways whose fleet "
        "controller runs elsewhere (gateway rollout run)",
    )
    log_level: LogLevel = Field("info", description="how much the gateway and its server log")
    # --- sides served by another process over HTTP (gateway.sides.http) ---
    new_url: str | None = Field(
        None,
        description="serve the new side from this URL (a service of its own, e.g. "
        "http://10.0.0.5:8001) instead of GATEWAY_NEW_APP, which must then be unset or empty",
    )
    legacy_url: str | None = Field(
        None,
        description="serve the legacy side from this URL (e.g. the app under gunicorn); "
        "GATEWAY_LEGACY_APP, when given too, is imported for analysis only (the inventory, "
        "route labels, the session), never served",
    )
    new_openapi_url: str | None = Field(
        None,
        description="where the new side's OpenAPI document is (its routes and labels), read at "
        "start and on each reload; default: GATEWAY_NEW_URL + /openapi.json",
    )
    legacy_openapi_url: str | None = Field(
        None,
        description="where the legacy side's OpenAPI document is, when it publishes one; "
        "default: GATEWAY_LEGACY_URL + /openapi.json",
    )
    http_pool_size: int = Field(
        100,
        ge=1,
        le=10_000,
        description="connections to each side served over HTTP, at most; requests beyond wait "
        'for one (gateway_http_side_connections{state="waiting"})',
    )
    # --- the parity ledger (gateway/parity) ---
    data_dir: Path = Field(
        Path("data"), description="folder the gateway writes to (the SQLite parity ledger)"
    )
    ledger: bool = Field(
        True, description="record shadow comparisons in the parity ledger (`gateway parity`)"
    )
    ledger_url: str | None = Field(
        None,
        description="where the parity ledger is: sqlite:///PATH (one file per host, shared by "
        "the workers) or postgresql://USER:PASSWORD@HOST/DB (one for every replica); "
        "default: sqlite:/// + data_dir/parity.db",
    )
    ledger_queue: int = Field(
        10_000,
        ge=1,
        description="comparisons waiting to be written, at most; more are dropped and counted",
    )
    ledger_queue_bytes: int = Field(
        16 << 20,
        ge=1 << 16,
        description="bytes of comparisons waiting to be written, at most; more are dropped and "
        "counted (a slow database must not let large requests fill the memory)",
    )
    ledger_signatures_per_route: int = Field(
        100,
        ge=1,
        description="difference signatures kept per route and method; later new ones are "
        'counted together as "other"',
    )
    ledger_samples: int = Field(
        5, ge=1, le=1000, description="sample exchanges kept per route and difference signature"
    )
    ledger_retention_days: float = Field(
        14.0, gt=0, description="comparisons older than this are forgotten"
    )
    ledger_redact_headers: str = Field(
        "",
        description="comma-separated header names whose values the ledger, the mismatch log and "
        "the admin API never show, even if listed as safe",
    )
    ledger_safe_headers: str = Field(
        "",
        description="comma-separated header names whose values the ledger, the mismatch log and "
        "the admin API may show, besides the built-in safe list (Content-Type, Accept, "
        "User-Agent, ...; see docs/parity-ledger.md); every other header's value is redacted",
    )

    @property
    def notify_urls(self) -> str | None:
        return self.notify_url.get_secret_value() if self.notify_url else None

    @property
    def gateway_notifies_rollbacks(self) -> bool:
        """Whether this gateway tells its own guard rollbacks (no controller does)."""
        if self.notify_rollbacks == "auto":
            return not self.rollout
        return self.notify_rollbacks == "gateway"

    @property
    def ledger_location(self) -> str:
        return self.ledger_url or f"sqlite:///{self.data_dir / 'parity.db'}"

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips_parse(cls, value: str) -> str:
        TrustedProxies.parse(value)  # raises ValueError naming the bad item
        return value

    @field_validator("error_template")
    @classmethod
    def _error_template_is_valid(cls, value: str) -> str:
        ErrorShape(value)  # raises ValueError saying what is wrong
        return value

    @field_validator("new_app")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("openapi_path")
    @classmethod
    def _openapi_path_is_public(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        if value == "/_gateway" or value.startswith("/_gateway/"):
            raise ValueError("must be outside /_gateway/ (the admin document is there already)")
        return value

    @field_validator("notify_url")
    @classmethod
    def _notify_urls_are_http(cls, value: SecretStr | None) -> SecretStr | None:
        # Said by position, never shown: a webhook URL is a secret.
        urls = [url.strip() for url in (value.get_secret_value() if value else "").split(",")]
        for number, url in enumerate(urls, 1):
            parts = urlsplit(url) if url else None
            if parts is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
                raise ValueError(f"URL {number} is not an http:// or https:// URL with a host")
        return value if value and any(urls) else None

    @field_validator("ledger_url")
    @classmethod
    def _ledger_url_is_known(cls, value: str | None) -> str | None:
        if not value:
            return None
        from gateway.parity.store import ledger_url

        try:
            ledger_url(value)
        except RuntimeError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("metrics_path")
    @classmethod
    def _metrics_path_is_absolute(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("must start with '/' (or be empty to switch metrics off)")
        return value

    @field_validator("new_url", "legacy_url", "new_openapi_url", "legacy_openapi_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_new_side(self) -> GatewaySettings:
        # GATEWAY_NEW_APP has a default (the example); only a value given beside the URL is
        # a contradiction, and the default then means nothing.
        if self.new_url is not None and "new_app" in self.model_fields_set and self.new_app:
            raise ValueError(
                "GATEWAY_NEW_URL and GATEWAY_NEW_APP are both set: the new side is either a "
                "service at a URL or an app served in-process; unset one (GATEWAY_NEW_APP='')"
            )
        return self

    @property
    def legacy_analysis_app(self) -> str | None:
        """The legacy app to import: served, or beside GATEWAY_LEGACY_URL read only."""
        if self.legacy_url is None or "legacy_app" in self.model_fields_set:
            return self.legacy_app
        return None


def setting_help(name: str, text: str) -> str:
    """A command-line option's help for an option that sets a setting, in the style Click gives
    the options it reads from the environment itself: `[env var: GATEWAY_X; default: ...]`."""
    default = GatewaySettings.model_fields[name].default
    shown = "unset" if default is None else (str(default) or "empty")
    return f"{text}  [env var: GATEWAY_{name.upper()}; default: {shown}]"
