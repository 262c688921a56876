"""What every console view reads: the data folder's matcher, its event store, and who is signed in."""

from __future__ import annotations

from typing import cast

from flask import abort, current_app

from matcher.engine import Matcher
from matcher.events.store import EventStore
from service.staff_session import current_staff

MATCHER_EXTENSION = "techmatch"
EVENTS_EXTENSION = "techmatch.events"


def staff_matcher() -> Matcher:
    return cast(Matcher, current_app.extensions[MATCHER_EXTENSION])


def event_store() -> EventStore:
    return cast(EventStore, current_app.extensions[EVENTS_EXTENSION])


def author() -> str:
    """The signed-in member as stores and the audit trail name them (``web:<name>``). The blueprint lets
    no signed-out visitor reach a view; should one get here anyway, 401 rather than an unnamed author."""
    member = current_staff()
    if member is None:
        abort(401)
    return member.author
