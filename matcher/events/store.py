"""Events, the pairs of each event's plan under review, and the audit trail of every change.

Tables ``events``, ``event_pairs`` and ``event_audit`` of the catalogue (schema version 4, see
:mod:`matcher.storage.migrations`). A pair is one (need, project) introduction of an event, in one
of four states: ``proposed`` by the plan, ``approved`` by staff, ``locked`` (kept by every
re-plan) or ``struck`` (never proposed again, with a reason). Every write adds an audit entry
with its author and time in the same transaction, so the trail and the state never disagree.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from matcher.errors import InvalidInput, NotFound
from matcher.records import Kind
from matcher.storage.sqlite import MAX_ID, ThreadConnections, select_in
from matcher.support.clock import utc_now

MAX_NAME_CHARS = 200
MAX_REASON_CHARS = 1000


class PairState(str, Enum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    LOCKED = "locked"
    STRUCK = "struck"


class PairOrigin(str, Enum):
    PLAN = "plan"
    MANUAL = "manual"


# The states a re-plan replaces: what staff have not pinned either way.
REPLACEABLE = (PairState.PROPOSED, PairState.APPROVED)


@dataclass(frozen=True)
class Event:
    """An event: its scope (``project_filters``, ``need_filters``, ``updated_since``) and plan parameters."""

    id: int
    name: str
    event_date: str | None
    scope: dict[str, Any]
    parameters: dict[str, Any]
    plan_id: str | None
    plan_diagnostics: dict[str, Any] | None
    planned_at: str | None
    created_by: str
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EventPair:
    event_id: int
    need_id: str
    project_id: str
    state: PairState
    origin: PairOrigin
    score: float | None
    strength: float | None
    rank_for_need: int | None
    rank_for_project: int | None
    explanation: str
    reason: str
    plan_id: str | None
    updated_by: str
    updated_at: str

    @property
    def key(self) -> tuple[str, str]:
        """(need id, project id)."""
        return (self.need_id, self.project_id)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value, "origin": self.origin.value}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    event_id: int
    need_id: str | None
    project_id: str | None
    action: str
    detail: dict[str, Any]
    author: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProposedPair:
    """One introduction of a new plan, as the store keeps it."""

    need_id: str
    project_id: str
    score: float | None = None
    strength: float | None = None
    rank_for_need: int | None = None
    rank_for_project: int | None = None
    explanation: str = ""


_EVENT_COLUMNS = (
    "id, name, event_date, scope, parameters, plan_id, plan_diagnostics, planned_at, created_by, created_at, updated_at"
)
_PAIR_COLUMNS = (
    "event_id, need_id, project_id, state, origin, score, strength, rank_for_need, rank_for_project, "
    "explanation, reason, plan_id, updated_by, updated_at"
)


def _event(row: Sequence[Any]) -> Event:
    return Event(
        row[0],
        row[1],
        row[2],
        json.loads(row[3]),
        json.loads(row[4]),
        row[5],
        None if row[6] is None else json.loads(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
    )


def _pair(row: Sequence[Any]) -> EventPair:
    return EventPair(
        row[0],
        row[1],
        row[2],
        PairState(row[3]),
        PairOrigin(row[4]),
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
    )


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("An event needs a name", details={"field": "name"})
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(
            f"An event's name has at most {MAX_NAME_CHARS} characters, got {len(name)}",
            details={"field": "name", "length": len(name)},
        )
    return name.strip()


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), ensure_ascii=False, sort_keys=True)


class EventStore:
    """The events tables of a catalogue database (schema version 4 or later)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)

    # -- events ------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        author: str,
        event_date: str | None = None,
        scope: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Event:
        """A new event with no plan yet. Scope and parameters are checked by the caller (the planner's rules)."""
        now = utc_now()
        with self._connections.transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO events (name, event_date, scope, parameters, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_name(name), event_date or None, _json(scope or {}), _json(parameters or {}), author, now, now),
            )
            event_id = int(cursor.lastrowid or 0)
            _audit(connection, event_id, "created", author, now, detail={"name": name.strip()})
        return self.get(event_id)

    def update(
        self,
        event_id: int,
        author: str,
        name: str | None = None,
        event_date: str | None = None,
        scope: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Event:
        """Change an event's name, date, scope or parameters (None keeps a value); the plan stays until re-planned."""
        current = self.get(event_id)
        changes: dict[str, Any] = {}
        if name is not None and _name(name) != current.name:
            changes["name"] = _name(name)
        if event_date is not None and (event_date or None) != current.event_date:
            changes["event_date"] = event_date or None
        if scope is not None and dict(scope) != current.scope:
            changes["scope"] = dict(scope)
        if parameters is not None and dict(parameters) != current.parameters:
            changes["parameters"] = dict(parameters)
        if not changes:
            return current
        now = utc_now()
        stored = {key: _json(value) if isinstance(value, dict) else value for key, value in changes.items()}
        assignments = ", ".join(f"{column} = ?" for column in stored)
        with self._connections.transaction() as connection:
            connection.execute(
                f"UPDATE events SET {assignments}, updated_at = ? WHERE id = ?", (*stored.values(), now, event_id)
            )
            _audit(connection, event_id, "edited", author, now, detail=changes)
        return self.get(event_id)

    def get(self, event_id: int) -> Event:
        if not 0 < event_id <= MAX_ID:  # SQLite cannot even look up a larger id (OverflowError)
            raise NotFound(f"Event {event_id} does not exist", details={"event_id": event_id})
        with self._connections.connect() as connection:
            row = connection.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise NotFound(f"Event {event_id} does not exist", details={"event_id": event_id})
        return _event(row)

    def list(self) -> builtins.list[Event]:
        """Every event, the most recent date first (undated last), then the newest."""
        with self._connections.connect() as connection:
            rows = connection.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY event_date IS NULL, event_date DESC, id DESC"
            ).fetchall()
        return [_event(row) for row in rows]

    # -- pairs -------------------------------------------------------------------------------

    def pairs(self, event_id: int, states: Iterable[PairState] | None = None) -> builtins.list[EventPair]:
        """The event's pairs (all, or those in ``states``), by need, then best score first."""
        self.get(event_id)
        wanted = [PairState(state).value for state in states] if states is not None else [s.value for s in PairState]
        with self._connections.connect() as connection:
            rows = list(
                select_in(
                    connection,
                    f"SELECT {_PAIR_COLUMNS} FROM event_pairs WHERE event_id = ? AND state IN ({{marks}})",
                    wanted,
                    (event_id,),
                )
            )
        pairs = [_pair(row) for row in rows]
        pairs.sort(key=lambda pair: (pair.need_id, -(pair.score or 0.0), pair.project_id))
        return pairs

    def pair(self, event_id: int, need_id: str, project_id: str) -> EventPair:
        self.get(event_id)
        with self._connections.connect() as connection:
            row = _pair_row(connection, event_id, need_id, project_id)
        if row is None:
            raise NotFound(
                f"Event {event_id} has no pair of need {need_id!r} and project {project_id!r}",
                details={"event_id": event_id, "need_id": need_id, "project_id": project_id},
            )
        return _pair(row)

    def set_state(
        self, event_id: int, need_id: str, project_id: str, state: PairState | str, author: str, reason: str = ""
    ) -> EventPair:
        """Approve, lock, strike (a reason is required) or return a pair to ``proposed``."""
        state = PairState(state)
        reason = (reason or "").strip()
        if state is PairState.STRUCK and not reason:
            raise InvalidInput("Striking a pair needs a reason", details={"field": "reason"})
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInput(
                f"A reason has at most {MAX_REASON_CHARS} characters, got {len(reason)}",
                details={"field": "reason", "length": len(reason)},
            )
        before = self.pair(event_id, need_id, project_id)
        now = utc_now()
        with self._connections.transaction() as connection:
            connection.execute(
                "UPDATE event_pairs SET state = ?, reason = ?, updated_by = ?, updated_at = ? "
                "WHERE event_id = ? AND need_id = ? AND project_id = ?",
                (state.value, reason if state is PairState.STRUCK else "", author, now, event_id, need_id, project_id),
            )
            detail: dict[str, Any] = {"from": before.state.value, "to": state.value}
            if reason:
                detail["reason"] = reason
            _audit(connection, event_id, state.value, author, now, need_id, project_id, detail)
        return self.pair(event_id, need_id, project_id)

    def add_pair(
        self, event_id: int, need_id: str, project_id: str, author: str, note: str = "", strength: float | None = None
    ) -> EventPair:
        """A pair staff add by hand: locked, so that every re-plan keeps it. Both records must exist.

        ``strength`` is its match strength when the caller knows it (the next plan scores it anyway)."""
        self.get(event_id)
        now = utc_now()
        with self._connections.transaction() as connection:
            for kind, record_id in ((Kind.NEEDS, need_id), (Kind.PROJECTS, project_id)):
                found = connection.execute(
                    "SELECT 1 FROM records WHERE kind = ? AND id = ?", (kind.value, record_id)
                ).fetchone()
                if found is None:
                    raise NotFound(
                        f"{kind.singular.capitalize()} {record_id!r} does not exist",
                        details={"field": f"{kind.singular}_id", "kind": kind.value, "id": record_id},
                    )
            existing = _pair_row(connection, event_id, need_id, project_id)
            if existing is not None:
                raise InvalidInput(
                    f"Event {event_id} already has the pair of need {need_id!r} and project {project_id!r} "
                    f"({existing[3]})",
                    details={"need_id": need_id, "project_id": project_id, "state": existing[3]},
                )
            connection.execute(
                f"INSERT INTO event_pairs ({_PAIR_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, NULL, '', ?, NULL, ?, ?)",
                (
                    event_id,
                    need_id,
                    project_id,
                    PairState.LOCKED.value,
                    PairOrigin.MANUAL.value,
                    strength,
                    "",
                    author,
                    now,
                ),
            )
            _audit(connection, event_id, "added", author, now, need_id, project_id, {"note": note} if note else {})
        return self.pair(event_id, need_id, project_id)

    def pinned(self, event_id: int) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(locked pairs, struck pairs) as (need id, project id): what a re-plan must keep and avoid."""
        pairs = self.pairs(event_id, (PairState.LOCKED, PairState.STRUCK))
        return (
            {pair.key for pair in pairs if pair.state is PairState.LOCKED},
            {pair.key for pair in pairs if pair.state is PairState.STRUCK},
        )

    def replace_plan(
        self,
        event_id: int,
        plan_id: str,
        proposed: Sequence[ProposedPair],
        diagnostics: Mapping[str, Any],
        author: str,
    ) -> dict[str, int]:
        """Put a new plan in place of the last, in one transaction.

        Locked and struck pairs stay as they are (a locked pair the plan includes gets its new
        score and explanation); an approved pair the plan proposes again stays approved; every
        other proposed or approved pair is dropped. Returns counts of what happened, also kept in
        the audit trail.
        """
        self.get(event_id)
        now = utc_now()
        counts = {"proposed": 0, "kept_approved": 0, "kept_locked": 0, "dropped": 0, "skipped_struck": 0}
        new_keys = {(pair.need_id, pair.project_id) for pair in proposed}
        with self._connections.transaction() as connection:
            current = {
                (row[1], row[2]): PairState(row[3])
                for row in connection.execute(
                    f"SELECT {_PAIR_COLUMNS} FROM event_pairs WHERE event_id = ?", (event_id,)
                ).fetchall()
            }
            for key, state in current.items():
                if state in REPLACEABLE and key not in new_keys:
                    connection.execute(
                        "DELETE FROM event_pairs WHERE event_id = ? AND need_id = ? AND project_id = ?",
                        (event_id, *key),
                    )
                    counts["dropped"] += 1
            for pair in proposed:
                was = current.get((pair.need_id, pair.project_id))
                if was is PairState.STRUCK:
                    counts["skipped_struck"] += 1
                    continue
                values = (
                    pair.score,
                    pair.strength,
                    pair.rank_for_need,
                    pair.rank_for_project,
                    pair.explanation,
                    plan_id,
                )
                if was is None:
                    connection.execute(
                        f"INSERT INTO event_pairs ({_PAIR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)",
                        (
                            event_id,
                            pair.need_id,
                            pair.project_id,
                            PairState.PROPOSED.value,
                            PairOrigin.PLAN.value,
                            *values,
                            author,
                            now,
                        ),
                    )
                    counts["proposed"] += 1
                else:
                    connection.execute(
                        "UPDATE event_pairs SET score = ?, strength = ?, rank_for_need = ?, rank_for_project = ?, "
                        "explanation = ?, plan_id = ? WHERE event_id = ? AND need_id = ? AND project_id = ?",
                        (*values, event_id, pair.need_id, pair.project_id),
                    )
                    kept = {PairState.LOCKED: "kept_locked", PairState.APPROVED: "kept_approved"}
                    counts[kept.get(was, "proposed")] += 1
            connection.execute(
                "UPDATE events SET plan_id = ?, plan_diagnostics = ?, planned_at = ?, updated_at = ? WHERE id = ?",
                (plan_id, _json(diagnostics), now, now, event_id),
            )
            _audit(connection, event_id, "planned", author, now, detail={"plan_id": plan_id, **counts})
        return counts

    # -- audit -------------------------------------------------------------------------------

    def log(
        self,
        event_id: int,
        action: str,
        author: str,
        need_id: str | None = None,
        project_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """An audit entry for a change kept elsewhere (an outcome recorded for one of the event's pairs)."""
        self.get(event_id)
        with self._connections.transaction() as connection:
            _audit(connection, event_id, action, author, utc_now(), need_id, project_id, detail)

    def audit(self, event_id: int) -> builtins.list[AuditEntry]:
        """Every change to the event and its pairs, oldest first."""
        self.get(event_id)
        with self._connections.connect() as connection:
            rows = connection.execute(
                "SELECT id, event_id, need_id, project_id, action, detail, author, at FROM event_audit "
                "WHERE event_id = ? ORDER BY id",
                (event_id,),
            ).fetchall()
        return [AuditEntry(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7]) for row in rows]


def _pair_row(connection: sqlite3.Connection, event_id: int, need_id: str, project_id: str) -> Sequence[Any] | None:
    row: Sequence[Any] | None = connection.execute(
        f"SELECT {_PAIR_COLUMNS} FROM event_pairs WHERE event_id = ? AND need_id = ? AND project_id = ?",
        (event_id, need_id, project_id),
    ).fetchone()
    return row


def _audit(
    connection: sqlite3.Connection,
    event_id: int,
    action: str,
    author: str,
    at: str,
    need_id: str | None = None,
    project_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    connection.execute(
        "INSERT INTO event_audit (event_id, need_id, project_id, action, detail, author, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event_id, need_id, project_id, action, _json(detail or {}), author, at),
    )
