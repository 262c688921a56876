"""Plan jobs: stored state, errors in the API's own codes, and a job whose process is gone."""

from __future__ import annotations

import json
import os
import sqlite3

from matcher.config import load_settings
from matcher.errors import InvalidInput
from matcher.introductions.planner import PlanRequest
from matcher.storage.catalogue import Catalogue
from service import plan_jobs as jobs
from service.plan_jobs import PlanJobs


def test_a_failed_plan_keeps_the_errors_code_and_a_dead_worker_fails_its_job(tmp_path, monkeypatch):
    settings = load_settings(environ={}, data_dir=tmp_path / "var")
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
