"""Requests for an introduction, sent from the public page and kept for staff (``/staff/requests``).

A visitor asks to be introduced to a project or a need; staff read the request and mark it
handled or spam. Sending is public, so each request must get past cheap bot defences first: a
signed form token (:class:`FormTokens`) that must be some seconds old, a honeypot field, length and
contact-shape limits (the contract), the record's existence, and a refusal of the same contact's
repeat for the same record within a window; the per-client rate limit is the view's.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import time
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from matcher.errors import InvalidInput, NotFound
from matcher.records import Kind
from matcher.storage.sqlite import MAX_ID, ThreadConnections
from matcher.support.clock import utc_now


class RequestState(str, Enum):
    NEW = "new"
    HANDLED = "handled"
    SPAM = "spam"


class AnswerLanguage(str, Enum):
    """The languages a requester may be answered in: the page's two."""

    EN = "en"
    ZH = "zh"


STATES = tuple(state.value for state in RequestState)
TOKEN_MAX_AGE = 24 * 3600  # a form left open longer asks for a new token
TOKEN_SALT = "techmatch.introduction-request"

# The shapes a contact may take: an e-mail address, or a phone number (digits with single spaces,
# dashes or brackets between them, an optional leading +). The contract's pattern is this one.
# White space and control characters spelt out, not as \s: regex dialects disagree on which those are.
_NOT_IN_EMAIL = r"@\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff<>()\[\],;:\""
EMAIL = f"[^{_NOT_IN_EMAIL}]{{1,64}}@[^{_NOT_IN_EMAIL}.]{{1,63}}(?:\\.[^{_NOT_IN_EMAIL}.]{{1,63}})+"
PHONE = r"\+?\(?[0-9](?:[ ()\-]{0,2}[0-9]){5,19}"
CONTACT = f"^(?:{EMAIL}|{PHONE})$"
_CONTACT = re.compile(CONTACT)


def contact_shape(contact: str) -> str | None:
    """``"email"`` or ``"phone"`` for a contact of either shape, else None."""
    if not _CONTACT.match(contact):
        return None
    return "email" if "@" in contact else "phone"


