"""The staff console's blueprint at /staff/: every view needs a signed-in staff member but sign-in itself.

Views live in the sibling modules (auth, events, catalogue, dashboard, requests), each adding its
routes to :data:`staff`; :func:`service.staff.install_staff` imports them and registers it.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask.typing import ResponseReturnValue

from service.staff_session import current_staff

staff = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")

# Endpoints a signed-out visitor may reach.
OPEN_ENDPOINTS = frozenset({"staff.sign_in"})


@staff.before_request
def _require_sign_in() -> ResponseReturnValue | None:
    if request.endpoint in OPEN_ENDPOINTS or current_staff() is not None:
        return None
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("staff.sign_in", next=request.full_path.rstrip("?")))
    return redirect(url_for("staff.sign_in"))
