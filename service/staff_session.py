"""Who is signed in to the console: a staff member's name, and how they signed in (an API key or a password).

The signed session cookie holds the name, and the key's id or a stamp of the password's hash; every
request checks that the key is still active, or the user still enabled with the same password, so
a revoked key or a new password ends its sessions at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app, g, session

from matcher.errors import NotFound
from service.api_keys import ApiKeys
from service.staff_accounts import StaffAccounts

KEYS_EXTENSION = "techmatch.keys"
ACCOUNTS_EXTENSION = "techmatch.staff_accounts"
SESSION_FIELD = "staff"


@dataclass(frozen=True)
class StaffMember:
    name: str
    via: str  # "key" or "password"
    key_id: int | None = None
    password_stamp: str | None = None  # from StaffAccounts.stamp: changes with every new password

    @property
    def author(self) -> str:
        """How the audit trail names this person: ``web:<name>``, as the API names ``key:<name>``."""
        return f"web:{self.name}"


def accounts() -> StaffAccounts:
    return cast(StaffAccounts, current_app.extensions[ACCOUNTS_EXTENSION])


def sign_in_session(member: StaffMember) -> None:
    """A fresh session for ``member``: nothing of the signed-out session is carried over but its language."""
    language = session.get("lang")
    session.clear()
    if language is not None:
        session["lang"] = language
    session.permanent = True
    session[SESSION_FIELD] = {
        "name": member.name,
        "via": member.via,
        "key_id": member.key_id,
        "password_stamp": member.password_stamp,
    }


def sign_out_session() -> None:
    session.clear()


def _still_valid(member: StaffMember) -> bool:
    if member.via == "key":
        keys: ApiKeys = current_app.extensions[KEYS_EXTENSION]
        return keys.is_active(member.key_id)
    try:
        user = accounts().get(member.name)
    except NotFound:  # the user was removed
        return False
    return user.active and user.stamp == member.password_stamp


def current_staff() -> StaffMember | None:
    """The signed-in staff member of this request, or None (checked once per request)."""
    if "techmatch_staff_checked" in g:
        return cast("StaffMember | None", g.techmatch_staff)
    stored = session.get(SESSION_FIELD)
    member = None
    if isinstance(stored, dict):
        candidate = StaffMember(
            str(stored.get("name", "")),
            str(stored.get("via", "")),
            stored.get("key_id"),
            stored.get("password_stamp"),
        )
        if candidate.name and candidate.via in ("key", "password") and _still_valid(candidate):
            member = candidate
        else:
            session.clear()
    g.techmatch_staff_checked = True
    g.techmatch_staff = member
    return member
