"""The Flask application factory. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from matcher.config import Settings, load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.events.store import EventStore
from service.access import install_cors, install_limits
from service.api import api
from service.api_keys import ApiKeys
from service.errors import register_error_handlers
from service.headers import install_security_headers
from service.json_provider import OrjsonProvider
from service.plan_jobs import PlanJobs
from service.staff import install_staff
from service.staff_accounts import StaffAccounts
from service.staff_session import ACCOUNTS_EXTENSION, KEYS_EXTENSION
from service.web import web

EXTENSION = "techmatch"
JOBS_EXTENSION = "techmatch.plan_jobs"
EVENTS_EXTENSION = "techmatch.events"


def create_app(config: Settings | Mapping[str, Any] | None = None, matcher: Matcher | None = None) -> Flask:
    """Build the app from settings (or a mapping of setting overrides), with its own :class:`Matcher`,
    API keys and plan jobs (server concerns, so they live here rather than in the library).

    The model loads on the first request that needs it, not here.
    """
    settings = config if isinstance(config, Settings) else load_settings(**dict(config or {}))
    app = Flask(__name__, static_folder=None)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions[EXTENSION] = matcher or open_matcher(settings)
    app.extensions[KEYS_EXTENSION] = ApiKeys(settings.catalogue_path)
    app.extensions[ACCOUNTS_EXTENSION] = StaffAccounts(settings.catalogue_path)
    app.extensions[EVENTS_EXTENSION] = EventStore(settings.catalogue_path)
    app.extensions[JOBS_EXTENSION] = PlanJobs(settings.catalogue_path, settings.plan_workers, settings.plan_queue)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(web)
    install_staff(app, settings, exempt=(api,))
    install_limits(app, settings)
    if settings.trusted_proxies:  # the client's address and scheme (TLS or not) as that many proxies saw them
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    install_cors(app, settings)
    install_security_headers(app)
    register_error_handlers(app)
    return app
