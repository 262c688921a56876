"""The JSON API under /api/v1: check access, parse the request, call the matcher, serialise the answer."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from matcher.engine import Matcher
from matcher.filters import query_filter_value
from matcher.introductions.conflicts import rules_from_objects
from matcher.introductions.export import FORMATS, XLSX_MEDIA_TYPE, plan_bytes
from matcher.introductions.planner import PlanRequest
from matcher.pipeline.request import Direction
from matcher.records import Kind
from service.access import KEY_HEADER, current_key, reads, staff_reads, writes
from service.contract import MatchBody, OutcomeBody, PlanBody, first_problem
from service.errors import ApiError
from service.openapi import openapi_document
from service.plan_jobs import PlanJobs

api = Blueprint("api", __name__)

QUERY_PARAMETERS = {"top_k", "min_score", "explain"}


def _matcher() -> Matcher:
    return current_app.extensions["techmatch"]  # type: ignore[no-any-return]


def _plan_jobs() -> PlanJobs:
    return current_app.extensions["techmatch.plan_jobs"]  # type: ignore[no-any-return]


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})",
        )
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON")
    return body


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated_body(model: type[ModelT]) -> ModelT:
    """The JSON object body checked against a contract model; 422 naming the first bad parameter."""
    body = _json_body()
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_parameter", "The request body must be a JSON object", {"parameter": "body"})
    try:
        return model.model_validate(body)
    except ValidationError as error:
        parameter, message = first_problem(error)
        raise ApiError(422, "invalid_parameter", message, {"parameter": parameter}) from None


def _number(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ApiError(
            422,
            "invalid_parameter",
            f"Query parameter '{name}' must be a {'whole number' if kind is int else 'number'}, got {raw!r}",
            {"parameter": name, "value": raw},
        ) from None


def _query_string_options() -> dict[str, Any]:
    """``top_k``, ``min_score``, ``explain`` and filters (every other parameter) from the query string."""
    options: dict[str, Any] = {}
    if "top_k" in request.args:
        options["top_k"] = _number("top_k", request.args["top_k"], int)
    if "min_score" in request.args:
        options["min_score"] = _number("min_score", request.args["min_score"], float)
    if "explain" in request.args:
        options["explain"] = request.args["explain"]
    options["filters"] = {
        name: query_filter_value(name, request.args.getlist(name))
        for name in request.args
        if name not in QUERY_PARAMETERS
    }
    return options


@api.get("/health")
def health() -> ResponseReturnValue:
    return jsonify(_matcher().health())


@api.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(_matcher().settings))


@api.post("/match")
@reads
def match_text() -> ResponseReturnValue:
    parsed = _validated_body(MatchBody)
    matcher = _matcher()
    match_request = matcher.request(
        direction=parsed.direction,
        text=parsed.text,
        top_k=parsed.top_k,
        min_score=parsed.min_score,
        filters=parsed.filters,
        explain=parsed.explain,
    )
    return jsonify(matcher.match(match_request).to_dict())


@reads
def _record_matches(kind: Kind, record_id: str) -> ResponseReturnValue:
    matcher = _matcher()
    match_request = matcher.request(
        direction=Direction.from_kind(kind).value, record_id=record_id, **_query_string_options()
    )
    return jsonify(matcher.match(match_request).to_dict())


@reads
def _record(kind: Kind, record_id: str) -> ResponseReturnValue:
    return jsonify(_matcher().get(kind, record_id).to_dict())


@writes
def _ingest(kind: Kind) -> ResponseReturnValue:
    report = _matcher().ingest_batch(kind, _json_body())
    return jsonify(report.to_dict())


@writes
def _put_record(kind: Kind, record_id: str) -> ResponseReturnValue:
    body = _json_body()
    if not isinstance(body, dict):
        raise ApiError(
            422, "invalid_parameter", "The request body must be one record (a JSON object)", {"parameter": "body"}
        )
    if "id" in body:
        raise ApiError(422, "invalid_parameter", "The id is the path's; leave it out of the body", {"parameter": "id"})
    report = _matcher().ingest_batch(kind, [{**body, "id": record_id}], source=f"PUT /{kind.value}/{record_id}")
    return jsonify(report.to_dict())


@writes
def _delete_record(kind: Kind, record_id: str) -> ResponseReturnValue:
    _matcher().delete(kind, [record_id])
    return jsonify({"kind": kind.value, "id": record_id, "deleted": True})


for _kind in Kind:
    api.add_url_rule(
        f"/{_kind.value}/<record_id>/matches", f"{_kind.value}_matches", _record_matches, defaults={"kind": _kind}
    )
    api.add_url_rule(f"/{_kind.value}/<record_id>", f"{_kind.value}_record", _record, defaults={"kind": _kind})
    api.add_url_rule(
        f"/{_kind.value}/<record_id>", f"{_kind.value}_put", _put_record, methods=["PUT"], defaults={"kind": _kind}
    )
    api.add_url_rule(
        f"/{_kind.value}/<record_id>",
        f"{_kind.value}_delete",
        _delete_record,
        methods=["DELETE"],
        defaults={"kind": _kind},
    )
    api.add_url_rule(f"/{_kind.value}", f"{_kind.value}_ingest", _ingest, methods=["POST"], defaults={"kind": _kind})


OUTCOME_QUERY = ("need_id", "project_id", "status", "limit")


@api.post("/outcomes")
@writes
def record_outcome() -> ResponseReturnValue:
    parsed = _validated_body(OutcomeBody)
    key = current_key()
    if key is None:  # `writes` let the request in, so a key was checked
        raise ApiError(
            401, "unauthorized", f"This request needs an API key in the {KEY_HEADER} header", {"header": KEY_HEADER}
        )
    outcome = _matcher().outcomes.record(author=key.name, **parsed.model_dump())
    return jsonify(outcome.to_dict()), 201


@api.get("/outcomes")
@staff_reads
def list_outcomes() -> ResponseReturnValue:
    unknown = sorted(set(request.args) - set(OUTCOME_QUERY))
    if unknown:
        raise ApiError(
            422,
            "invalid_parameter",
            f"Unknown query parameter {unknown[0]!r}; valid ones are {list(OUTCOME_QUERY)}",
            {"parameter": unknown[0], "valid": list(OUTCOME_QUERY)},
        )
    limit = _number("limit", request.args["limit"], int) if "limit" in request.args else None
    outcomes = _matcher().outcomes.list(
        need_id=request.args.get("need_id"),
        project_id=request.args.get("project_id"),
        status=request.args.get("status"),
        limit=limit,
    )
    return jsonify({"count": len(outcomes), "outcomes": [outcome.to_dict() for outcome in outcomes]})


def _plan_job(job_id: str) -> Any:
    return _plan_jobs().get(job_id)


@api.post("/introductions/plan")
@writes
def submit_plan() -> ResponseReturnValue:
    parsed = _validated_body(PlanBody)
    matcher = _matcher()
    options = parsed.model_dump(exclude={"conflicts"})
    plan_request = PlanRequest.build(
        matcher.settings, conflicts=rules_from_objects(parsed.model_dump()["conflicts"], "conflicts"), **options
    )
    key = current_key()
    job_id = _plan_jobs().submit(matcher, plan_request, key.name if key else "")
    response = jsonify(_plan_job(job_id).to_dict(with_result=False))
    response.status_code = 202
    response.headers["Location"] = f"{request.script_root}/api/v1/introductions/plan/{job_id}"
    return response


@api.get("/introductions/plan/<job_id>")
@staff_reads
def plan_status(job_id: str) -> ResponseReturnValue:
    return jsonify(_plan_job(job_id).to_dict())


@api.get("/introductions/plan/<job_id>/export.<file_format>")
@staff_reads
def plan_export(job_id: str, file_format: str) -> ResponseReturnValue:
    if file_format not in FORMATS:
        raise ApiError(
            404, "not_found", f"A plan exports as {' or '.join(FORMATS)}, not {file_format!r}", {"format": file_format}
        )
    job = _plan_job(job_id)
    if job.state != "done" or job.result is None:
        raise ApiError(
            409, "not_ready", f"Plan job {job_id} is {job.state}; export it once it is done", {"state": job.state}
        )
    media = "text/csv; charset=utf-8" if file_format == "csv" else XLSX_MEDIA_TYPE
    return Response(
        plan_bytes(job.result, file_format),
        mimetype=media,
        headers={"Content-Disposition": f'attachment; filename="plan-{job_id}.{file_format}"'},
    )
