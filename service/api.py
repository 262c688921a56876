"""The JSON API under /api/v1: check access, parse the request, call the matcher, serialise the answer."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from matcher.engine import Matcher
from matcher.errors import InvalidInput, NotFound, ValidationFailed
from matcher.filters import FILTERS, query_filter_value
from matcher.introductions.conflicts import rules_from_objects
from matcher.introductions.export import FORMATS, XLSX_MEDIA_TYPE, plan_bytes
from matcher.introductions.planner import PlanRequest
from matcher.outcomes.store import OutcomeStatus
from matcher.pipeline.request import Direction
from matcher.records import TRL_RANGE, Kind, Record
from service import intro_requests
from service.access import KEY_HEADER, current_key, is_staff, limit_key, reads, staff_reads, view_limit, writes
from service.contract import (
    INPUT_OF,
    IntroductionRequestBody,
    PlanBody,
    contract_problems,
    first_problem,
    match_body_model,
    outcome_body_model,
)
from service.errors import ApiError
from service.openapi import openapi_document
from service.plan_jobs import PlanJobs
from service.privacy import is_private, private_names, redact_matches, redact_record
from service.request_body import json_body

api = Blueprint("api", __name__)


@api.after_request
def _keep_staff_answers_out_of_caches(response: Response) -> Response:
    """A staff caller's answer may hold private fields: no cache (a shared one ignores X-API-Key) may keep it."""
    if is_staff():
        response.headers["Cache-Control"] = "no-store"
    return response


QUERY_PARAMETERS = {"top_k", "min_score", "explain"}


def _matcher() -> Matcher:
    return current_app.extensions["techmatch"]  # type: ignore[no-any-return]


def _plan_jobs() -> PlanJobs:
    return current_app.extensions["techmatch.plan_jobs"]  # type: ignore[no-any-return]


def _json_body() -> Any:
    settings = _matcher().settings
    return json_body(settings.max_request_bytes, settings.max_json_depth)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _object_body() -> dict[str, Any]:
    body = _json_body()
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_parameter", "The request body must be a JSON object", {"parameter": "body"})
    return body


