"""The console's sign-in, sessions, CSRF and passwords, through Flask's test client (the browser tests use the real server)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner

from matcher.engine import open as open_matcher
from matcher.records import Kind
from service import create_app
from service.api_keys import ApiKeys
from service.cli import main
from service.staff.sessions import secret_key
from service.staff.sign_in import _safe_next
from service.staff_accounts import StaffAccounts

PROJECT = {
    "id": "P1",
    "title": "Laser welding",
    "abstract": "laser welding of aluminium battery trays",
    "contact": "li@jlu.edu.cn",
}
PASSWORD = "a long enough password"


@pytest.fixture
def staffed(settings, fake_embedder):
    def build(**changes):
        changed = settings.replace(**changes)
        matcher = open_matcher(changed, embedder=fake_embedder)
        matcher.ingest_batch(Kind.PROJECTS, [PROJECT])
        key, info = ApiKeys(changed.catalogue_path).create("ana")
        StaffAccounts(changed.catalogue_path).set_password("Li Wei", PASSWORD)
        return create_app(changed, matcher=matcher), key, info

    return build


def token(client, path="/staff/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def sign_in(client, **form) -> object:
    return client.post("/staff/sign-in", data={"csrf_token": token(client), **form})


def test_staff_pages_need_a_session_and_the_sign_in_form_a_token(staffed):
    app, key, _ = staffed()
    client = app.test_client()
    assert client.get("/staff/").headers["Location"] == "/staff/sign-in?next=/staff/"
    assert client.post("/staff/sign-out").status_code == 400  # no token, no action
    refused = client.post("/staff/sign-in", data={"api_key": key})
    assert refused.status_code == 400 and "CSRF token is missing" in refused.get_data(as_text=True)
    assert sign_in(client, api_key="tm_wrong").status_code == 401
    assert sign_in(client, name="Li Wei", password="wrong password!").status_code == 401
    assert sign_in(client, api_key=key).headers["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200 and "ana" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_httponly_samesite_and_secure_over_tls(staffed):
    app, key, _ = staffed(trusted_proxies=1)
    client = app.test_client()
    plain = sign_in(client, api_key=key).headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    tls = app.test_client()
    found = re.search(
        r'name="csrf_token" value="([^"]+)"',
        tls.get("/staff/sign-in", headers={"X-Forwarded-Proto": "https"}).get_data(as_text=True),
    )
    assert found
    answer = tls.post(
        "/staff/sign-in",
        data={"csrf_token": found.group(1), "api_key": key},
        headers={"X-Forwarded-Proto": "https", "Referer": "https://localhost/staff/sign-in"},
    )
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_revoked_key_or_a_new_password_ends_the_sessions_it_made(staffed, settings):
    app, key, info = staffed()
    by_key, by_password = app.test_client(), app.test_client()
    sign_in(by_key, api_key=key)
    sign_in(by_password, name="Li Wei", password=PASSWORD)
    assert by_key.get("/staff/").status_code == by_password.get("/staff/").status_code == 200
    ApiKeys(settings.catalogue_path).revoke(info.id)
    StaffAccounts(settings.catalogue_path).set_password("Li Wei", "another long password")
    assert by_key.get("/staff/").status_code == by_password.get("/staff/").status_code == 302
    StaffAccounts(settings.catalogue_path).disable("Li Wei")
    assert sign_in(by_password, name="Li Wei", password="another long password").status_code == 401


def test_a_console_session_counts_as_staff_for_api_reads(staffed):
    app, key, _ = staffed(public_reads=False)
    client = app.test_client()
    assert client.get("/api/v1/projects/P1").status_code == 401
    sign_in(client, api_key=key)
    record = client.get("/api/v1/projects/P1").get_json()
    assert record["contact"] == "li@jlu.edu.cn"
    assert client.post("/api/v1/projects", json=[PROJECT]).status_code == 401  # writes still need a key
    public = staffed(public_reads=True)[0].test_client()
    assert "contact" not in public.get("/api/v1/projects/P1").get_json()


def test_public_pages_can_be_staff_only(staffed):
    app, key, _ = staffed(public_pages=False)
    client = app.test_client()
    assert client.get("/").headers["Location"].startswith("/staff/sign-in")
    sign_in(client, api_key=key)
    with client.get("/") as page:
        assert page.status_code == 200


def test_sign_in_attempts_are_limited_per_client(staffed):
    app, _, _ = staffed(sign_in_rate_limit="3 per minute")
    client = app.test_client()
    codes = [sign_in(client, api_key="tm_wrong").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert client.get("/staff/sign-in").status_code == 200  # the form itself is not limited


def test_sign_in_returns_only_to_console_paths():
    with create_app({"data_dir": "/tmp/unused-techmatch"}).test_request_context():
        assert _safe_next("/staff/events?x=1") == "/staff/events?x=1"
        for hostile in (
            "//evil.example/staff/",
            "https://evil.example/staff/",
            "/api/v1/health",
            "/staff\\..",
            "/staff/\r\nSet-Cookie: x=1",
            "/staff/\x00",
            None,
        ):
            assert _safe_next(hostile) == "/staff/"


def test_the_secret_is_made_once_and_kept_owner_only(settings):
    first = secret_key(settings)
    assert secret_key(settings) == first and len(first) >= 48
    assert settings.secret_key_path.stat().st_mode & 0o077 == 0
    assert secret_key(settings.replace(secret_key="configured")) == "configured"


def test_passwords_are_set_from_the_cli_and_stored_as_hashes(settings):
    runner = CliRunner()
    data = ["--data-dir", str(settings.data_dir)]
    result = runner.invoke(main, [*data, "keys", "password", "Wang Fang", "--password-stdin"], input="short\n")
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    result = runner.invoke(main, [*data, "keys", "password", "Wang Fang", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    accounts = StaffAccounts(settings.catalogue_path)
    assert accounts.check("Wang Fang", PASSWORD) is not None
    assert accounts.check("Wang Fang", "not the password") is None
    assert accounts.check("Nobody", PASSWORD) is None
    with sqlite3.connect(settings.catalogue_path) as connection:
        (stored,) = connection.execute("SELECT password_hash FROM staff_users").fetchone()
    assert PASSWORD not in stored and stored.startswith("scrypt:")
    result = runner.invoke(main, [*data, "keys", "disable", "Wang Fang"])
    assert result.exit_code == 0 and accounts.check("Wang Fang", PASSWORD) is None


def test_one_english_text_has_one_chinese_across_the_console():
    from service.staff import texts

    texts.add({"Events": "活动"})  # the same again is fine
    with pytest.raises(ValueError, match="translated twice"):
        texts.add({"Events": "事件"})
    assert texts.translate("Events", "zh") == "活动"


def test_authors_read_as_people():
    from service.staff import person

    assert person("web:Li Wei") == "Li Wei"
    assert person("key:importer") == "importer (API)"
    assert person("cli") == "cli" and person(None) == ""


def test_signing_in_keeps_the_chosen_language(staffed):
    app, key, _ = staffed()
    client = app.test_client()
    client.get("/staff/sign-in?lang=zh")
    sign_in(client, api_key=key)
    assert "工作台" in client.get("/staff/").get_data(as_text=True)
