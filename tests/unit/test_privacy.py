"""Private fields stay out of public answers, also under a spreadsheet's longer names for them."""

from __future__ import annotations

import dataclasses

from matcher.config import Settings
from service.privacy import is_private, private_names, redact_record

PRIVATE = private_names(next(f.default for f in dataclasses.fields(Settings) if f.name == "private_fields"))


def test_longer_names_holding_a_private_word_are_private():
    for name in (
        "contact",
        "Contact person",
        "contact_person",
        "E-mail address",
        "email",
        "phone_number",
        "Mobile Phone",
        "WeChat",
        "联系人姓名",
        "联系电话",
        "手机号",
        "项目预算",
        "Budget (CNY)",
    ):
        assert is_private(name, PRIVATE), name
    for name in ("hotel", "institution", "intelligence", "title", "field", "region", "contacted"):
        assert not is_private(name, PRIVATE), name


def test_a_public_record_keeps_no_private_metadata_key():
    record = {
        "id": "P1",
        "title": "T",
        "contact": "a@b.cn",
        "metadata": {"Contact person": "Li", "手机号": "138", "lab": "X"},
    }
    assert redact_record(record, PRIVATE) == {"id": "P1", "title": "T", "metadata": {"lab": "X"}}


def test_unkeyed_api_answers_hold_no_private_value(settings, fake_embedder):
    from matcher.engine import open as open_matcher
    from matcher.records import Kind
    from service import create_app

    matcher = open_matcher(settings, embedder=fake_embedder)
    secret = {
        "contact": "SECRET1@jlu.cn",
        "budget": "SECRET2",
        "metadata": {"Contact person": "SECRET3", "手机号": "SECRET4"},
    }
    matcher.ingest_batch(Kind.PROJECTS, [{"id": "P1", "title": "Laser welding", "abstract": "laser welding", **secret}])
    matcher.ingest_batch(
        Kind.NEEDS, [{"id": "N1", "title": "welding", "description": "weld", "enterprise": "FAW", **secret}]
    )
    client = create_app(settings, matcher=matcher).test_client()
    answers = [
        client.get(url)
        for url in (
            "/api/v1/vocabularies",
            "/api/v1/projects/P1",
            "/api/v1/needs/N1",
            "/api/v1/projects/P1/matches",
            "/api/v1/needs/N1/matches",
        )
    ]
    answers.append(client.post("/api/v1/match", json={"text": "laser welding", "direction": "need_to_projects"}))
    for answer in answers:
        assert answer.status_code == 200
        body = answer.get_data(as_text=True)
        assert "SECRET" not in body and "Contact person" not in body and "手机号" not in body


def test_a_staff_callers_api_answers_are_kept_out_of_caches(settings, fake_embedder):
    from matcher.engine import open as open_matcher
    from matcher.records import Kind
    from service import create_app
    from service.api_keys import ApiKeys

    matcher = open_matcher(settings, embedder=fake_embedder)
    matcher.ingest_batch(Kind.PROJECTS, [{"id": "P1", "title": "Laser", "abstract": "laser", "contact": "a@b.cn"}])
    key, _ = ApiKeys(settings.catalogue_path).create("ana")
    client = create_app(settings, matcher=matcher).test_client()
    keyed = client.get("/api/v1/projects/P1", headers={"X-API-Key": key})
    assert "a@b.cn" in keyed.get_data(as_text=True) and keyed.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/projects/P1").headers.get("Cache-Control") != "no-store"  # public reads may be cached
