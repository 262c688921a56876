"""Every console route over ``app.url_map``: a signed-out visitor is sent to sign in and changes nothing,
a POST without a CSRF token is refused (400) and changes nothing, and hostile input never makes a 500.

The routes are read from the app itself, so a new route is tested without anyone remembering to add it.
"""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import urlsplit

import pytest

from matcher.engine import open as open_matcher
from matcher.events.store import EventStore
from matcher.records import Kind
from service import create_app
from service.api_keys import ApiKeys
from service.intro_requests import IntroRequests

PROJECT = {
    "id": "P1",
    "title": "Laser welding",
    "abstract": "laser welding of aluminium battery trays",
    "contact": "li@jlu.edu.cn",
}
NEED = {
    "id": "N1",
    "title": "电池托盘焊接",
    "description": "aluminium battery tray welding for electric buses",
    "enterprise": "FAW",
    "contact": "wang@faw.example.cn",
}
# A value for each argument a console route takes (a new argument fails test_every_route_argument_has_a_sample).
SAMPLES = {
    "kind": "projects",
    "record_id": "P1",
    "event_id": 1,
    "request_id": 1,
    "file_format": "csv",
    "chart": "funnel",
}


def _staff_rules() -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every console route but sign-in, from the app's own url_map."""
    app = create_app({"data_dir": "/tmp/unused-techmatch"})
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("staff.") or rule.endpoint == "staff.sign_in":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


RULES = _staff_rules()
POSTS = [entry for entry in RULES if entry[1] == "POST"]


def _url(app, endpoint: str) -> str:
    rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **{name: SAMPLES[name] for name in rule.arguments})


@pytest.fixture
def console(settings, fake_embedder):
    """An app with a project, a need, an event with one pair and an introduction request, and a staff key."""
    return _console(settings, fake_embedder)


@pytest.fixture
def unlimited_console(settings, fake_embedder):
    """:func:`console` without rate limits, for tests that send thousands of requests."""
    return _console(settings.replace(rate_limit="", write_rate_limit=""), fake_embedder)


def _console(settings, fake_embedder):
    matcher = open_matcher(settings, embedder=fake_embedder)
    matcher.ingest_batch(Kind.PROJECTS, [PROJECT])
    matcher.ingest_batch(Kind.NEEDS, [NEED])
    key, _ = ApiKeys(settings.catalogue_path).create("ana")
    app = create_app(settings, matcher=matcher)
    events = EventStore(settings.catalogue_path)
    event = events.create("Spring fair", "web:ana")
    events.add_pair(event.id, "N1", "P1", "web:ana")
    IntroRequests(settings.catalogue_path).create(Kind.PROJECTS, "P1", "Zhao", "zhao@example.cn")
    return app, key, settings


