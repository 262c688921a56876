"""The API contract: schemathesis drives every operation of the OpenAPI document against the app.

Requests are generated from the document (with a valid API key, so writes run too); every
response must be documented, JSON, and match its schema, and none may be a server error.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from matcher.config import load_settings
from service import create_app
from service.api_keys import ApiKeys
from service.openapi import openapi_document

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [
    (path, method)
    for path, methods in openapi_document(load_settings(environ={}))["paths"].items()
    for method in methods
]


@pytest.fixture(scope="module")
def contract_app(sample_dir, tmp_path_factory, real_embedder):
    import shutil

    from matcher.engine import open as open_matcher

    data_dir = tmp_path_factory.mktemp("contract") / "var"
    shutil.copytree(sample_dir, data_dir)
    config = load_settings(environ={}, data_dir=data_dir, show_progress=False, rate_limit="", write_rate_limit="")
    matcher = open_matcher(config, embedder=real_embedder)
    key, _ = ApiKeys(matcher.settings.catalogue_path).create("contract tests")
    return create_app(config, matcher=matcher), key


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_operation_honours_its_contract(contract_app, path, method):
    app, key = contract_app
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        case.call_and_validate(headers={"X-API-Key": key}, checks=CHECKS)

    run()


def test_the_document_lists_every_route(contract_app):
    app, _ = contract_app
    routes = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(OPERATIONS)
