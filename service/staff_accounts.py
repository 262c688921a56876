"""Staff who sign in to the web console with a name and password (set by ``matcher keys password``).

Passwords are kept only as werkzeug's salted scrypt hashes. A user's ``stamp`` (a digest of that hash,
so new with every password, even within one second) goes into each session it signs in: a new
password signs every older session out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from matcher.errors import InvalidInput, NotFound
from matcher.storage.sqlite import ThreadConnections
from matcher.support.clock import utc_now

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1000
MAX_NAME_CHARS = 100
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = generate_password_hash("not a password of anyone's")


@dataclass(frozen=True)
class StaffUser:
    name: str
    created_at: str
    updated_at: str
    disabled_at: str | None
    stamp: str  # a digest of the password hash: which password a session was made with

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class StaffAccounts:
    """The ``staff_users`` table of a catalogue database (schema version 4 or later)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)

    def set_password(self, name: str, password: str) -> StaffUser:
        """Create the user or give it a new password (and enable it again)."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise InvalidInput(
                f"A staff name has 1 to {MAX_NAME_CHARS} characters", details={"parameter": "name", "value": name}
            )
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise InvalidInput(
                f"A password has at least {MIN_PASSWORD_CHARS} characters", details={"parameter": "password"}
            )
        now = utc_now()
        with self._connections.transaction() as connection:
            connection.execute(
                "INSERT INTO staff_users (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, "
                "updated_at = excluded.updated_at, disabled_at = NULL",
                (name, generate_password_hash(password), now, now),
            )
        return self.get(name)

    def disable(self, name: str) -> StaffUser:
        self.get(name)
        with self._connections.transaction() as connection:
            connection.execute("UPDATE staff_users SET disabled_at = ? WHERE name = ?", (utc_now(), name))
        return self.get(name)

    def get(self, name: str) -> StaffUser:
        with self._connections.connect() as connection:
            row = connection.execute(
                "SELECT name, created_at, updated_at, disabled_at, password_hash FROM staff_users WHERE name = ?",
                (name,),
            ).fetchone()
        if row is None:
            raise NotFound(f"No staff user is named {name!r}", details={"parameter": "name", "value": name})
        return _user(row)

    def list(self) -> list[StaffUser]:
        with self._connections.connect() as connection:
            rows = connection.execute(
                "SELECT name, created_at, updated_at, disabled_at, password_hash FROM staff_users ORDER BY name"
            ).fetchall()
        return [_user(row) for row in rows]

    def check(self, name: str, password: str) -> StaffUser | None:
        """The active user with this name and password, else None (in about the same time either way)."""
        with self._connections.connect() as connection:
            row = connection.execute(
                "SELECT name, created_at, updated_at, disabled_at, password_hash FROM staff_users WHERE name = ?",
                (name.strip(),),
            ).fetchone()
        if row is None:
            check_password_hash(_UNKNOWN_USER_HASH, password)
            return None
        if not check_password_hash(row[4], password):
            return None
        user = _user(row)
        return user if user.active else None


def _user(row: tuple[str, str, str, str | None, str]) -> StaffUser:
    return StaffUser(*row[:4], stamp=hashlib.sha256(row[4].encode("utf-8")).hexdigest()[:32])
