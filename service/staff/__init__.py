"""The staff console (/staff/): sign-in, events and their review, the catalogue, the dashboard, requests.

Server-rendered pages (Jinja) whose every form carries a CSRF token (Flask-WTF); the API keeps its
own key-based access and is exempt from CSRF, since no cookie authorises a write there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from matcher.config import Settings
from matcher.errors import MatcherError
from service.errors import STATUS_OF

# Each view module adds its pages to the blueprint when imported.
from service.staff import catalogue, dashboard, events, exports, requests, sign_in  # noqa: F401
from service.staff.blueprint import staff
from service.staff.sessions import configure_sessions
from service.staff.texts import choose_language, language, translate
from service.staff_session import current_staff

CSRF_EXTENSION = "techmatch.csrf"


def _error_page(status: int, message: str, details: dict[str, Any] | None = None) -> tuple[str, int]:
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else "/staff/"
    return render_template("staff/error.html", status=status, message=message, details=details, back_url=back), status


@staff.errorhandler(MatcherError)
def _matcher_error(error: MatcherError) -> tuple[str, int]:
    return _error_page(STATUS_OF.get(type(error), 422), error.message, error.details)


@staff.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return _error_page(
        400,
        f"This form cannot be accepted: {error.description} Reload the page and try again.",
        {"field": "csrf_token"},
    )


@staff.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
    if error.code is None or error.code < 400:
        return error
    return _error_page(error.code, error.description or error.name)


def person(author: str | None) -> str:
    """An author as staff read it: ``web:Li Wei`` is Li Wei; ``key:importer`` is importer (API)."""
    if not author:
        return ""
    origin, _, name = author.partition(":")
    if not name:
        return author
    return name if origin == "web" else f"{name} (API)" if origin == "key" else author


def install_staff(app: Flask, settings: Settings, exempt: tuple[Blueprint, ...]) -> CSRFProtect:
    """Sessions, CSRF protection (all but ``exempt``), the console's template helpers, and its blueprint."""
    configure_sessions(app, settings)
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)

    @app.before_request
    def _language() -> None:
        choose_language()

    @app.context_processor
    def _template_helpers() -> dict[str, Any]:
        return {"_": translate, "lang": language(), "staff_member": current_staff()}

    @app.after_request
    def _no_store_for_staff(response: Response) -> Response:
        if request.path.startswith("/staff/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_template_filter(person, "person")
    app.register_blueprint(staff)
    app.extensions[CSRF_EXTENSION] = csrf
    return csrf