def _checked(model: type[ModelT], value: Any, prefix: str = "") -> ModelT:
    """``value`` checked against a contract model; 422 naming the first bad parameter (under ``prefix``)."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        parameter, message = first_problem(error, prefix)
        raise ApiError(422, "invalid_parameter", message, {"parameter": parameter}) from None


def _validated_body(model: type[ModelT]) -> ModelT:
    """The JSON object body checked against a contract model."""
    return _checked(model, _object_body())


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
    body = _object_body()
    parsed = _checked(match_body_model(body), body)
    matcher = _matcher()
    match_request = matcher.request(
        direction=parsed.direction,
        text=parsed.text,
        top_k=parsed.top_k,
        min_score=parsed.min_score,
        filters=parsed.filters.model_dump(exclude_none=True) if isinstance(parsed.filters, BaseModel) else None,
        explain=parsed.explain,
    )
    return jsonify(redact_matches(matcher.match(match_request).to_dict(), _hidden_fields()))


def _hidden_fields() -> frozenset[str]:
    """The fields this caller may not see: the private ones, unless a staff key was presented."""
    return frozenset() if is_staff() else private_names(_matcher().settings.private_fields)


@reads
def _record_matches(kind: Kind, record_id: str) -> ResponseReturnValue:
    matcher = _matcher()
    match_request = matcher.request(
        direction=Direction.from_kind(kind).value, record_id=record_id, **_query_string_options()
    )
    return jsonify(redact_matches(matcher.match(match_request).to_dict(), _hidden_fields()))


@reads
def _record(kind: Kind, record_id: str) -> ResponseReturnValue:
    return jsonify(redact_record(_matcher().get(kind, record_id).to_dict(), _hidden_fields()))


def _batch_records(body: Any) -> Any:
    """A batch body's records: an array, or ``{"records": [...]}``, at most ``max_batch_records`` of them
    (anything else is the catalogue's validation's to name)."""
    records = body["records"] if isinstance(body, dict) and set(body) == {"records"} else body
    limit = _matcher().settings.max_batch_records
    if isinstance(records, list) and len(records) > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"The batch has {len(records)} records; the limit is {limit}",
            {"parameter": "records", "count": len(records), "limit": limit},
        )
    return records


def _checked_records(kind: Kind, records: Any, source: str) -> list[Record]:
    """A batch's records, checked: every problem by row and field, first the catalogue's rules (those of a
    file), then the contract's types, which JSON can break where a spreadsheet cannot (an id sent as a
    number, metadata as a list). Nothing is written before both pass."""
    validated = _matcher().validate_batch(kind, records, source)
    model = INPUT_OF[kind][0]
    problems = []
    for row, record in enumerate(records, start=1):
        try:
            model.model_validate(record)
        except ValidationError as error:
            problems.extend(contract_problems(error, source, row))
    if problems:
        raise ValidationFailed(problems)
    return validated


@writes
def _ingest(kind: Kind) -> ResponseReturnValue:
    source = "request body"
    records = _checked_records(kind, _batch_records(_json_body()), source)
    return jsonify(_matcher().ingest_records(kind, records, source).to_dict())


@writes
def _put_record(kind: Kind, record_id: str) -> ResponseReturnValue:
    body = _object_body()
    if "id" in body:
        raise ApiError(422, "invalid_parameter", "The id is the path's; leave it out of the body", {"parameter": "id"})
    source = f"PUT /{kind.value}/{record_id}"
    records = _checked_records(kind, [{**body, "id": record_id}], source)
    return jsonify(_matcher().ingest_records(kind, records, source).to_dict())


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
    body = _object_body()
    for field, status in (("agreement_type", "agreement"), ("decline_reason", "declined")):
        if body.get(field) is not None and body.get("status") != status:
            raise ApiError(
                422,
                "invalid_parameter",
                f"'{field}' goes only with status '{status}', not {body.get('status')!r}",
                {"parameter": field},
            )
    parsed = _checked(outcome_body_model(body), body)
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
    if limit is not None and limit < 1:
        raise ApiError(422, "invalid_parameter", f"'limit' must be at least 1, got {limit}", {"parameter": "limit"})
    status = request.args.get("status")
    statuses = [member.value for member in OutcomeStatus]
    if status is not None and status not in statuses:
        raise ApiError(
            422,
            "invalid_parameter",
            f"'status' must be one of {statuses}, got {status!r}",
            {"parameter": "status", "valid": statuses},
        )
    outcomes = _matcher().outcomes.list(
        need_id=request.args.get("need_id"),
        project_id=request.args.get("project_id"),
        status=status,
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


VOCABULARIES = "techmatch.vocabularies"


@api.get("/vocabularies")
@reads
def vocabularies() -> ResponseReturnValue:
    """Each filter's values in the catalogue (for the page's drop-downs), cached per catalogue revision;
    a filter on a private field is left out for a caller who may not see that field."""
    catalogue = _matcher().catalogue
    hidden = _hidden_fields()
    revisions = {kind.value: catalogue.revision(kind) for kind in Kind}
    cache: dict[Any, Any] = current_app.extensions.setdefault(VOCABULARIES, {})
    cache_key = (tuple(sorted(revisions.items())), hidden)
    answer = cache.get(cache_key)
    if answer is None:
        answer = {"revisions": revisions, "trl_range": list(TRL_RANGE)}
        for kind in Kind:
            answer[kind.value] = {
                name: [{"value": value, "count": count} for value, count in values]
                for name, values in catalogue.vocabularies(kind).items()
                if not is_private(FILTERS[kind][name].field, hidden)
            }
        cache.clear()  # only the newest revision is asked for
        cache[cache_key] = answer
    return jsonify(answer)


@api.get("/introduction-requests/token")
@reads
def introduction_request_token() -> ResponseReturnValue:
    """A signed token for the request form: sent back with the request, no sooner than min_seconds."""
    tokens = intro_requests.form_tokens()
    return jsonify(
        {"token": tokens.issue(), "min_seconds": tokens.min_seconds, "max_age_seconds": intro_requests.TOKEN_MAX_AGE}
    )


@api.post("/introduction-requests")
@view_limit("introduction_request_rate_limit")
@reads
def request_introduction() -> ResponseReturnValue:
    """Store a visitor's request for an introduction, once it passes the bot defences (module
    :mod:`service.intro_requests`); every refusal names the field."""
    body = _object_body()
    if body.get("website"):  # the honeypot: people do not see it, so do not fill it in
        raise ApiError(422, "invalid_parameter", "'website': this field must be left empty", {"parameter": "website"})
    parsed = _checked(IntroductionRequestBody, body)
    try:
        intro_requests.form_tokens().check(parsed.token)
    except InvalidInput as error:
        raise ApiError(403, "invalid_token", error.message, error.details) from None
    except intro_requests.TooSoon as error:
        raise ApiError(
            429,
            "too_soon",
            f"'token': the form was sent too soon after it was opened; send it again in {error.retry_after} s",
            {"parameter": "token", "retry_after": error.retry_after},
            headers={"Retry-After": str(error.retry_after)},
        ) from None
    kind = Kind(parsed.kind)
    matcher = _matcher()
    try:
        matcher.get(kind, parsed.record_id)
    except NotFound as error:
        raise ApiError(404, "not_found", error.message, {"parameter": "record_id", **error.details}) from None
    try:
        stored = intro_requests.store().create(
            kind,
            parsed.record_id,
            parsed.name.strip(),
            parsed.contact.strip(),
            organisation=parsed.organisation.strip(),
            message=parsed.message.strip(),
            language=parsed.language,
            client=limit_key(),
            duplicate_minutes=matcher.settings.introduction_request_duplicate_minutes,
        )
    except InvalidInput as error:
        if not error.details.get("duplicate"):
            raise
        raise ApiError(409, "duplicate", error.message, error.details) from None
    answer = {
        key: value
        for key, value in stored.to_dict().items()
        if key in ("id", "kind", "record_id", "state", "created_at")
    }
    return jsonify(answer), 201
