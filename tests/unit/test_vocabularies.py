"""One source for every vocabulary: the OpenAPI document and the CLI agree with the library's enums."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any

import click
import pytest
from click.testing import CliRunner

from matcher.config import load_settings
from matcher.engine import open as open_matcher
from matcher.evaluation.runner import METHODS, SPLITS, method_policies
from matcher.filters import DATE_FILTERS, FILTERS, INTEGER_FILTERS, INTEGER_RANGE, query_filter_value, takes_integer
from matcher.introductions.export import FORMATS
from matcher.introductions.solver import SOLVERS, Solver
from matcher.outcomes.store import AgreementType, DeclineReason, OutcomeStatus
from matcher.pipeline.request import Direction
from matcher.records import Kind
from matcher.retrieval.channels import Channel
from matcher.retrieval.ranking import Fusion, Method
from matcher.strength.model import Band
from service import create_app
from service.cli import main
from service.contract import DATE
from service.intro_requests import AnswerLanguage, RequestState

# Every enum-typed field of the contract, by schema and property.
ENUM_FIELDS: dict[tuple[str, str], type[Enum]] = {
    ("QueryOut", "direction"): Direction,
    ("MatchOut", "kind"): Kind,
    ("MatchOut", "band"): Band,
    ("MatchOut", "channel"): Channel,
    ("IngestReportOut", "kind"): Kind,
    ("DeleteReportOut", "kind"): Kind,
    ("ScoresOut", "method"): Method,
    ("ScoresOut", "fusion"): Fusion,
    ("PlanBody", "solver"): Solver,
    ("Agreed", "agreement_type"): AgreementType,
    ("Declined", "decline_reason"): DeclineReason,
    ("OutcomeOut", "status"): OutcomeStatus,
    ("OutcomeOut", "agreement_type"): AgreementType,
    ("OutcomeOut", "decline_reason"): DeclineReason,
    ("IntroductionRequestBody", "language"): AnswerLanguage,
    ("IntroductionRequestBody", "kind"): Kind,
    ("IntroductionRequestOut", "kind"): Kind,
    ("IntroductionRequestOut", "state"): RequestState,
}
# Fields whose values are split over the variants of a body (one variant per direction or status).
VARIANT_FIELDS: dict[tuple[tuple[str, ...], str], type[Enum]] = {
    (("NeedTextBody", "ProjectTextBody"), "direction"): Direction,
    (("ContactedOrMet", "Agreed", "Declined"), "status"): OutcomeStatus,
}
# Vocabularies only the service has (no library enum names them yet).
SERVICE_ONLY = [{"base", "reranked"}, {"ok", "degraded"}, {"queued", "running", "done", "failed"}]
MATCH_OPTIONS = {"record_id", "top_k", "min_score", "explain"}


@pytest.fixture(params=[True, False], ids=["public reads", "key-protected reads"])
def document(request, settings, fake_embedder) -> dict[str, Any]:
    settings = settings.replace(public_reads=request.param)
    app = create_app(settings, matcher=open_matcher(settings, embedder=fake_embedder))
    return app.test_client().get("/api/v1/openapi.json").get_json()  # type: ignore[no-any-return]


def values(enum: type[Enum]) -> set[str]:
    return {member.value for member in enum}


def enum_of(schema: dict[str, Any]) -> set[str] | None:
    """The values a property's schema allows, looking through ``anyOf`` (an optional field)."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "enum" in option:
            return set(option["enum"])
        if "const" in option:
            return {option["const"]}
    return None


def all_enums(node: Any) -> Iterator[set[str]]:
    if isinstance(node, dict):
        if "enum" in node:
            yield set(node["enum"])
        for child in node.values():
            yield from all_enums(child)
    elif isinstance(node, list):
        for child in node:
            yield from all_enums(child)


def test_every_enum_field_of_the_contract_takes_exactly_the_enums_values(document):
    schemas = document["components"]["schemas"]
    for (schema, field), enum in ENUM_FIELDS.items():
        assert enum_of(schemas[schema]["properties"][field]) == values(enum), (schema, field)
    for (variants, field), enum in VARIANT_FIELDS.items():
        found = [enum_of(schemas[variant]["properties"][field]) or set() for variant in variants]
        assert set().union(*found) == values(enum), (variants, field)
        assert sum(len(part) for part in found) == len(values(enum)), (variants, field)  # no value in two variants
    status = next(p for p in document["paths"]["/api/v1/outcomes"]["get"]["parameters"] if p["name"] == "status")
    assert [*status["schema"]["enum"]] == [member.value for member in OutcomeStatus]
    export = document["paths"]["/api/v1/introductions/plan/{job_id}/export.{file_format}"]["get"]
    file_format = next(p for p in export["parameters"] if p["name"] == "file_format")
    assert file_format["schema"]["enum"] == list(FORMATS)


