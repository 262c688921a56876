"""Signing in to the staff console, sessions and CSRF, in a real browser on the real server."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from service.api_keys import ApiKeys
from tests.e2e.conftest import copy_sample
from tests.e2e.console import Console, console, csrf_token, new_page, shoot, sign_in


@pytest.fixture(scope="module")
def site(sample_dir, tmp_path_factory) -> Iterator[Console]:
    with console(copy_sample(sample_dir, tmp_path_factory, "staff-sign-in")) as served:
        yield served


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(chromium, site):
    page = new_page(chromium)
    page.goto(site.root + "/staff/?lang=en")
    expect(page).to_have_url(site.root + "/staff/sign-in?next=/staff/?lang%3Den")
    shoot(page, "sign-in", "sign-in")
    expect(page.locator("main")).not_to_contain_text("matcher keys")  # no command line for a committee member
    page.fill("#api-key", "tm_not_a_key")
    page.click("#sign-in")
    expect(page.locator(".flash-error")).to_contain_text("not valid")
    page.fill("#api-key", site.key)
    page.click("#sign-in")
    expect(page).to_have_url(site.root + "/staff/?lang=en")
    cookie = next(c for c in page.context.cookies() if c["name"] == "techmatch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert not cookie["secure"]  # plain HTTP on loopback; over TLS the cookie is Secure (unit test)


def test_a_password_user_signs_in_and_out(chromium, site):
    page = new_page(chromium, locale="zh-CN")
    sign_in(page, site, with_password=True)
    expect(page.locator(".who")).to_contain_text("Li Wei")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    # The home page says what each part is for, outcome import included.
    expect(page.locator(".home-cards li")).to_have_count(5)
    expect(page.locator(".home-cards a[href='/staff/outcomes/import']")).to_have_text("导入对接结果")
    expect(page.locator(".home-cards")).to_contain_text("策划对接活动")
    shoot(page, "sign-in", "home-zh")
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    page.goto(site.root + "/staff/")
    expect(page).to_have_url(site.root + "/staff/sign-in?next=/staff/")


def test_a_form_post_without_its_csrf_token_is_refused(chromium, site):
    page = new_page(chromium)
    sign_in(page, site)
    token = csrf_token(page)
    without = page.request.post(site.root + "/staff/sign-out", form={})
    assert without.status == 400
    assert "CSRF" in without.text()
    wrong = page.request.post(site.root + "/staff/sign-out", form={"csrf_token": token[:-2] + "xx"})
    assert wrong.status == 400
    page.reload()
    expect(page.locator("#sign-out")).to_be_visible()  # still signed in: the refused posts did nothing


def test_a_revoked_key_ends_its_sessions(chromium, site):
    keys = ApiKeys(site.served.data_dir / "catalogue.sqlite")
    key, info = keys.create("short-lived")
    page = new_page(chromium)
    page.goto(site.root + "/staff/sign-in")
    page.fill("#api-key", key)
    page.click("#sign-in")
    expect(page.locator("#sign-out")).to_be_visible()
    keys.revoke(info.id)
    page.goto(site.root + "/staff/")
    expect(page.locator("#sign-in")).to_be_visible()


def test_a_signed_out_client_gets_no_staff_page(site):
    request = urllib.request.Request(site.root + "/staff/", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(request, timeout=30)
    with caught.value as answer:
        assert answer.code == 302
        assert answer.headers["Location"].startswith("/staff/sign-in")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None