def _token(client, path: str = "/staff/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def signed_in(app, key):
    client = app.test_client()
    answer = client.post("/staff/sign-in", data={"csrf_token": _token(client), "api_key": key})
    assert answer.status_code == 302
    return client


def state_of(settings) -> list[str]:
    """Every row of the catalogue database (records, events, pairs, audit, outcomes, requests), as SQL."""
    with sqlite3.connect(settings.catalogue_path) as connection:
        return [line for line in connection.iterdump() if "rate_limit" not in line]


def test_every_route_argument_has_a_sample(console):
    app, _, _ = console
    for endpoint, _, _ in RULES:
        assert _url(app, endpoint).startswith("/staff/")
    assert len(RULES) >= 25  # the console's routes were found at all


@pytest.mark.parametrize(("endpoint", "method", "rule"), RULES)
def test_a_signed_out_visitor_is_sent_to_sign_in_and_changes_nothing(console, endpoint, method, rule):
    app, _, settings = console
    client = app.test_client()
    url = _url(app, endpoint)
    before = state_of(settings)
    if method == "GET":
        answer = client.get(url)
        assert answer.status_code == 302
        location = urlsplit(answer.headers["Location"])
        assert location.path == "/staff/sign-in" and location.query == "next=" + url
    else:  # with a valid CSRF token: only the session is missing
        answer = client.post(url, data={"csrf_token": _token(client), "need_id": "N1", "project_id": "P1"})
        assert answer.status_code == 302 and answer.headers["Location"] == "/staff/sign-in"
    assert state_of(settings) == before


@pytest.mark.parametrize(("endpoint", "method", "rule"), POSTS)
def test_a_post_without_a_csrf_token_is_refused_even_signed_in(console, endpoint, method, rule):
    app, key, settings = console
    client = signed_in(app, key)
    before = state_of(settings)
    answer = client.post(
        _url(app, endpoint),
        data={
            "need_id": "N1",
            "project_id": "P1",
            "action": "strike",
            "reason": "x",
            "status": "contacted",
            "name": "Renamed",
            "state": "answered",
            "title": "Changed",
        },
    )
    assert answer.status_code == 400
    assert state_of(settings) == before
    assert client.get("/staff/").status_code == 200  # still signed in: the refusal ended nothing


HOSTILE = ["", "x" * 20000, "a\x00b", "\u202e<script>alert(1)</script>", "-1", "1e9", "9" * 30, "NaN", "2026-13-45"]
GETS = [entry for entry in RULES if entry[1] == "GET"]
HUGE_ID = 10**30  # beyond SQLite's integers


@pytest.mark.parametrize(("endpoint", "method", "rule"), GETS)
def test_hostile_query_strings_never_make_a_500(console, endpoint, method, rule):
    app, key, _ = console
    client = signed_in(app, key)
    url = _url(app, endpoint)
    for name in ("page", "state", "event", "event_id", "lang", "kind", "q", "sort", "mode", "headers"):
        for value in HOSTILE:
            answer = client.get(url, query_string={name: value})
            assert answer.status_code < 500, (name, value[:40], answer.get_data(as_text=True)[:500])


def test_ids_beyond_sqlite_are_not_found_and_a_huge_page_is_refused(console):
    app, key, settings = console
    client = signed_in(app, key)
    for url in (f"/staff/events/{HUGE_ID}", f"/staff/events/{HUGE_ID}/audit", f"/staff/events/{HUGE_ID}/pack"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/staff/outcomes/template.csv?event_id={HUGE_ID}").status_code == 404
    refused = client.get(f"/staff/catalogue?page={HUGE_ID}")
    assert refused.status_code == 422 and "&#39;page&#39; is at most" in refused.get_data(as_text=True)
    long_word = client.get("/staff/catalogue", query_string={"q": "x" * 60000})
    assert long_word.status_code == 422 and "A search word has at most" in long_word.get_data(as_text=True)
    token = _token(client, "/staff/events")
    before = state_of(settings)
    for url in (f"/staff/events/{HUGE_ID}/state", f"/staff/requests/{HUGE_ID}", "/staff/outcomes/import"):
        data = {"csrf_token": token, "need_id": "N1", "project_id": "P1", "action": "approve", "state": "handled"}
        answer = client.post(url, data={**data, "event_id": str(HUGE_ID)})
        assert answer.status_code in (404, 422), (url, answer.status_code)
    assert state_of(settings) == before


@pytest.mark.parametrize(("endpoint", "method", "rule"), GETS)
def test_every_console_answer_is_kept_out_of_caches(console, endpoint, method, rule):
    app, key, _ = console
    client = signed_in(app, key)
    answer = client.get(_url(app, endpoint))
    assert answer.status_code < 500
    assert answer.headers["Cache-Control"] == "no-store", answer.headers.get("Cache-Control")


def test_an_outcome_dated_out_of_range_by_its_offset_is_refused_by_name(console):
    import io

    app, key, settings = console
    client = signed_in(app, key)
    before = state_of(settings)
    data = b"project_id,need_id,status,recorded_at\nP1,N1,contacted,0001-01-01T00:00+05:00\n"
    answer = client.post(
        "/staff/outcomes/import",
        data={"csrf_token": _token(client, "/staff/events"), "file": (io.BytesIO(data), "outcomes.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "recorded_at" in answer.get_data(as_text=True)
    assert state_of(settings) == before


SHOWS_STORED_TEXT = {
    "staff.catalogue",
    "staff.catalogue_record",
    "staff.dashboard",
    "staff.event",
    "staff.event_pack",
    "staff.events",
    "staff.event_audit",
    "staff.requests",
}
XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"'


@pytest.fixture
def hostile_console(settings, fake_embedder):
    """A console whose every stored text (records, metadata, event, pair note, request) is markup."""
    matcher = open_matcher(settings, embedder=fake_embedder)
    matcher.ingest_batch(
        Kind.PROJECTS,
        [{**PROJECT, "title": "laser welding " + XSS, "institution": XSS, "fields": [XSS], "metadata": {XSS: XSS}}],
    )
    matcher.ingest_batch(Kind.NEEDS, [{**NEED, "enterprise": XSS, "industry": XSS, "region": XSS}])
    key, _ = ApiKeys(settings.catalogue_path).create("ana")
    app = create_app(settings, matcher=matcher)
    events = EventStore(settings.catalogue_path)
    event = events.create(XSS, "web:ana")
    events.add_pair(event.id, "N1", "P1", "web:ana", note=XSS)
    IntroRequests(settings.catalogue_path).create(Kind.PROJECTS, "P1", XSS, "zhao@example.cn", message=XSS)
    return app, key, settings


@pytest.mark.parametrize(("endpoint", "method", "rule"), GETS)
def test_stored_markup_is_shown_as_text_on_every_console_page(hostile_console, endpoint, method, rule):
    app, key, _ = hostile_console
    client = signed_in(app, key)
    answer = client.get(_url(app, endpoint))
    assert answer.status_code < 500
    if answer.mimetype in ("text/html", "image/svg+xml"):
        body = answer.get_data(as_text=True)
        assert "<script>alert" not in body and "<img src=x" not in body
        if endpoint in SHOWS_STORED_TEXT:  # the markup did reach the page, as text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


FORMULAS = ('=HYPERLINK("http://x.example","a")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)")


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_no_console_csv_holds_a_live_formula(settings, fake_embedder):
    import csv
    import io

    from service.staff.dashboard import TABLES

    matcher = open_matcher(settings, embedder=fake_embedder)
    matcher.ingest_batch(
        Kind.PROJECTS,
        [{**PROJECT, "title": FORMULAS[0] + " laser welding", "institution": FORMULAS[1], "fields": [FORMULAS[3]]}],
    )
    matcher.ingest_batch(
        Kind.NEEDS, [{**NEED, "enterprise": FORMULAS[2], "industry": FORMULAS[3], "region": FORMULAS[1]}]
    )
    key, _ = ApiKeys(settings.catalogue_path).create("ana")
    app = create_app(settings, matcher=matcher)
    events = EventStore(settings.catalogue_path)
    event = events.create(FORMULAS[2], "web:ana")
    events.add_pair(event.id, "N1", "P1", "web:ana", note=FORMULAS[0])
    matcher.outcomes.record(
        project_id="P1", need_id="N1", status="agreement", author="web:ana", agreement_type="licence", note=FORMULAS[1]
    )
    client = signed_in(app, key)
    urls = [f"/staff/dashboard/{name}.csv?event={event.id}" for name in TABLES]
    urls += [f"/staff/events/{event.id}/export.csv", f"/staff/outcomes/template.csv?event_id={event.id}"]
    urls += ["/staff/catalogue/template/projects.csv", "/staff/catalogue/template/needs.csv"]
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        for row in csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))):
            for cell in row:
                assert _number(cell) or not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (url, cell)


def test_a_next_with_a_line_break_signs_in_to_the_console_home(console):
    app, key, _ = console
    client = app.test_client()
    answer = client.post(
        "/staff/sign-in?next=/staff/%0d%0aSet-Cookie:x=1", data={"csrf_token": _token(client), "api_key": key}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/staff/"


FORM_FIELDS = (
    "action",
    "reason",
    "note",
    "need_id",
    "project_id",
    "status",
    "agreement_type",
    "decline_reason",
    "name",
    "event_date",
    "updated_since",
    "min_score",
    "max_per_project",
    "project_field",
    "state",
    "kind",
    "mode",
    "encoding",
    "event_id",
    "version",
    "title",
    "abstract",
    "trl",
    "deadline",
    "metadata",
    "shown",
)


@pytest.mark.parametrize(("endpoint", "method", "rule"), [entry for entry in POSTS if entry[0] != "staff.sign_out"])
def test_hostile_form_values_never_make_a_500(unlimited_console, endpoint, method, rule):
    app, key, _ = unlimited_console
    client = signed_in(app, key)
    token = _token(client, "/staff/events")
    url = _url(app, endpoint)
    for name in FORM_FIELDS:
        for value in HOSTILE:
            data = {
                "csrf_token": token,
                "need_id": "N1",
                "project_id": "P1",
                "action": "approve",
                "name": "E",
                "status": "contacted",
                "title": "T",
                "abstract": "A",
                "state": "handled",
                name: value,
            }
            answer = client.post(url, data=data)
            assert answer.status_code < 500, (name, value[:40], answer.get_data(as_text=True)[:500])


def test_an_outcome_of_an_unplanned_events_pair_counts_in_that_event_only(console):
    from matcher.introductions.insights import event_funnels
    from service.staff.dashboard import planned_event

    app, key, settings = console
    events = EventStore(settings.catalogue_path)
    other = events.create("Autumn fair", "web:ana")
    events.add_pair(other.id, "N1", "P1", "web:ana")  # the same pair, in a second event without a plan
    client = signed_in(app, key)
    answer = client.post(
        "/staff/events/1/outcome",
        data={
            "csrf_token": _token(client, "/staff/events"),
            "need_id": "N1",
            "project_id": "P1",
            "status": "contacted",
        },
    )
    assert answer.status_code == 302
    outcomes = app.extensions["techmatch"].outcomes.list()
    planned = [planned_event(events, event, 0.5) for event in events.list()]
    contacted = {funnel.label: funnel.contacted for funnel in event_funnels(planned, outcomes)}
    assert contacted == {"Spring fair": 1, "Autumn fair": 0}
