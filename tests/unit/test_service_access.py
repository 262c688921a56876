"""Access to the service: API keys (CLI and hashes), 401s, public or protected reads, CORS, limits."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from click.testing import CliRunner

from matcher.engine import open as open_matcher
from matcher.errors import ConfigError
from matcher.records import Kind
from service import create_app, web as web_module
from service.api_keys import ApiKeys
from service.cli import main
from service.web import CJK_FONT_URL

PROJECT = {"id": "P1", "title": "Laser welding", "abstract": "laser welding of aluminium battery trays"}
NEED = {"id": "N1", "title": "Tray welding", "description": "aluminium battery trays laser welding"}


def make_app(settings, fake_embedder, **changes):
    settings = settings.replace(**changes)
    matcher = open_matcher(settings, embedder=fake_embedder)
    matcher.ingest_batch(Kind.PROJECTS, [PROJECT])
    matcher.ingest_batch(Kind.NEEDS, [NEED])
    key, _ = ApiKeys(matcher.settings.catalogue_path).create("tests")
    return create_app(settings, matcher=matcher), matcher, key


def code(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_writes_need_a_valid_key(settings, fake_embedder):
    app, matcher, key = make_app(settings, fake_embedder)
    client = app.test_client()
    record = {"id": "P2", "title": "Rust", "abstract": "corrosion coatings"}
    assert code(client.post("/api/v1/projects", json=[record])) == (401, "unauthorized")
    assert code(client.post("/api/v1/projects", json=[record], headers={"X-API-Key": "tm_wrong"})) == (
        401,
        "unauthorized",
    )
    assert code(client.delete("/api/v1/projects/P1")) == (401, "unauthorized")
    assert code(client.put("/api/v1/projects/P1", json={"title": "t", "abstract": "a"})) == (401, "unauthorized")
    assert matcher.catalogue.count(Kind.PROJECTS) == 1  # nothing changed
    response = client.post("/api/v1/projects", json=[record], headers={"X-API-Key": key})
    assert response.status_code == 200 and response.get_json()["created"] == 1
    response = client.put(
        "/api/v1/projects/P2",
        json={"title": "Rust", "abstract": "rust removal"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200 and response.get_json()["updated"] == 1
    assert client.delete("/api/v1/projects/P2", headers={"X-API-Key": key}).get_json() == {
        "kind": "projects",
        "id": "P2",
        "deleted": True,
    }
    assert code(client.delete("/api/v1/projects/P2", headers={"X-API-Key": key})) == (404, "not_found")
    assert matcher.catalogue.count(Kind.PROJECTS) == 1


def test_a_revoked_key_stops_working(settings, fake_embedder):
    app, matcher, key = make_app(settings, fake_embedder)
    client = app.test_client()
    (info,) = ApiKeys(matcher.settings.catalogue_path).list()
    ApiKeys(matcher.settings.catalogue_path).revoke(info.id)
    assert code(client.delete("/api/v1/projects/P1", headers={"X-API-Key": key})) == (401, "unauthorized")


def test_reads_are_public_unless_configured(settings, fake_embedder):
    app, _, key = make_app(settings, fake_embedder)
    assert app.test_client().get("/api/v1/needs/N1/matches").status_code == 200
    app, _, key = make_app(settings.replace(data_dir=settings.data_dir / "closed"), fake_embedder, public_reads=False)
    client = app.test_client()
    assert code(client.get("/api/v1/needs/N1/matches")) == (401, "unauthorized")
    assert code(client.post("/api/v1/match", json={"text": "laser"})) == (401, "unauthorized")
    assert client.get("/api/v1/needs/N1/matches", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/api/v1/health").status_code == 200  # health stays open for monitoring
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["paths"]["/api/v1/match"]["post"]["security"] == [{"ApiKey": []}]


def test_keys_are_stored_hashed_and_never_logged(settings, fake_embedder, caplog):
    caplog.set_level(logging.DEBUG)
    app, _matcher, key = make_app(settings, fake_embedder)
    app.test_client().post("/api/v1/projects", json=[PROJECT], headers={"X-API-Key": key})
    with sqlite3.connect(settings.catalogue_path) as connection:
        rows = connection.execute("SELECT * FROM api_keys").fetchall()
    assert rows and all(key not in str(row) for row in rows)
    assert key not in caplog.text


def test_keys_cli_create_list_revoke(settings):
    data_dir = str(settings.data_dir)
    created = CliRunner().invoke(main, ["--quiet", "--data-dir", data_dir, "keys", "create", "--name", "office"])
    assert created.exit_code == 0
    key = created.stdout.strip()
    assert key.startswith("tm_") and len(key) > 40
    listed = CliRunner().invoke(main, ["--quiet", "--data-dir", data_dir, "keys", "list", "--json"])
    (entry,) = __import__("json").loads(listed.stdout)
    assert (
        entry["name"] == "office" and entry["active"] and key.startswith(entry["prefix"]) and key not in listed.stdout
    )
    revoked = CliRunner().invoke(main, ["--quiet", "--data-dir", data_dir, "keys", "revoke", str(entry["id"])])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    missing = CliRunner().invoke(main, ["--quiet", "--data-dir", data_dir, "keys", "revoke", "99"])
    assert missing.exit_code == 1 and "There is no API key with id 99" in missing.output


def test_cors_answers_only_configured_origins(settings, fake_embedder):
    app, _, _ = make_app(settings, fake_embedder, cors_origins="https://office.example.org")
    client = app.test_client()
    allowed = client.get("/api/v1/health", headers={"Origin": "https://office.example.org"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://office.example.org"
    preflight = client.options(
        "/api/v1/match", headers={"Origin": "https://office.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200 and "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.get("/api/v1/health", headers={"Origin": "https://elsewhere.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    app, _, _ = make_app(settings.replace(data_dir=settings.data_dir / "nocors"), fake_embedder)
    assert (
        "Access-Control-Allow-Origin"
        not in app.test_client().get("/api/v1/health", headers={"Origin": "https://x.org"}).headers
    )


def test_rate_limit_answers_429_json(settings, fake_embedder):
    app, _, _ = make_app(settings, fake_embedder, rate_limit="3 per minute")
    client = app.test_client()
    statuses = [client.get("/api/v1/needs/N1/matches").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/needs/N1/matches")
    assert code(response) == (429, "rate_limited") and "Retry-After" in response.headers


def test_body_over_the_limit_is_413_json(settings, fake_embedder):
    app, _, _key = make_app(settings, fake_embedder, max_request_bytes=1000)
    response = app.test_client().post("/api/v1/match", json={"text": "x" * 2000})
    assert code(response) == (413, "payload_too_large")


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/style.css", "/api/docs"])
def test_the_page_and_the_docs_are_served_by_the_app(settings, fake_embedder, path):
    app, _, _ = make_app(settings, fake_embedder)
    response = app.test_client().get(path)
    body = response.data
    response.close()  # a static file is streamed from disk; close it as a server would
    assert response.status_code == 200 and len(body) > 500
    assert b"https://" not in body and b"http://" not in body  # nothing fetched from elsewhere


def test_the_pages_cjk_font_is_served_by_the_app_and_cached_for_good(settings, fake_embedder):
    app, _, _ = make_app(settings, fake_embedder)
    client = app.test_client()
    css = client.get("/static/style.css")
    assert CJK_FONT_URL.encode() in css.data  # the @font-face names the URL the app serves
    css.close()
    response = client.get(CJK_FONT_URL)
    body = response.data
    response.close()
    assert response.status_code == 200 and response.mimetype == "font/otf"
    assert body[:4] == b"OTTO" and len(body) > 1_000_000  # an OpenType (CFF) font, the whole SC subset
    cache = response.cache_control
    assert cache.public and cache.immutable and cache.max_age == 365 * 24 * 3600
    again = client.get(CJK_FONT_URL, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    again.close()


def test_without_the_font_package_the_font_url_is_a_plain_404(settings, fake_embedder, monkeypatch):
    monkeypatch.setattr(web_module, "CJK_FONT_PACKAGE", "no_such_font_package")
    app, _, _ = make_app(settings, fake_embedder)
    assert code(app.test_client().get(CJK_FONT_URL)) == (404, "not_found")


def test_records_read_back_and_sent_again_keep_their_metadata_flat(settings, fake_embedder):
    app, _matcher, key = make_app(settings, fake_embedder)
    client = app.test_client()
    headers = {"X-API-Key": key}
    assert (
        client.put(
            "/api/v1/projects/P7",
            json={"title": "T", "abstract": "A", "grant": 12345678901234567890123},
            headers=headers,
        ).status_code
        == 200
    )
    stored = client.get("/api/v1/projects/P7").get_json()  # a number past 64 bits still serialises
    assert stored["metadata"] == {"grant": 12345678901234567890123}
    again = {key_: value for key_, value in stored.items() if key_ != "id"}
    report = client.put("/api/v1/projects/P7", json=again, headers=headers).get_json()
    assert report["unchanged"] == 1
    assert client.get("/api/v1/projects/P7").get_json()["metadata"] == {"grant": 12345678901234567890123}


def test_request_types_are_strict_and_batch_limits_hold_in_both_shapes(settings, fake_embedder):
    app, _, key = make_app(settings, fake_embedder, max_batch_records=2)
    client = app.test_client()
    response = client.post("/api/v1/match", json={"text": "laser", "top_k": True})
    assert (
        code(response) == (422, "invalid_parameter") and response.get_json()["error"]["details"]["parameter"] == "top_k"
    )
    assert code(client.post("/api/v1/match", json={"text": "laser", "top_k": "3"})) == (422, "invalid_parameter")
    records = [{"id": f"B{n}", "title": "t", "abstract": "a"} for n in range(3)]
    for body in (records, {"records": records}):
        assert code(client.post("/api/v1/projects", json=body, headers={"X-API-Key": key})) == (
            413,
            "payload_too_large",
        )


def test_a_warm_worker_freezes_what_it_loaded_and_collects_less_often():
    import gc

    from service.server import GC_THRESHOLDS, settle_garbage_collector

    before = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_read_limit_is_one_budget_across_endpoints_per_key_or_address(settings, fake_embedder):
    app, matcher, key = make_app(settings, fake_embedder, rate_limit="4 per minute")
    other_key, _ = ApiKeys(matcher.settings.catalogue_path).create("other office")
    client = app.test_client()
    reads = [
        lambda headers: client.get("/api/v1/needs/N1/matches", headers=headers),
        lambda headers: client.get("/api/v1/projects/P1", headers=headers),
        lambda headers: client.post("/api/v1/match", json={"text": "laser"}, headers=headers),
        lambda headers: client.get("/api/v1/openapi.json", headers=headers),
    ]
    assert [read({}).status_code for read in reads] == [200] * 4
    assert [code(read({})) for read in reads] == [(429, "rate_limited")] * 4  # every endpoint: one budget
    assert code(reads[0]({"X-API-Key": "tm_made_up"})) == (429, "rate_limited")  # an invalid key: the address
    for own in (key, other_key):  # each valid key has a budget of its own
        statuses = [read({"X-API-Key": own}).status_code for read in reads + reads[:1]]
        assert statuses == [200, 200, 200, 200, 429]


def test_writes_share_one_budget_and_count_as_requests_too(settings, fake_embedder):
    app, _, key = make_app(settings, fake_embedder, rate_limit="5 per minute", write_rate_limit="2 per minute")
    client = app.test_client()
    headers = {"X-API-Key": key}
    record = {"title": "Rust", "abstract": "corrosion coatings"}
    assert client.put("/api/v1/projects/P2", json=record, headers=headers).status_code == 200
    assert client.delete("/api/v1/projects/P2", headers=headers).status_code == 200
    response = client.post("/api/v1/projects", json=[{"id": "P3", **record}], headers=headers)
    assert code(response) == (429, "rate_limited") and "Retry-After" in response.headers
    # The three writes, the refused one too, spent 3 of the 5 requests.
    assert [client.get("/api/v1/projects/P1", headers=headers).status_code for _ in range(3)] == [200, 200, 429]


def test_two_apps_on_one_data_folder_count_together(settings, fake_embedder):
    """Two worker processes each build an app: by default their counts meet in limits.sqlite."""
    first, matcher, _ = make_app(settings, fake_embedder, rate_limit="3 per minute")
    second = create_app(matcher.settings, matcher=matcher)
    statuses = [app.test_client().get("/api/v1/projects/P1").status_code for app in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
    assert (settings.data_dir / "limits.sqlite").exists()


def test_forwarded_addresses_count_only_behind_trusted_proxies(settings, fake_embedder):
    app, _, _ = make_app(settings, fake_embedder, rate_limit="2 per minute")
    client = app.test_client()
    spoofed = [client.get("/api/v1/projects/P1", headers={"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(3)]
    assert [response.status_code for response in spoofed] == [200, 200, 429]  # served directly: the peer counts
    behind, _, _ = make_app(
        settings.replace(data_dir=settings.data_dir / "proxied"),
        fake_embedder,
        rate_limit="2 per minute",
        trusted_proxies=1,
    )
    client = behind.test_client()

    def read(chain: str) -> int:
        return client.get("/api/v1/projects/P1", headers={"X-Forwarded-For": chain}).status_code

    # nginx appends the peer it saw; what a client wrote before it is not believed.
    assert [read("203.0.113.7"), read("203.0.113.7"), read("203.0.113.7")] == [200, 200, 429]
    assert [read("203.0.113.7, 203.0.113.8"), read("203.0.113.8")] == [200, 200]


def test_an_unknown_limit_storage_is_a_config_error(settings, fake_embedder):
    with pytest.raises(ConfigError, match="rate_limit_storage"):
        make_app(settings, fake_embedder, rate_limit_storage="nosuch://host:1")