class TooSoon(Exception):
    """A form token younger than the least time a person needs: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class FormTokens:
    """Signed, timestamped tokens for the request form: issued on opening it, checked on sending it."""

    def __init__(self, secret: str | bytes, min_seconds: float, clock: Any = time.time) -> None:
        self._signer = TimestampSigner(secret, salt=TOKEN_SALT)
        self.min_seconds = min_seconds
        self._clock = clock

    def issue(self) -> str:
        return self._signer.sign(secrets.token_urlsafe(12)).decode("ascii")

    def check(self, token: str) -> None:
        """Accept a genuine token at least ``min_seconds`` old; :class:`InvalidInput` (a forged or stale one)
        or :class:`TooSoon` otherwise."""
        try:
            _, issued = self._signer.unsign(token, max_age=TOKEN_MAX_AGE, return_timestamp=True)
        except SignatureExpired:
            raise InvalidInput(
                "The form has been open too long; reload the page and send it again", details={"parameter": "token"}
            ) from None
        except BadSignature:
            raise InvalidInput(
                "The form's token is not valid; reload the page and send it again", details={"parameter": "token"}
            ) from None
        age = self._clock() - issued.timestamp()
        if age < self.min_seconds:
            raise TooSoon(max(1, math.ceil(self.min_seconds - age)))


@dataclass(frozen=True)
class IntroRequest:
    id: int
    kind: str
    record_id: str
    requester_name: str
    requester_contact: str
    organisation: str
    message: str
    language: str
    client: str
    state: str
    handled_by: str | None
    handled_at: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = (
    "id, kind, record_id, requester_name, requester_contact, organisation, message, language, client, "
    "state, handled_by, handled_at, created_at"
)


class IntroRequests:
    """The ``introduction_requests`` table of a catalogue database (schema version 4)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self._connect = self._connections.connect

    def create(
        self,
        kind: Kind,
        record_id: str,
        name: str,
        contact: str,
        *,
        organisation: str = "",
        message: str = "",
        language: str = "en",
        client: str = "",
        duplicate_minutes: float = 0.0,
    ) -> IntroRequest:
        """Store a new request; a request from the same contact for the same record within
        ``duplicate_minutes`` is refused (:class:`InvalidInput` naming ``contact``, with ``duplicate``)."""
        now = utc_now()
        with self._connections.transaction() as connection:
            if duplicate_minutes > 0:
                since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=duplicate_minutes)).isoformat(
                    timespec="seconds"
                )  # utc_now()'s form, which sorts as text
                row = connection.execute(
                    "SELECT id FROM introduction_requests WHERE kind = ? AND record_id = ? "
                    "AND lower(requester_contact) = lower(?) AND created_at >= ? AND state != 'spam'",
                    (kind.value, record_id, contact, since),
                ).fetchone()
                if row is not None:
                    raise InvalidInput(
                        f"This contact already asked for an introduction to {record_id} in the last "
                        f"{duplicate_minutes:g} minutes; staff will answer that request",
                        details={"parameter": "contact", "duplicate": True, "request": int(row[0])},
                    )
            cursor = connection.execute(
                "INSERT INTO introduction_requests (kind, record_id, requester_name, requester_contact, "
                "organisation, message, language, client, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind.value, record_id, name, contact, organisation, message, language, client, now),
            )
            request_id = int(cursor.lastrowid or 0)
        return self.get(request_id)

    def get(self, request_id: int) -> IntroRequest:
        if not 0 < request_id <= MAX_ID:  # SQLite cannot even look up a larger id (OverflowError)
            raise NotFound(
                f"There is no introduction request {request_id}", details={"parameter": "id", "value": request_id}
            )
        with self._connect() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM introduction_requests WHERE id = ?", (request_id,)
            ).fetchone()
        if row is None:
            raise NotFound(
                f"There is no introduction request {request_id}", details={"parameter": "id", "value": request_id}
            )
        return IntroRequest(*row)

    def list(self, state: str | None = None, limit: int = 500) -> list[IntroRequest]:
        """Requests newest first, of one state or all."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"'state' must be one of {list(STATES)}, got {state!r}", details={"parameter": "state"})
        where, parameters = ("WHERE state = ?", (state,)) if state else ("", ())
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM introduction_requests {where} ORDER BY id DESC LIMIT ?",
                (*parameters, limit),
            ).fetchall()
        return [IntroRequest(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as connection:
            rows = connection.execute("SELECT state, COUNT(*) FROM introduction_requests GROUP BY state").fetchall()
        found = dict(rows)
        return {state: int(found.get(state, 0)) for state in STATES}

    def mark(self, request_id: int, state: str, author: str) -> IntroRequest:
        """Set a request's state (handled, spam, or back to new), recording who did it and when."""
        if state not in STATES:
            raise InvalidInput(f"'state' must be one of {list(STATES)}, got {state!r}", details={"parameter": "state"})
        self.get(request_id)
        with self._connections.transaction() as connection:
            connection.execute(
                "UPDATE introduction_requests SET state = ?, handled_by = ?, handled_at = ? WHERE id = ?",
                (state, author, utc_now(), request_id),
            )
        return self.get(request_id)


EXTENSION = "techmatch.intro_requests"


def store() -> IntroRequests:
    """The app's store of requests (made on first use, on the app's catalogue)."""
    from flask import current_app

    found = current_app.extensions.get(EXTENSION)
    if found is None:
        found = current_app.extensions.setdefault(
            EXTENSION, IntroRequests(current_app.extensions["techmatch"].settings.catalogue_path)
        )
    return found  # type: ignore[no-any-return]


def form_tokens() -> FormTokens:
    """Tokens signed with the app's secret (that of its sessions), as old as the settings require."""
    from flask import current_app

    settings = current_app.extensions["techmatch"].settings
    return FormTokens(current_app.secret_key or "", settings.introduction_request_min_seconds)
