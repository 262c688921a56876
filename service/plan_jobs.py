"""Introduction plans as background jobs, kept in the catalogue so any server process can report them.

A job is queued, run by one of a few threads of the process that accepted it (``plan_workers``,
with at most ``plan_queue`` more jobs waiting for them), and its result (the plan as JSON) or its
error is stored. When the threads and the queue are full a new plan is refused (:class:`QueueFull`,
503 with Retry-After) before any job is stored. A job whose process has gone (a restarted worker)
is reported as failed rather than running forever.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matcher.errors import MatcherError, NotFound
from matcher.introductions.planner import PlanRequest, plan_introductions
from matcher.storage.sqlite import ThreadConnections
from matcher.support.clock import utc_now
from service.errors import ApiError

if TYPE_CHECKING:
    from matcher.engine import Matcher

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10  # what a refused client is told to wait: about one plan of the sample's size


class QueueFull(ApiError):
    """Every plan thread of this process is busy and the queue behind them is full."""

    def __init__(self, workers: int, waiting: int) -> None:
        super().__init__(
            503,
            "queue_full",
            f"The server is already planning {workers} and holding {waiting} more; retry in {RETRY_AFTER_SECONDS} s",
            {"plan_workers": workers, "plan_queue": waiting},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def _process_identity(pid: int) -> str | None:
    """``pid:start time`` of a live process (Linux ``/proc``), so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return f"{pid}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, counted after the command name


def _alive(identity: str) -> bool:
    pid = int(identity.split(":", 1)[0])
    current = _process_identity(pid)
    if current is not None:
        return current == identity
    try:  # no /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class PlanJob:
    id: str
    state: str  # queued, running, done or failed
    parameters: dict[str, Any]
    author: str
    created_at: str
    finished_at: str | None
    error: dict[str, Any] | None
    result: dict[str, Any] | None

    def to_dict(self, with_result: bool = True) -> dict[str, Any]:
        body = {
            "job_id": self.id,
            "state": self.state,
            "parameters": self.parameters,
            "author": self.author,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }
        if with_result:
            body["result"] = self.result
        return body


class PlanJobs:
    """The ``plan_jobs`` table of a catalogue (schema version 3, see :mod:`matcher.storage.migrations`)."""

    def __init__(self, path: Path, workers: int = 1, waiting: int = 4) -> None:
        self._connections = ThreadConnections(path)
        self._workers = workers
        self._waiting = waiting
        # One slot per job accepted and not yet finished: running or waiting in the queue.
        self._slots = threading.BoundedSemaphore(workers + waiting)
        self._queue: queue.SimpleQueue[tuple[Matcher, str, PlanRequest]] = queue.SimpleQueue()
        self._threads_pid: int | None = None  # the process whose threads serve the queue
        self._start_lock = threading.Lock()

    def _write(self, sql: str, parameters: tuple[Any, ...]) -> None:
        with self._connections.connect() as connection:
            connection.execute(sql, parameters)

    def create(self, request: PlanRequest, author: str) -> str:
        job_id = secrets.token_hex(8)
        pid = os.getpid()
        parameters = {**request.to_dict(), "worker": _process_identity(pid) or f"{pid}:"}
        self._write(
            "INSERT INTO plan_jobs (id, state, parameters, author, created_at) VALUES (?, 'queued', ?, ?, ?)",
            (job_id, json.dumps(parameters, ensure_ascii=False), author, utc_now()),
        )
        return job_id

    def get(self, job_id: str) -> PlanJob:
        with self._connections.connect() as connection:
            row = connection.execute(
                "SELECT id, state, parameters, author, created_at, finished_at, error, result FROM plan_jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"Plan job {job_id!r} does not exist", details={"job_id": job_id})
        parameters = json.loads(row[2])
        worker = parameters.pop("worker", None)
        job = PlanJob(
            row[0],
            row[1],
            parameters,
            row[3],
            row[4],
            row[5],
            json.loads(row[6]) if row[6] else None,
            json.loads(row[7]) if row[7] else None,
        )
        if job.state in {"queued", "running"} and isinstance(worker, str) and not _alive(worker):
            self._fail(
                job_id,
                {"code": "worker_stopped", "message": "The server process running this plan stopped; submit it again"},
            )
            return self.get(job_id)
        return job

    def _fail(self, job_id: str, error: dict[str, Any]) -> None:
        self._write(
            "UPDATE plan_jobs SET state = 'failed', error = ?, finished_at = ? WHERE id = ?",
            (json.dumps(error, ensure_ascii=False), utc_now(), job_id),
        )

    def run(self, matcher: Matcher, job_id: str, request: PlanRequest) -> None:
        """Run a queued job to its end, storing the plan or the error (never raising)."""
        self._write("UPDATE plan_jobs SET state = 'running' WHERE id = ?", (job_id,))
        try:
            plan = plan_introductions(matcher, request)
        except MatcherError as error:
            self._fail(job_id, error.to_dict())
            return
        except Exception as error:  # a job must end with a state, whatever happened
            log.exception("Plan job %s failed", job_id)
            self._fail(job_id, {"code": "internal_error", "message": f"{type(error).__name__}: {error}"})
            return
        self._write(
            "UPDATE plan_jobs SET state = 'done', result = ?, finished_at = ? WHERE id = ?",
            (json.dumps(plan.to_dict(), ensure_ascii=False), utc_now(), job_id),
        )
        log.info("Plan job %s done: %d introductions", job_id, len(plan.introductions))

    def submit(self, matcher: Matcher, request: PlanRequest, author: str) -> str:
        """Queue a plan for this process's plan threads; returns the job id.

        Raises :class:`QueueFull` (and stores nothing) when the threads and the queue are full.
        """
        if not self._slots.acquire(blocking=False):
            raise QueueFull(self._workers, self._waiting)
        try:
            job_id = self.create(request, author)
            self._start_threads()
        except BaseException:
            self._slots.release()
            raise
        self._queue.put((matcher, job_id, request))
        return job_id

    def _start_threads(self) -> None:
        """Start the plan threads on first use in this process (a forked worker starts its own)."""
        with self._start_lock:
            if self._threads_pid == os.getpid():
                return
            for number in range(self._workers):
                threading.Thread(target=self._serve_queue, name=f"plan-worker-{number}", daemon=True).start()
            self._threads_pid = os.getpid()

    def _serve_queue(self) -> None:
        while True:
            matcher, job_id, request = self._queue.get()
            try:
                self.run(matcher, job_id, request)
            except Exception:  # storing the outcome failed (e.g. the catalogue locked): keep serving
                log.exception("Plan job %s could not be stored", job_id)
            finally:
                self._slots.release()
