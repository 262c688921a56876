"""Who may call what: API keys for writes (and for reads when they are not public), CORS, rate limits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits.errors import ConfigurationError

from matcher.config import Settings
from matcher.errors import ConfigError
from service.api_keys import ApiKeys, KeyInfo
from service.errors import ApiError
from service.limit_storage import sqlite_uri
from service.staff_session import current_staff

if TYPE_CHECKING:
    from flask_limiter import ApplicationLimit  # for the type of `application_limits` only

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


def is_staff() -> bool:
    """A valid key came with this request, or it comes from a signed-in console session (reads only)."""
    return current_key() is not None or current_staff() is not None


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
        if presented_key() is not None or (not settings.public_reads and current_staff() is None):
            _check_key()  # a key sent with a public read is checked too: it shows staff the private fields
        return view(*args, **kwargs)

    return wrapper


def limit_key() -> str:
    """Whose budget a request spends: ``key:<id>`` for a valid API key, else ``ip:<client address>``.

    An invalid or revoked key counts against the address, so made-up keys buy no fresh budgets.
    The address is the peer's, or the one ``trusted_proxies`` hops back in X-Forwarded-For.
    """
    keys: ApiKeys = current_app.extensions["techmatch.keys"]
    info = keys.check(presented_key())
    return f"key:{info.id}" if info is not None else f"ip:{request.remote_addr or 'unknown'}"


def view_limit(
    setting: str, methods: tuple[str, ...] = ("POST",)
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view for a limit of its own on ``methods``, on top of the shared ones: the value of
    ``setting`` (flask-limiter syntax) per client, applied by :func:`install_limits`."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        view.techmatch_limit = (setting, methods)  # type: ignore[attr-defined]
        return view

    return mark


def limit_storage_uri(settings: Settings) -> str:
    """``rate_limit_storage``, or by default the SQLite file in the data folder."""
    return settings.rate_limit_storage.strip() or sqlite_uri(settings.limits_path)


def install_limits(app: Flask, settings: Settings) -> Limiter:
    """Two budgets per client, kept in one store that every worker process shares (fixed windows):
    ``rate_limit`` for all its requests together, and ``write_rate_limit`` for all its writes together.

    Call it once the views are registered: the write views get the shared write limit.
    """
    limits: list[str | Callable[[], str] | ApplicationLimit] = (
        [settings.rate_limit] if settings.rate_limit.strip() else []
    )
    uri = limit_storage_uri(settings)
    try:
        limiter = Limiter(
            limit_key,
            app=app,
            application_limits=limits,
            storage_uri=uri,
            strategy="fixed-window",
            headers_enabled=True,
            key_prefix="techmatch",
        )
    except ConfigurationError as error:
        raise ConfigError(
            f"Setting 'rate_limit_storage' cannot be used ({error}); use '' (an SQLite file in the data folder) "
            "or a storage URI such as 'redis://host:6379'",
            details={"setting": "rate_limit_storage", "value": settings.rate_limit_storage},
        ) from None
    for endpoint, view in list(app.view_functions.items()):
        own = getattr(view, "techmatch_limit", None)
        if own and getattr(settings, own[0]).strip():
            limited: Callable[..., Any] = view
            app.view_functions[endpoint] = limiter.limit(getattr(settings, own[0]), methods=list(own[1]))(limited)
    if settings.write_rate_limit.strip():
        for endpoint, view in list(app.view_functions.items()):
            if getattr(view, "techmatch_write", False):
                # Seen as one callable, not Flask's sync-or-async union, which the limiter's typing cannot split.
                write_view: Callable[..., Any] = view
                app.view_functions[endpoint] = limiter.shared_limit(settings.write_rate_limit, scope="writes")(
                    write_view
                )
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