def test_no_enum_in_the_document_is_typed_out_apart_from_a_library_vocabulary(document):
    known = [values(enum) for enum in set(ENUM_FIELDS.values())] + [set(FORMATS)] + SERVICE_ONLY
    split = [values(enum) for enum in VARIANT_FIELDS.values()]  # a variant takes part of its vocabulary
    for found in all_enums(document):
        assert found in known or any(found < vocabulary for vocabulary in split), found


def test_filter_parameters_are_the_librarys_and_integer_exactly_where_the_library_says(document):
    integer_parameters: set[str] = set()
    for kind in Kind:
        parameters = document["paths"][f"/api/v1/{kind.value}/{{record_id}}/matches"]["get"]["parameters"]
        filters = [p for p in parameters if p["name"] not in MATCH_OPTIONS]
        assert [p["name"] for p in filters] == list(FILTERS[kind.other])
        for parameter in filters:
            schema = parameter["schema"]
            if schema["type"] == "integer":
                integer_parameters.add(parameter["name"])
                assert (schema["minimum"], schema["maximum"]) == INTEGER_RANGE
            elif parameter["name"] in DATE_FILTERS:
                assert schema == {"type": "string", "format": "date", "pattern": DATE}
            else:
                assert schema == {"type": "string"}
    assert integer_parameters == INTEGER_FILTERS == {"trl_min", "trl_max"}
    assert {"deadline_from"} == DATE_FILTERS
    assert all(takes_integer(name) for name in INTEGER_FILTERS) and not takes_integer("field")


def test_query_string_filters_parse_integers_from_their_last_value_and_keep_repeated_text():
    assert query_filter_value("trl_min", ["x", "4"]) == 4
    assert query_filter_value("field", ["a"]) == "a"
    assert query_filter_value("field", ["a", "b"]) == ["a", "b"]


def test_a_query_string_integer_filter_that_is_not_a_number_is_a_422_naming_it(settings, fake_embedder):
    app = create_app(settings, matcher=open_matcher(settings, embedder=fake_embedder))
    response = app.test_client().get("/api/v1/needs/N1/matches?trl_min=high")
    assert response.status_code == 422
    assert response.get_json() == {
        "error": {
            "code": "invalid_parameter",
            "message": "Query parameter 'trl_min' must be a whole number, got 'high'",
            "details": {"parameter": "trl_min", "value": "high"},
        }
    }


def _choices() -> dict[str, list[list[str]]]:
    """Each option name of every command, with the choices it offers (an option may recur)."""
    found: dict[str, list[list[str]]] = {}

    def walk(command: click.Command) -> None:
        for parameter in command.params:
            if isinstance(parameter.type, click.Choice):
                found.setdefault(parameter.opts[0], []).append(list(parameter.type.choices))
        for child in getattr(command, "commands", {}).values():
            walk(child)

    walk(main)
    return found


def test_cli_choices_are_the_librarys_enums_in_their_order():
    choices = _choices()
    expected = {
        "--kind": [member.value for member in Kind],
        "--direction": [member.value for member in Direction],
        "--status": [member.value for member in OutcomeStatus],
        "--agreement-type": [member.value for member in AgreementType],
        "--decline-reason": [member.value for member in DeclineReason],
        "--solver": [member.value for member in Solver],
        "--split": list(SPLITS),
        "--method": [*METHODS, "all"],
    }
    assert set(choices) == set(expected)
    for option, offered in choices.items():
        assert all(each == expected[option] for each in offered), option
    assert list(SOLVERS) == [member.value for member in Solver]
    assert tuple(method_policies(load_settings(environ={}))) == METHODS


@pytest.mark.parametrize("value", ["high", "²"])
def test_a_cli_integer_filter_that_is_not_a_number_is_a_usage_error(settings, value):
    result = CliRunner().invoke(
        main, ["--data-dir", str(settings.data_dir), "match", "--text", "x", "--filter", f"trl_min={value}"]
    )
    assert (
        result.exit_code == 2
        and f"Invalid value for --filter: trl_min takes a whole number, got {value!r}" in result.output
    )
