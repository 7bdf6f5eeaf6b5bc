"""Settings read from the environment, shared by the legacy app and its FastAPI rewrite.

Both applications must agree on the database and on the secret that signs the session cookie,
so they read the same variables through this one module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Signs session cookies when HELPDESK_SECRET_KEY is unset. Development only: anyone who knows
# this value (it is in the source) can forge a session for any user.
DEV_SECRET_KEY = "helpdesk-dev-secret-do-not-use-in-production"
DEFAULT_DATABASE_URL = "sqlite:///helpdesk.db"
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
SESSION_COOKIE_NAME = "helpdesk_session"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEV_SECRET_KEY
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    session_cookie_name: str = SESSION_COOKIE_NAME

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("HELPDESK_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=env.get("HELPDESK_SECRET_KEY", DEV_SECRET_KEY),
            max_upload_bytes=_positive_int(
                env, "HELPDESK_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES
            ),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from exc
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value
