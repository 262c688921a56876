"""Plan jobs: stored state, errors in the API's own codes, and a job whose process is gone."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest

from matcher.config import load_settings
from matcher.engine import open as open_matcher
from matcher.errors import InvalidInput
from matcher.introductions.planner import PlanRequest
from matcher.storage.catalogue import Catalogue
from service import create_app, plan_jobs as jobs
from service.api_keys import ApiKeys
from service.plan_jobs import PlanJobs, QueueFull
from tests.conftest import SHARED_MODELS


def test_a_failed_plan_keeps_the_errors_code_and_a_dead_worker_fails_its_job(tmp_path, monkeypatch):
    settings = load_settings(environ=SHARED_MODELS, data_dir=tmp_path / "var")
    Catalogue(settings.catalogue_path).migrate()
    store = PlanJobs(settings.catalogue_path)
    request = PlanRequest.build(settings, max_per_project=1, max_per_need=1)

    def refuse(matcher, plan_request):
        raise InvalidInput("no index yet", details={"parameter": "x"})

    monkeypatch.setattr(jobs, "plan_introductions", refuse)
    job_id = store.create(request, "staff")
    assert store.get(job_id).state == "queued" and "worker" not in store.get(job_id).parameters
    store.run(None, job_id, request)  # type: ignore[arg-type]
    failed = store.get(job_id)
    assert failed.state == "failed" and failed.error == {
        "code": "invalid_parameter",
        "message": "no index yet",
        "details": {"parameter": "x"},
    }

    orphan = store.create(request, "staff")
    with sqlite3.connect(settings.catalogue_path) as connection:  # as if made by a process since gone
        parameters = json.loads(
            connection.execute("SELECT parameters FROM plan_jobs WHERE id = ?", (orphan,)).fetchone()[0]
        )
        parameters["worker"] = f"{os.getpid()}:1"  # this pid, but another start time: a reused pid
        connection.execute("UPDATE plan_jobs SET parameters = ? WHERE id = ?", (json.dumps(parameters), orphan))
    job = store.get(orphan)
    assert job.state == "failed" and job.error["code"] == "worker_stopped"


class _Gate:
    """A plan function that waits until it is let go, counting the plans running at once."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, matcher, plan_request):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.go.wait(timeout=60)
        with self.lock:
            self.running -= 1
        return SimpleNamespace(introductions=[], to_dict=lambda: {"introductions": []})


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _job_count(path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM plan_jobs").fetchone()[0])


def test_plans_run_in_a_bounded_pool_and_a_full_queue_is_refused_before_a_job_is_stored(tmp_path, monkeypatch):
    settings = load_settings(environ=SHARED_MODELS, data_dir=tmp_path / "var")
    Catalogue(settings.catalogue_path).migrate()
    gate = _Gate()
    monkeypatch.setattr(jobs, "plan_introductions", gate)
    store = PlanJobs(settings.catalogue_path, workers=1, waiting=2)
    request = PlanRequest.build(settings, max_per_project=1, max_per_need=1)
    accepted = [store.submit(None, request, "staff") for _ in range(3)]  # type: ignore[arg-type]
    _wait_for(lambda: store.get(accepted[0]).state == "running")
    assert [store.get(job_id).state for job_id in accepted] == ["running", "queued", "queued"]
    with pytest.raises(QueueFull) as refused:
        store.submit(None, request, "staff")  # type: ignore[arg-type]
    assert refused.value.status == 503 and refused.value.code == "queue_full"
    assert refused.value.headers == {"Retry-After": str(jobs.RETRY_AFTER_SECONDS)}
    assert refused.value.details == {"plan_workers": 1, "plan_queue": 2}
    assert _job_count(settings.catalogue_path) == 3  # the refused plan left no job behind
    gate.go.set()
    _wait_for(lambda: all(store.get(job_id).state == "done" for job_id in accepted))
    assert gate.most == 1  # one plan at a time, as plan_workers says
    again = store.submit(None, request, "staff")  # type: ignore[arg-type]
    _wait_for(lambda: store.get(again).state == "done")


def test_a_full_plan_queue_answers_503_json_with_retry_after(settings, fake_embedder, monkeypatch):
    gate = _Gate()
    monkeypatch.setattr(jobs, "plan_introductions", gate)
    settings = settings.replace(plan_workers=1, plan_queue=0)
    matcher = open_matcher(settings, embedder=fake_embedder)
    key, _ = ApiKeys(settings.catalogue_path).create("staff")
    client = create_app(settings, matcher=matcher).test_client()
    body, headers = {"max_per_project": 1, "max_per_need": 1}, {"X-API-Key": key}
    first = client.post("/api/v1/introductions/plan", json=body, headers=headers)
    assert first.status_code == 202
    busy = client.post("/api/v1/introductions/plan", json=body, headers=headers)
    # flask-limiter raises Retry-After to the end of the client's rate window when that is later.
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= jobs.RETRY_AFTER_SECONDS
    assert busy.get_json()["error"]["code"] == "queue_full"
    assert _job_count(settings.catalogue_path) == 1
    gate.go.set()
    job_url = first.headers["Location"]
    _wait_for(lambda: client.get(job_url, headers=headers).get_json()["state"] == "done")
    assert client.post("/api/v1/introductions/plan", json=body, headers=headers).status_code == 202
