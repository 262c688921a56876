"""What happened to a proposed pair (project, need): contacted, meeting, agreement or declined.

Outcomes live in the catalogue's ``outcomes`` table (schema version 3, see :mod:`matcher.storage.migrations`).
Each is kept with its author and time; nothing is ever overwritten, so a pair's history stays and
its *latest* outcome (by ``recorded_at``, then ``id``) is the one that counts. ``score`` is the
pair's dense (cosine) similarity when it was proposed, when known.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, cast

from matcher.errors import InvalidInput, NotFound, Problem, ValidationFailed
from matcher.outcomes.pairs import Pair, latest_by_pair
from matcher.records import Kind
from matcher.storage.sqlite import ThreadConnections, select_in
from matcher.support.clock import utc_now

MAX_NOTE_CHARS = 2000
SQLITE_MAX_INTEGER = 2**63 - 1
FIELDS = ("project_id", "need_id", "status", "agreement_type", "decline_reason", "note", "score", "plan_id")
IMPORT_FIELDS = (*FIELDS, "author", "recorded_at")
_COLUMNS = "id, project_id, need_id, status, agreement_type, decline_reason, note, score, plan_id, author, recorded_at"


class OutcomeStatus(str, Enum):
    CONTACTED = "contacted"
    MEETING = "meeting"
    AGREEMENT = "agreement"
    DECLINED = "declined"


class AgreementType(str, Enum):
    LICENCE = "licence"
    JOINT_RESEARCH = "joint_research"
    JOINT_VENTURE = "joint_venture"
    OTHER = "other"


class DeclineReason(str, Enum):
    NOT_RELEVANT = "not_relevant"
    TOO_EARLY_STAGE = "too_early_stage"
    DESCRIPTION_UNCLEAR = "description_unclear"
    NO_BUDGET = "no_budget"
    IP_UNAVAILABLE = "ip_unavailable"
    OTHER = "other"


# Spellings people write in spreadsheets, after lower-casing and turning spaces and hyphens into "_".
_ALIASES = {"license": "licence"}


@dataclass(frozen=True)
class NewOutcome:
    """A validated outcome not stored yet (see :func:`parse_outcome`)."""

    project_id: str
    need_id: str
    status: OutcomeStatus
    agreement_type: AgreementType | None
    decline_reason: DeclineReason | None
    note: str
    score: float | None
    plan_id: str | None
    author: str
    recorded_at: str


@dataclass(frozen=True)
class Outcome(NewOutcome):
    """A stored outcome: a :class:`NewOutcome` with the id the catalogue gave it."""

    id: int

    @property
    def pair(self) -> Pair:
        return Pair(self.project_id, self.need_id)

    @property
    def label(self) -> bool | None:
        """True for a meeting or an agreement, False for a decline, None while only contacted."""
        if self.status is OutcomeStatus.CONTACTED:
            return None
        return self.status is not OutcomeStatus.DECLINED

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "need_id": self.need_id,
            "status": self.status.value,
            "agreement_type": self.agreement_type.value if self.agreement_type else None,
            "decline_reason": self.decline_reason.value if self.decline_reason else None,
            "note": self.note,
            "score": self.score,
            "plan_id": self.plan_id,
            "author": self.author,
            "recorded_at": self.recorded_at,
        }

    @classmethod
    def _from_row(cls, row: Sequence[Any]) -> Outcome:
        return cls(
            id=int(row[0]),
            project_id=row[1],
            need_id=row[2],
            status=OutcomeStatus(row[3]),
            agreement_type=AgreementType(row[4]) if row[4] else None,
            decline_reason=DeclineReason(row[5]) if row[5] else None,
            note=row[6],
            score=row[7],
            plan_id=row[8],
            author=row[9],
            recorded_at=row[10],
        )


class _Invalid(Exception):
    """One problem with one field."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


