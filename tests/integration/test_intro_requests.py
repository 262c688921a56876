"""Introduction requests (the public page's form, the staff list) and the filters' vocabularies, through the app."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from matcher.engine import open as open_matcher
from service import create_app
from service.api_keys import ApiKeys
from service.intro_requests import FormTokens, IntroRequests, TooSoon, contact_shape

API = "/api/v1"


def _app(copied_settings, real_embedder, **overrides):
    wanted = {"rate_limit": "", "write_rate_limit": "", "introduction_request_min_seconds": 0.0, **overrides}
    settings = dataclasses.replace(copied_settings, **wanted)
    return create_app(settings, matcher=open_matcher(settings, embedder=real_embedder))


@pytest.fixture
def app(copied_settings, real_embedder):
    return _app(copied_settings, real_embedder)


def _token(client) -> str:
    response = client.get(f"{API}/introduction-requests/token")
    assert response.status_code == 200
    return str(response.get_json()["token"])


def _request(client, **changes):
    body = {
        "kind": "projects",
        "record_id": "P024",
        "name": "Wang Fang",
        "organisation": "Changbai Auto Parts",
        "contact": "wang.fang@example.com",
        "message": "We weld battery trays and would like to meet the team.",
        "language": "en",
        "token": _token(client),
        "website": "",
    }
    body.update(changes)
    return client.post(f"{API}/introduction-requests", json=body)


def _error(response) -> tuple[int, str, str | None]:
    error = response.get_json()["error"]
    return response.status_code, error["code"], error["details"].get("parameter")


def test_a_valid_request_is_stored_for_staff(app):
    client = app.test_client()
    response = _request(client, language="zh", contact="+86 431 8888 1234")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "kind", "record_id", "state", "created_at"}
    assert body["state"] == "new" and body["record_id"] == "P024"
    (stored,) = IntroRequests(app.extensions["techmatch"].settings.catalogue_path).list()
    assert (stored.requester_name, stored.requester_contact, stored.language) == (
        "Wang Fang",
        "+86 431 8888 1234",
        "zh",
    )
    assert stored.client == "ip:127.0.0.1"


@pytest.mark.parametrize(
    ("changes", "status", "code", "parameter"),
    [
        ({"website": "http://spam.example"}, 422, "invalid_parameter", "website"),
        ({"contact": "call me maybe"}, 422, "invalid_parameter", "contact"),
        ({"contact": "12345"}, 422, "invalid_parameter", "contact"),
        ({"name": "   "}, 422, "invalid_parameter", "name"),
        ({"message": "x" * 2001}, 422, "invalid_parameter", "message"),
        ({"organisation": "o" * 201}, 422, "invalid_parameter", "organisation"),
        ({"language": "fr"}, 422, "invalid_parameter", "language"),
        ({"kind": "people"}, 422, "invalid_parameter", "kind"),
        ({"token": "forged.token.here"}, 403, "invalid_token", "token"),
        ({"record_id": "P999"}, 404, "not_found", "record_id"),
        ({"record_id": "P024", "kind": "needs"}, 404, "not_found", "record_id"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(app, changes, status, code, parameter):
    assert _error(_request(app.test_client(), **changes)) == (status, code, parameter)
    assert IntroRequests(app.extensions["techmatch"].settings.catalogue_path).list() == []


def test_the_same_contact_asking_again_for_the_same_record_is_a_duplicate(app):
    client = app.test_client()
    assert _request(client).status_code == 201
    assert _error(_request(client, contact="WANG.FANG@example.com")) == (409, "duplicate", "contact")
    assert _request(client, record_id="P001").status_code == 201  # another record is another request
    assert _request(client, contact="li.wei@example.com").status_code == 201


def test_a_form_sent_too_soon_after_it_opened_is_refused(copied_settings, real_embedder):
    app = _app(copied_settings, real_embedder, introduction_request_min_seconds=60.0)
    response = _request(app.test_client())
    assert _error(response) == (429, "too_soon", "token")
    assert 55 <= response.get_json()["error"]["details"]["retry_after"] <= 60
    assert int(response.headers["Retry-After"]) >= 55  # the limiter's header: the later of the two waits


def test_form_tokens_age_and_signature():
    token = FormTokens("secret", min_seconds=3).issue()
    FormTokens("secret", min_seconds=3, clock=lambda: time.time() + 10).check(token)  # ten seconds on: accepted
    with pytest.raises(TooSoon):
        FormTokens("secret", min_seconds=3, clock=lambda: time.time() + 1).check(token)
    with pytest.raises(Exception, match="not valid"):
        FormTokens("another secret", 3).check(token)
    assert contact_shape("li@example.cn") == "email" and contact_shape("(0431) 8888-1234") == "phone"
    assert contact_shape("li@localhost") is None and contact_shape("<li@example.cn>") is None


def test_requests_are_rate_limited_per_client(copied_settings, real_embedder):
    app = _app(copied_settings, real_embedder, introduction_request_rate_limit="2 per hour")
    client = app.test_client()
    assert _request(client).status_code == 201
    assert _request(client, record_id="P001").status_code == 201
    limited = _request(client, record_id="P002")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert client.get(f"{API}/introduction-requests/token").status_code == 200  # only the posts are limited


def test_vocabularies_list_each_filters_values_with_counts(app):
    client = app.test_client()
    body = client.get(f"{API}/vocabularies").get_json()
    assert set(body["projects"]) == {"field", "institution", "language", "ip_status"}
    assert set(body["needs"]) == {"industry", "region", "enterprise", "language"}
    assert body["trl_range"] == [1, 9]
    regions = {item["value"]: item["count"] for item in body["needs"]["region"]}
    assert regions["长白"] == 13 and regions["Changbai"] == 18
    fields = [item["value"] for item in body["projects"]["field"]]
    assert "agriculture and food" in fields and len(fields) == len(set(fields))
    assert {item["value"] for item in body["projects"]["ip_status"]} == {
        "patent granted",
        "patent pending",
        "no patent",
        "licensed",
    }
    counts = [item["count"] for item in body["projects"]["institution"]]
    assert counts == sorted(counts, reverse=True)


def test_vocabularies_follow_the_catalogue_and_hide_private_fields(copied_settings, real_embedder):
    app = _app(copied_settings, real_embedder, private_fields="contact,region")
    key, _ = ApiKeys(app.extensions["techmatch"].settings.catalogue_path).create("staff")
    client = app.test_client()
    assert "region" not in client.get(f"{API}/vocabularies").get_json()["needs"]
    keyed = client.get(f"{API}/vocabularies", headers={"X-API-Key": key}).get_json()
    assert "Dalian" in {item["value"] for item in keyed["needs"]["region"]}
    put = client.put(
        f"{API}/needs/N900",
        json={"title": "Icebreaking sensors", "description": "Sensors for river ice.", "region": "Yanji"},
        headers={"X-API-Key": key},
    )
    assert put.status_code == 200
    after = client.get(f"{API}/vocabularies", headers={"X-API-Key": key}).get_json()
    assert after["revisions"]["needs"] == keyed["revisions"]["needs"] + 1
    assert {"value": "Yanji", "count": 1} in after["needs"]["region"]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_staff_see_requests_newest_first_and_mark_them(app):
    client = app.test_client()
    first = _request(client, name="First Asker").get_json()["id"]
    second = _request(client, name="Second Asker", record_id="N027", kind="needs", contact="13912345678").get_json()[
        "id"
    ]
    assert client.get("/staff/requests").status_code == 302  # signed out: sent to sign in
    key, _ = ApiKeys(app.extensions["techmatch"].settings.catalogue_path).create("Zhao Lei")
    token = _csrf(client.get("/staff/sign-in").get_data(as_text=True))
    assert client.post("/staff/sign-in", data={"api_key": key, "csrf_token": token}).status_code == 302
    page = client.get("/staff/requests").get_data(as_text=True)
    assert page.index("Second Asker") < page.index("First Asker")
    assert 'href="/#/needs/N027"' in page and "13912345678" in page
    refused = client.post(f"/staff/requests/{first}", data={"state": "handled"})
    assert refused.status_code == 400  # no CSRF token
    marked = client.post(f"/staff/requests/{first}", data={"state": "handled", "csrf_token": _csrf(page)})
    assert marked.status_code == 302
    stored = IntroRequests(app.extensions["techmatch"].settings.catalogue_path).get(first)
    assert (stored.state, stored.handled_by) == ("handled", "web:Zhao Lei")
    assert IntroRequests(app.extensions["techmatch"].settings.catalogue_path).get(second).state == "new"
    bad = client.post(f"/staff/requests/{second}", data={"state": "lost", "csrf_token": _csrf(page)})
    assert bad.status_code == 422
    handled = client.get("/staff/requests?state=handled&lang=zh").get_data(as_text=True)
    assert "First Asker" in handled and "Second Asker" not in handled and "已处理" in handled
