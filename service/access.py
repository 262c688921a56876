"""Who may call what: API keys for writes (and for reads when they are not public), CORS, rate limits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from matcher.config import Settings
from service.api_keys import ApiKeys, KeyInfo
from service.errors import ApiError

if TYPE_CHECKING:
    from flask_limiter import Limit  # for the type of `default_limits` only, not needed at run time

KEY_HEADER = "X-API-Key"
LIMITER = "techmatch.limiter"


def presented_key() -> str | None:
    """The key sent in ``X-API-Key`` or as ``Authorization: Bearer <key>``."""
    key = request.headers.get(KEY_HEADER)
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials else None


def _check_key() -> None:
    keys: ApiKeys = current_app.extensions["techmatch.keys"]
    key = presented_key()
    if key is None:
        raise ApiError(
            401, "unauthorized", f"This request needs an API key in the {KEY_HEADER} header", {"header": KEY_HEADER}
        )
    info = keys.check(key)
    if info is None:
        raise ApiError(401, "unauthorized", "The API key is not valid or was revoked", {"header": KEY_HEADER})
    g.techmatch_key = info


def current_key() -> KeyInfo | None:
    """The key that authorised this request (its id and name, never the key), or None for a public read."""
    return cast("KeyInfo | None", g.get("techmatch_key"))


def keyed(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that always needs a valid key, whatever ``public_reads`` says."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_key()
        return view(*args, **kwargs)

    return wrapper


def writes(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that changes data: it always needs a valid key."""
    wrapper = keyed(view)
    wrapper.techmatch_write = True  # type: ignore[attr-defined]
    return wrapper


def staff_reads(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that only reads but shows contacts in bulk (plan jobs, outcomes): it always needs a valid key."""
    return keyed(view)


def reads(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that only reads: it needs a key when ``public_reads`` is off; a key sent anyway must be valid."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings: Settings = current_app.extensions["techmatch"].settings
        if not settings.public_reads or presented_key() is not None:
            _check_key()  # a key sent with a public read is checked too: it shows staff the private fields
        return view(*args, **kwargs)

    return wrapper


def _limit_key() -> str:
    return get_remote_address() or "unknown"


def install_limits(app: Flask, settings: Settings) -> Limiter:
    """Per-address request limits (per worker process: the counts live in its memory)."""
    limits: list[str | Callable[[], str] | Limit] = [settings.rate_limit] if settings.rate_limit.strip() else []
    limiter = Limiter(_limit_key, app=app, default_limits=limits, storage_uri="memory://", headers_enabled=True)
    app.extensions[LIMITER] = limiter
    return limiter


def install_cors(app: Flask, settings: Settings) -> None:
    """Answer browsers from the configured origins (``cors_origins``), preflight included."""
    origins = {origin.strip().rstrip("/") for origin in settings.cors_origins.split(",") if origin.strip()}
    if not origins:
        return

    def allowed(origin: str | None) -> str | None:
        if origin is None:
            return None
        if "*" in origins:
            return "*"
        return origin if origin.rstrip("/") in origins else None

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = allowed(request.headers.get("Origin"))
        if origin is not None and request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = f"Content-Type, Authorization, {KEY_HEADER}"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
            if origin != "*":
                response.headers["Vary"] = "Origin"
        return response
