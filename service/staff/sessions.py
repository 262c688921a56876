"""The web console's session cookie: signed with the data folder's secret, HttpOnly, SameSite=Lax,
Secure whenever the request came over TLS (directly, or as the trusted proxy says)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from pathlib import Path

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from matcher.config import Settings
from matcher.support.permissions import FILE_MODE

SESSION_COOKIE = "techmatch_session"


class TlsAwareSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set per request rather than once per app."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure) or super().get_cookie_secure(app)


def secret_key(settings: Settings) -> str:
    """``secret_key``, or the data folder's own: made once at random, owner-only, shared by every worker."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.secret_key_path
    if not path.exists():
        _create_once(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def _create_once(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` unless another process got there first (link is atomic and refuses to overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def configure_sessions(app: Flask, settings: Settings) -> None:
    app.secret_key = secret_key(settings)
    app.session_interface = TlsAwareSessions()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_hours),
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
