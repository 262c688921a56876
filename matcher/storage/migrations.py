"""The versioned schema of ``catalogue.sqlite``: each store's migration steps, in one registry.

The schema version (``PRAGMA user_version``) belongs to the file, not to a program: whichever
program opens the catalogue first -- the library alone (a benchmark, a notebook) or the service --
must bring it to the same schema. So every store's steps are registered here, in the library,
under the store's name, the service's API keys and plan jobs included: only their tables' DDL is
known here, their code stays in ``service/``, and nothing in the library imports the service.
(Were the service to register its steps when imported, a file first made by the library would
reach version 3 without the service's tables, and the service would never create them.)

Stores share the version numbers: version 3 made both the outcomes and the plan jobs tables.
Steps run by version, and within a version in the order registered. A new step takes a new
version; a released step is never edited.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One store's change to the schema at one version: SQL statements separated by ``;``."""

    store: str
    version: int
    sql: str

    def run(self, connection: sqlite3.Connection) -> None:
        for statement in self.sql.split(";"):
            if statement.strip():
                connection.execute(statement)


class Migrations:
    """The steps of one database, by version; :meth:`migrate` applies those a file lacks."""

    def __init__(self) -> None:
        self._steps: list[Step] = []

    def register(self, store: str, version: int, sql: str) -> Step:
        if version < 1:
            raise ValueError(f"Schema versions start at 1, got {version} for {store!r}")
        if any(step.store == store and step.version == version for step in self._steps):
            raise ValueError(f"{store!r} already has a step at schema version {version}")
        step = Step(store, version, sql)
        self._steps.append(step)
        return step

    @property
    def version(self) -> int:
        """The schema version once every step has run (0 with no steps)."""
        return max((step.version for step in self._steps), default=0)

    def steps(self, version: int) -> list[Step]:
        """The steps that bring a file from ``version - 1`` to ``version``, in registration order."""
        return [step for step in self._steps if step.version == version]

    def migrate(self, connection: sqlite3.Connection, name: object) -> int:
        """Run the steps the file lacks, one version after another; return the version it had.

        ``connection`` should be in a transaction, so a failed step leaves the file as it was;
        ``name`` (its path) is for messages. A file newer than this program raises RuntimeError.
        """
        before = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if before > self.version:
            raise RuntimeError(f"{name} has schema version {before}, newer than this program's {self.version}")
        for number in range(before + 1, self.version + 1):
            log.info("Migrating %s to schema version %d", name, number)
            for step in self.steps(number):
                step.run(connection)
            connection.execute(f"PRAGMA user_version = {number}")
        return before


CATALOGUE = Migrations()

# records (matcher.storage.catalogue): records, revisions, document frequencies of terms
CATALOGUE.register(
    "records",
    1,
    """
    CREATE TABLE records (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('projects', 'needs')),
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (kind, id)
    );
    CREATE TABLE revisions (kind TEXT PRIMARY KEY, revision INTEGER NOT NULL);
    INSERT INTO revisions VALUES ('projects', 0), ('needs', 0);
    CREATE TABLE term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
    """,
)

# api_keys (service.api_keys): API keys, stored as hashes
CATALOGUE.register(
    "api_keys",
    2,
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
)

# outcomes (matcher.outcomes.store): outcomes of introductions and matches
CATALOGUE.register(
    "outcomes",
    3,
    """
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT NOT NULL,
        need_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('contacted', 'meeting', 'agreement', 'declined')),
        agreement_type TEXT,
        decline_reason TEXT,
        note TEXT NOT NULL DEFAULT '',
        score REAL,
        plan_id TEXT,
        author TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX outcomes_by_pair ON outcomes (need_id, project_id);
    """,
)

# plan_jobs (service.plan_jobs): introduction-plan jobs
CATALOGUE.register(
    "plan_jobs",
    3,
    """
    CREATE TABLE plan_jobs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        parameters TEXT NOT NULL,
        result TEXT,
        error TEXT,
        author TEXT NOT NULL,
        created_at TEXT NOT NULL,
        finished_at TEXT
    );
    """,
)

# events (matcher.events.store): matchmaking events, the pairs of each one's plan under review, and
# every change to them (the audit trail)
CATALOGUE.register(
    "events",
    4,
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        event_date TEXT,
        scope TEXT NOT NULL,
        parameters TEXT NOT NULL,
        plan_id TEXT,
        plan_diagnostics TEXT,
        planned_at TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE event_pairs (
        event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        need_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('proposed', 'approved', 'locked', 'struck')),
        origin TEXT NOT NULL CHECK (origin IN ('plan', 'manual')),
        score REAL,
        strength REAL,
        rank_for_need INTEGER,
        rank_for_project INTEGER,
        explanation TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        plan_id TEXT,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (event_id, need_id, project_id)
    );
    CREATE TABLE event_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        need_id TEXT,
        project_id TEXT,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        author TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX event_audit_by_event ON event_audit (event_id, id);
    """,
)

# staff_users (service.staff.accounts): staff who sign in to the web console with a password
CATALOGUE.register(
    "staff_users",
    4,
    """
    CREATE TABLE staff_users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        disabled_at TEXT
    );
    """,
)

# introduction_requests (service.intro_requests): requests for an introduction from the public page
CATALOGUE.register(
    "introduction_requests",
    4,
    """
    CREATE TABLE introduction_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('projects', 'needs')),
        record_id TEXT NOT NULL,
        requester_name TEXT NOT NULL,
        requester_contact TEXT NOT NULL,
        organisation TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT '',
        language TEXT NOT NULL DEFAULT 'en',
        client TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'handled', 'spam')),
        handled_by TEXT,
        handled_at TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX introduction_requests_by_state ON introduction_requests (state, id);
    """,
)
