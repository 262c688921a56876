"""The OpenAPI 3 document of /api/v1, generated from the pydantic models in :mod:`service.contract`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from matcher import __version__
from matcher.config import Settings
from matcher.filters import FILTERS, INTEGER_RANGE
from matcher.introductions.export import FORMATS, XLSX_MEDIA_TYPE
from matcher.outcomes.store import OutcomeStatus
from matcher.records import MAX_ID_CHARS, Kind
from service.access import KEY_HEADER
from service.contract import (
    CLEAN_NON_BLANK,
    DATE,
    INPUT_OF,
    OUTCOME_BODIES,
    DeleteReportOut,
    ErrorOut,
    FormTokenOut,
    HealthOut,
    IngestReportOut,
    IntroductionRequestBody,
    IntroductionRequestOut,
    MatchResponse,
    NeedTextBody,
    OutcomeList,
    OutcomeOut,
    PlanBody,
    PlanJobOut,
    ProjectTextBody,
    RecordOut,
    VocabulariesOut,
)

ERRORS = {
    "400": "The body is not valid JSON",
    "401": "A key is needed, or the key is not valid",
    "404": "No such record or path",
    "405": "The path does not take this method",
    "413": "The request, a text or a batch is over its limit",
    "415": "The body is not application/json",
    "422": "A parameter or a record is not valid (details name it)",
    "429": "Too many requests from this client (its key, else its address); wait Retry-After seconds",
    "500": "An unexpected error (see the server log)",
    "503": "No index yet, an index of another model, the plan queue is full, or a write is busy behind another (Retry-After)",
}


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        if model.__name__ not in self.schemas:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            self.schemas.update(schema.pop("$defs", {}))
            self.schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(
    components: _Components,
    summary: str,
    response: type[BaseModel] | dict[str, Any],
    *,
    tag: str,
    secured: bool,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    success_status: str = "200",
) -> dict[str, Any]:
    error = components.ref(ErrorOut)
    success = response if isinstance(response, dict) else components.ref(response)
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "operationId": summary.lower().replace(" ", "_").replace("'", ""),
        "responses": {
            success_status: {
                "description": {"201": "Created", "202": "Accepted"}.get(success_status, "OK"),
                **_json(success),
            }
        }
        | {status: {"description": text, **_json(error)} for status, text in ERRORS.items()}
        # The HTTP server (gunicorn or the proxy in front) refuses an overlong request line itself, not in JSON.
        | {"414": {"description": "The URL is too long (refused by the HTTP server, before the app)"}},
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    operation["security"] = [{"ApiKey": []}] if secured else [{}, {"ApiKey": []}]
    return operation


def _path_id(kind: Kind) -> dict[str, Any]:
    return {
        "name": "record_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": CLEAN_NON_BLANK},
        "description": f"The {kind.singular}'s id",
    }


def _match_parameters(target: Kind, max_top_k: int) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": "top_k",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_top_k},
            "description": "How many matches",
        },
        {
            "name": "min_score",
            "in": "query",
            "schema": {"type": "number", "minimum": 0, "maximum": 1},
            "description": "A floor on match strength (0 to 1)",
        },
        {
            "name": "explain",
            "in": "query",
            "schema": {"type": "boolean"},
            "description": "Explain each match (default true)",
        },
    ]
    low, high = INTEGER_RANGE
    for name, spec in FILTERS[target].items():
        schema: dict[str, Any] = {"type": "string"}
        if spec.takes_integer:
            schema = {"type": "integer", "minimum": low, "maximum": high}
        elif spec.takes_date:
            schema = {"type": "string", "format": "date", "pattern": DATE}
        parameters.append({"name": name, "in": "query", "schema": schema, "description": f"Filter the {target.value}"})
    return parameters


def _outcome_parameters() -> list[dict[str, Any]]:
    statuses = [status.value for status in OutcomeStatus]
    return [
        {"name": "need_id", "in": "query", "schema": {"type": "string"}, "description": "Only this need's outcomes"},
        {
            "name": "project_id",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Only this project's outcomes",
        },
        {
            "name": "status",
            "in": "query",
            "schema": {"type": "string", "enum": statuses},
            "description": "Only this status",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1},
            "description": "At most this many, newest first",
        },
    ]


@lru_cache(maxsize=4)
def _document(public_reads: bool, max_top_k: int, max_text_chars: int, max_batch_records: int) -> dict[str, Any]:
    components = _Components()
    reads_secured = not public_reads
    paths: dict[str, Any] = {
        "/api/v1/health": {"get": _operation(components, "Health", HealthOut, tag="status", secured=False)},
        "/api/v1/openapi.json": {
            "get": _operation(components, "OpenAPI document", {"type": "object"}, tag="status", secured=False)
        },
        "/api/v1/match": {
            "post": _operation(
                components,
                "Match a free text",
                MatchResponse,
                tag="matching",
                secured=reads_secured,
                body={"oneOf": [components.ref(NeedTextBody), components.ref(ProjectTextBody)]},
            )
        },
    }
    for kind in Kind:
        single, batch, fields = INPUT_OF[kind]
        records = {"type": "array", "items": components.ref(single), "minItems": 1, "maxItems": max_batch_records}
        components.ref(batch)
        components.schemas[batch.__name__]["properties"]["records"] = records
        paths[f"/api/v1/{kind.value}"] = {
            "post": _operation(
                components,
                f"Upsert a batch of {kind.value}",
                IngestReportOut,
                tag="records",
                secured=True,
                body={"oneOf": [records, components.ref(batch)]},
            )
        }
        paths[f"/api/v1/{kind.value}/{{record_id}}"] = {
            "get": _operation(
                components,
                f"Get a {kind.singular}",
                RecordOut,
                tag="records",
                secured=reads_secured,
                parameters=[_path_id(kind)],
            ),
            "put": _operation(
                components,
                f"Upsert a {kind.singular}",
                IngestReportOut,
                tag="records",
                secured=True,
                parameters=[_path_id(kind)],
                body=components.ref(fields),
            ),
            "delete": _operation(
                components,
                f"Delete a {kind.singular}",
                DeleteReportOut,
                tag="records",
                secured=True,
                parameters=[_path_id(kind)],
            ),
        }
        paths[f"/api/v1/{kind.value}/{{record_id}}/matches"] = {
            "get": _operation(
                components,
                f"Match a stored {kind.singular}",
                MatchResponse,
                tag="matching",
                secured=reads_secured,
                parameters=[_path_id(kind), *_match_parameters(kind.other, max_top_k)],
            )
        }
    paths["/api/v1/outcomes"] = {
        "post": _operation(
            components,
            "Record an outcome",
            OutcomeOut,
            tag="outcomes",
            secured=True,
            body={"oneOf": [components.ref(model) for model in dict.fromkeys(OUTCOME_BODIES.values())]},
            success_status="201",
        ),
        "get": _operation(
            components,
            "List outcomes",
            OutcomeList,
            tag="outcomes",
            secured=True,
            parameters=_outcome_parameters(),
        ),
    }
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "The plan job's id",
    }
    submit = _operation(
        components,
        "Plan introductions",
        PlanJobOut,
        tag="introductions",
        secured=True,
        body=components.ref(PlanBody),
        success_status="202",
    )
    submit["responses"]["202"]["description"] = "Accepted: poll the job (Location header) until its state is done"
    export = _operation(
        components,
        "Export a plan",
        {"type": "string"},
        tag="introductions",
        secured=True,
        parameters=[
            job_id,
            {
                "name": "file_format",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": list(FORMATS)},
            },
        ],
    )
    export["responses"]["200"] = {
        "description": "The plan as a file",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
    export["responses"]["409"] = {"description": "The job is not done yet", **_json(components.ref(ErrorOut))}
    paths["/api/v1/introductions/plan"] = {"post": submit}
    paths["/api/v1/introductions/plan/{job_id}"] = {
        "get": _operation(
            components, "Get a plan job", PlanJobOut, tag="introductions", secured=True, parameters=[job_id]
        )
    }
    paths["/api/v1/introductions/plan/{job_id}/export.{file_format}"] = {"get": export}
    paths["/api/v1/vocabularies"] = {
        "get": _operation(components, "Filter vocabularies", VocabulariesOut, tag="matching", secured=reads_secured)
    }
    paths["/api/v1/introduction-requests/token"] = {
        "get": _operation(
            components, "Get an introduction request form token", FormTokenOut, tag="requests", secured=reads_secured
        )
    }
    ask = _operation(
        components,
        "Request an introduction",
        IntroductionRequestOut,
        tag="requests",
        secured=reads_secured,
        body=components.ref(IntroductionRequestBody),
        success_status="201",
    )
    error = _json(components.ref(ErrorOut))
    ask["responses"]["403"] = {"description": "The form token is not valid or too old (details name it)", **error}
    ask["responses"]["404"] = {"description": "No such record (details name record_id)", **error}
    ask["responses"]["409"] = {"description": "The same contact asked for this record a short while ago", **error}
    ask["responses"]["429"] = {
        "description": "Sent too soon after the token was issued, or too many requests from this client; "
        "wait Retry-After seconds",
        **error,
    }
    paths["/api/v1/introduction-requests"] = {"post": ask}
    for body in (NeedTextBody, ProjectTextBody):
        components.schemas[body.__name__]["properties"]["text"]["maxLength"] = max_text_chars
        components.schemas[body.__name__]["properties"]["top_k"]["anyOf"][0]["maximum"] = max_top_k
    for kind, (single, _, fields) in INPUT_OF.items():
        for model in (single, fields):
            components.schemas[model.__name__]["properties"][kind.body_field]["maxLength"] = max_text_chars
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "techmatch",
            "version": __version__,
            "description": "Match research projects with enterprise technology needs, with explanations. "
            f"Writes need an API key in the {KEY_HEADER} header; reads are "
            + ("public." if public_reads else "key-protected too.")
            + f" top_k is at most {max_top_k}.",
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER}},
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The document for these settings (whether reads need a key changes it)."""
    return _document(settings.public_reads, settings.max_top_k, settings.max_text_chars, settings.max_batch_records)
