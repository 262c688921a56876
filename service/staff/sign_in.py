"""Signing in to the console (with an API key, or a name and password) and signing out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service.access import view_limit
from service.api_keys import ApiKeys
from service.staff.blueprint import staff
from service.staff_session import (
    KEYS_EXTENSION,
    StaffMember,
    accounts,
    current_staff,
    sign_in_session,
    sign_out_session,
)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site's console, never another site."""
    if target:
        parts = urlsplit(target)
        plain = not any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)  # no header splitting
        if plain and not parts.scheme and not parts.netloc and parts.path.startswith("/staff/") and "\\" not in target:
            return target
    return url_for("staff.home")


@staff.route("/sign-in", methods=["GET", "POST"])
@view_limit("sign_in_rate_limit")
def sign_in() -> ResponseReturnValue:
    """GET: the form. POST: an API key, or a name and password; a wrong one says so without saying which part."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_staff() is not None:
            return redirect(target)
        return render_template("staff/sign_in.html", next=target)
    key = request.form.get("api_key", "").strip()
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    member: StaffMember | None = None
    if key:
        keys: ApiKeys = current_app.extensions[KEYS_EXTENSION]
        info = keys.check(key)
        if info is not None:
            member = StaffMember(info.name, "key", key_id=info.id)
    elif name and password:
        user = accounts().check(name, password)
        if user is not None:
            member = StaffMember(user.name, "password", password_stamp=user.stamp)
    if member is None:
        flash("That API key, or that name and password, is not valid.", "error")
        return render_template("staff/sign_in.html", next=target, name=name), 401
    sign_in_session(member)
    return redirect(target)


@staff.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    sign_out_session()
    flash("You are signed out.", "info")
    return redirect(url_for("staff.sign_in"))


@staff.get("/")
def home() -> ResponseReturnValue:
    return render_template("staff/home.html")
