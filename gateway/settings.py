"""Gateway settings, read from `GATEWAY_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    legacy_app: str = Field(
        "legacy_app.wsgi:app", description="WSGI application served as the legacy side"
    )
    new_app: str = Field("new_app.main:app", description="ASGI application served as the new side")
    routes_file: Path = Field(Path("config/routes.yaml"), description="the route table")
    watch_routes: bool = Field(
        True, description="reload the route table when the routes file changes"
    )
    side_header: bool = Field(True, description="add X-Gateway-Side to every response")
    access_log: bool = Field(True, description="one JSON log line per request")
    metrics_path: str = Field("/metrics", description="where Prometheus metrics are served")
    wsgi_threads: int = Field(
        16, ge=1, le=1024, description="threads that run the legacy WSGI application"
    )
    log_level: LogLevel = "info"

    @field_validator("metrics_path")
    @classmethod
    def _metrics_path_is_absolute(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("must start with '/' (or be empty to switch metrics off)")
        return value
