"""The API contract in both directions: schemathesis drives every operation of the OpenAPI document against the app.

Requests are generated from the document, valid ones (which must be accepted) and invalid ones
(which must be refused with a 4xx), with a valid API key and without one; every response must be
documented, JSON, and match its schema, and none may be a server error. All of schemathesis's
checks run but the response time (the machine is shared; no timed assertion), and a stateful run
follows the document's links (an upserted record read back, a plan job polled). Refusing a
request as too large (413) counts as refusing it: the document states the limits.
`benchmarks/security_trial.py` runs the same against the real server, longer.
"""

from __future__ import annotations

import re
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import load_all_checks, max_response_time
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from matcher.config import load_settings
from service import create_app
from service.api_keys import ApiKeys
from service.openapi import openapi_document

load_all_checks()
EXCLUDED = [max_response_time]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "414",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            }
        }
    }
)
DOCUMENT = openapi_document(load_settings(environ={}))
OPERATIONS = [(path, method) for path, methods in DOCUMENT["paths"].items() for method in methods]
# Operations that take input, so that an invalid request of them exists.
WITH_INPUT = {
    (path, method)
    for path, method in OPERATIONS
    if {"parameters", "requestBody"} & set(DOCUMENT["paths"][path][method])
}
CASES = [
    (path, method, mode)
    for path, method in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or (path, method) in WITH_INPUT
]


@pytest.fixture(scope="module")
def contract_app(sample_dir, tmp_path_factory, real_embedder):
    from matcher.engine import open as open_matcher

    data_dir = tmp_path_factory.mktemp("contract") / "var"
    shutil.copytree(sample_dir, data_dir)
    # Many plans are submitted at once here: the pool must not shed them (tests/unit/test_plan_jobs.py tests that).
    config = load_settings(
        environ={}, data_dir=data_dir, show_progress=False, rate_limit="", write_rate_limit="", plan_queue=10_000
    )
    matcher = open_matcher(config, embedder=real_embedder)
    key, _ = ApiKeys(matcher.settings.catalogue_path).create("contract tests")
    return create_app(config, matcher=matcher), key


def _schema(app, key: str | None):
    """The app's document as schemathesis reads it; with a key, sent the way the document's security scheme says."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    if key is not None:

        @schema.auth()
        class StaffKey:
            def get(self, case, context):
                return key

            def set(self, case, data, context):
                case.headers = {**(case.headers or {}), "X-API-Key": data}

    return schema


@pytest.fixture(scope="module")
def schemas(contract_app):
    app, key = contract_app
    return {"keyed": _schema(app, key), "unkeyed": _schema(app, None)}


@pytest.mark.parametrize("caller", ["keyed", "unkeyed"])
@pytest.mark.parametrize(
    ("path", "method", "mode"),
    CASES,
    ids=[f"{m.upper()} {p} {'valid' if mode.is_positive else 'invalid'}" for p, m, mode in CASES],
)
def test_operation_honours_its_contract(schemas, path, method, mode, caller):
    operation = schemas[caller][path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        case.call_and_validate(excluded_checks=EXCLUDED)

    run()


def test_linked_operations_honour_the_contract_in_sequence(schemas):
    """The stateful run: operations chained by the document's links, with a key, every check after each step."""
    machine = schemas["keyed"].as_state_machine()

    class Run(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, additional_checks=(), **kwargs):
            case.validate_response(response, excluded_checks=EXCLUDED)

    Run.run(settings=settings(max_examples=15, stateful_step_count=4, deadline=None, database=None))


def test_the_document_lists_every_route(contract_app):
    app, _ = contract_app
    routes = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(OPERATIONS)