class _Problems(Exception):
    def __init__(self, problems: list[_Invalid]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(values: Mapping[str, Any], field: str, required: bool) -> str | None:
    value = values.get(field)
    if _blank(value):
        if required:
            raise _Invalid(field, "missing_field", f"'{field}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Invalid(field, "invalid_type", f"'{field}' must be text, got {value!r}")
    return _encodable(field, str(value).strip())


def _encodable(field: str, text: str) -> str:
    """``text``, unless it holds a lone surrogate (JSON allows it; UTF-8 and SQLite do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(field, "invalid_text", f"'{field}' holds characters that are not valid Unicode") from None
    return text


def _choice(values: Mapping[str, Any], field: str, enum: type[Enum], required: bool = False) -> Any:
    value = _text(values, field, required=required)
    if value is None:
        return None
    key = value.lower().replace(" ", "_").replace("-", "_")
    try:
        return enum(_ALIASES.get(key, key))
    except ValueError:
        valid = [member.value for member in enum]
        raise _Invalid(field, f"invalid_{field}", f"'{field}' must be one of {valid}, got {value!r}") from None


def _score(value: Any) -> float | None:
    if _blank(value):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        score = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise _Invalid("score", "invalid_score", f"'score' must be a number from -1 to 1, got {value!r}") from None
    if not math.isfinite(score) or not -1 <= score <= 1:
        raise _Invalid("score", "invalid_score", f"'score' must be a number from -1 to 1, got {value!r}")
    return score


def _timestamp(value: Any) -> str:
    """An ISO date or date-time as UTC ``YYYY-MM-DDTHH:MM:SS+00:00`` (naive times are taken as UTC)."""
    if _blank(value):
        return utc_now()
    try:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        else:
            moment = dt.datetime.fromisoformat(str(value).strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved out of range by its offset
        raise _Invalid(
            "recorded_at", "invalid_date", f"'recorded_at' must be a date (YYYY-MM-DD) or ISO date-time, got {value!r}"
        ) from None
    return moment.isoformat(timespec="seconds")


def parse_outcome(values: Mapping[str, Any], author: str, recorded_at: Any = None) -> NewOutcome:
    """Check one outcome's fields; raise :class:`InvalidInput` naming the first bad parameter.

    ``agreement_type`` goes with (and only with) status ``agreement``, ``decline_reason`` with
    ``declined``. Whether the project and the need exist is checked when the outcome is stored.
    """
    try:
        return _parse(values, author, recorded_at)
    except _Problems as error:
        first = error.problems[0]
        raise InvalidInput(first.message, details={"parameter": first.field}) from None


def _parse(values: Mapping[str, Any], author: str, recorded_at: Any) -> NewOutcome:
    """One outcome's fields, or :class:`_Problems` with every problem found, in field order."""
    problems: list[_Invalid] = []

    def check(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except _Invalid as problem:
            problems.append(problem)
            return None

    project_id = check(lambda: _text(values, "project_id", required=True))
    need_id = check(lambda: _text(values, "need_id", required=True))
    status = check(lambda: _choice(values, "status", OutcomeStatus, required=True))
    agreement_type = check(lambda: _choice(values, "agreement_type", AgreementType))
    if status is not None and not any(problem.field == "agreement_type" for problem in problems):
        check(lambda: _goes_with(status, OutcomeStatus.AGREEMENT, "agreement_type", agreement_type, AgreementType))
    decline_reason = check(lambda: _choice(values, "decline_reason", DeclineReason))
    if status is not None and not any(problem.field == "decline_reason" for problem in problems):
        check(lambda: _goes_with(status, OutcomeStatus.DECLINED, "decline_reason", decline_reason, DeclineReason))
    note = check(lambda: _note(values.get("note")))
    score = check(lambda: _score(values.get("score")))
    plan_id = check(lambda: _text(values, "plan_id", required=False))
    check(lambda: _text({"author": author}, "author", required=True))
    moment = check(lambda: _timestamp(recorded_at))
    if problems:
        raise _Problems(problems)
    return NewOutcome(
        project_id=project_id,
        need_id=need_id,
        status=status,
        agreement_type=agreement_type,
        decline_reason=decline_reason,
        note=note,
        score=score,
        plan_id=plan_id,
        author=author.strip(),
        recorded_at=moment,
    )


def _goes_with(status: OutcomeStatus, wanted: OutcomeStatus, field: str, value: Any, enum: type[Enum]) -> None:
    """``field`` is required with status ``wanted`` and only then."""
    if status is wanted and value is None:
        valid = [member.value for member in enum]
        what = {OutcomeStatus.AGREEMENT: "An agreement", OutcomeStatus.DECLINED: "A decline"}[wanted]
        raise _Invalid(field, "missing_field", f"{what} needs '{field}', one of {valid}")
    if status is not wanted and value is not None:
        raise _Invalid(
            field, "unexpected_field", f"'{field}' goes only with status '{wanted.value}', not {status.value!r}"
        )


def _note(value: Any) -> str:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
        raise _Invalid("note", "invalid_type", f"'note' must be text, got {value!r}")
    note = "" if value is None else _encodable("note", str(value).strip())
    if len(note) > MAX_NOTE_CHARS:
        raise _Invalid("note", "note_too_long", f"'note' has {len(note)} characters; the limit is {MAX_NOTE_CHARS}")
    return note


class OutcomeStore:
    """The outcomes table of a catalogue database (schema version 3 or later)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)

    # -- writing -----------------------------------------------------------------------------

    def record(
        self,
        project_id: str,
        need_id: str,
        status: str | OutcomeStatus,
        author: str,
        agreement_type: str | AgreementType | None = None,
        decline_reason: str | DeclineReason | None = None,
        note: str | None = None,
        score: float | None = None,
        plan_id: str | None = None,
        recorded_at: str | None = None,
    ) -> Outcome:
        """Validate and store one outcome; :class:`NotFound` when the project or the need does not exist."""
        values = {
            "project_id": project_id,
            "need_id": need_id,
            "status": status.value if isinstance(status, Enum) else status,
            "agreement_type": agreement_type.value if isinstance(agreement_type, Enum) else agreement_type,
            "decline_reason": decline_reason.value if isinstance(decline_reason, Enum) else decline_reason,
            "note": note,
            "score": score,
            "plan_id": plan_id,
        }
        new = parse_outcome(values, author, recorded_at)
        with self._connections.transaction() as connection:
            for kind, record_id in ((Kind.PROJECTS, new.project_id), (Kind.NEEDS, new.need_id)):
                if record_id not in _existing(connection, kind, [record_id]):
                    raise NotFound(
                        f"{kind.singular.capitalize()} {record_id!r} does not exist",
                        details={"parameter": f"{kind.singular}_id", "kind": kind.value, "id": record_id},
                    )
            (stored,) = _insert(connection, [new])
        return stored

    def record_many(self, rows: Iterable[tuple[int, Mapping[str, Any]]], source: str, author: str) -> list[Outcome]:
        """Validate every ``(row number, values)`` and store them all in one transaction, or none.

        A row may carry its own ``author`` and ``recorded_at`` (a date or ISO date-time); otherwise
        ``author`` and now are used. Every problem is reported at once, naming the row and field.
        """
        parsed: list[tuple[int, NewOutcome]] = []
        problems: list[Problem] = []
        unknown_seen: set[str] = set()
        for number, values in rows:
            for name in sorted(str(name) for name in values if name not in IMPORT_FIELDS and name not in unknown_seen):
                unknown_seen.add(name)
                message = f"unknown field; the fields are {list(IMPORT_FIELDS)}"
                problems.append(Problem(source, number, name, "unknown_field", message))
            try:
                row_author = values.get("author")
                parsed.append(
                    (
                        number,
                        _parse(
                            values,
                            cast(str, row_author) if not _blank(row_author) else author,
                            values.get("recorded_at"),
                        ),
                    )
                )
            except _Problems as error:
                problems += [Problem(source, number, p.field, p.code, p.message) for p in error.problems]
        if not parsed and not problems:
            problems.append(Problem(source, None, None, "empty_file", "there are no outcomes to record"))
        with self._connections.transaction() as connection:
            for kind, field in ((Kind.PROJECTS, "project_id"), (Kind.NEEDS, "need_id")):
                ids = [getattr(new, field) for _, new in parsed]
                present = _existing(connection, kind, ids)
                for number, new in parsed:
                    if getattr(new, field) not in present:
                        message = f"{kind.singular} {getattr(new, field)!r} does not exist"
                        problems.append(Problem(source, number, field, f"unknown_{kind.singular}", message))
            if problems:
                problems.sort(key=lambda problem: problem.row or 0)  # stable: a row's problems keep their order
                raise ValidationFailed(problems)
            return _insert(connection, [new for _, new in parsed])

    # -- reading -----------------------------------------------------------------------------

    def list(
        self,
        need_id: str | None = None,
        project_id: str | None = None,
        status: str | OutcomeStatus | None = None,
        limit: int | None = None,
    ) -> list[Outcome]:
        """Outcomes, newest first, optionally of one need, one project and one status."""
        clauses: list[str] = []
        parameters: list[Any] = []
        if need_id is not None:
            clauses.append("need_id = ?")
            parameters.append(need_id)
        if project_id is not None:
            clauses.append("project_id = ?")
            parameters.append(project_id)
        if status is not None:
            if not isinstance(status, OutcomeStatus):
                status = parse_status(status)
            clauses.append("status = ?")
            parameters.append(status.value)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidInput(
                f"'limit' must be a whole number of at least 1, got {limit!r}", details={"parameter": "limit"}
            )
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {min(limit, SQLITE_MAX_INTEGER)}" if limit is not None else ""
        with self._connections.connect() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM outcomes {where} ORDER BY recorded_at DESC, id DESC{tail}", parameters
            ).fetchall()
        return [Outcome._from_row(row) for row in rows]

    def latest(self) -> dict[Pair, Outcome]:
        """Each pair's latest outcome: the one that says where the pair stands."""
        return latest_by_pair(self.list())

    def introduced_pairs(self) -> set[Pair]:
        """Every ``(project_id, need_id)`` with any outcome: they were introduced already."""
        with self._connections.connect() as connection:
            return {
                Pair(row[0], row[1]) for row in connection.execute("SELECT DISTINCT project_id, need_id FROM outcomes")
            }

    def declined_not_relevant(self) -> set[Pair]:
        """Pairs whose latest outcome is a decline as not relevant: they are not proposed again."""
        return {pair for pair, outcome in self.latest().items() if _not_relevant(outcome)}

    def declined_not_relevant_for(self, kind: Kind, record_id: str) -> set[str]:
        """The ids of the other side declined as not relevant (latest outcome) with one project or need."""
        column = "project_id" if kind is Kind.PROJECTS else "need_id"
        with self._connections.connect() as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM outcomes WHERE {column} = ?", (record_id,)).fetchall()
        latest = latest_by_pair(Outcome._from_row(row) for row in rows)
        index = 1 if kind is Kind.PROJECTS else 0  # the other side's id in a pair
        return {pair[index] for pair, outcome in latest.items() if _not_relevant(outcome)}


def parse_status(value: Any) -> OutcomeStatus:
    """A status given as text, e.g. a query parameter; :class:`InvalidInput` naming ``status`` otherwise."""
    try:
        return _choice({"status": value}, "status", OutcomeStatus)  # type: ignore[no-any-return]
    except _Invalid as problem:
        raise InvalidInput(problem.message, details={"parameter": "status"}) from None


def _not_relevant(outcome: Outcome) -> bool:
    return outcome.status is OutcomeStatus.DECLINED and outcome.decline_reason is DeclineReason.NOT_RELEVANT


def _existing(connection: sqlite3.Connection, kind: Kind, ids: Iterable[str]) -> set[str]:
    sql = "SELECT id FROM records WHERE kind = ? AND id IN ({marks})"
    return {row[0] for row in select_in(connection, sql, sorted(set(ids)), (kind.value,))}


def _insert(connection: sqlite3.Connection, outcomes: Sequence[NewOutcome]) -> list[Outcome]:
    stored = []
    for new in outcomes:
        cursor = connection.execute(
            "INSERT INTO outcomes (project_id, need_id, status, agreement_type, decline_reason, note, score, plan_id,"
            " author, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.project_id,
                new.need_id,
                new.status.value,
                new.agreement_type.value if new.agreement_type else None,
                new.decline_reason.value if new.decline_reason else None,
                new.note,
                new.score,
                new.plan_id,
                new.author,
                new.recorded_at,
            ),
        )
        stored.append(Outcome(**vars(new), id=int(cursor.lastrowid or 0)))
    return stored
