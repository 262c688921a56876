"""Shared parts of the browser tests of the staff console and the public page.

Each flow keeps screenshots of every page it visits, at desktop and phone width, under
``test-artefacts/screenshots/<flow>/`` so that a person can look at what the test saw.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from matcher.storage.catalogue import Catalogue
from service.api_keys import ApiKeys
from service.staff_accounts import StaffAccounts
from tests.conftest import REPO
from tests.e2e.conftest import Served, serve

ARTEFACTS = REPO / "test-artefacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
STAFF_NAME = "Li Wei"
STAFF_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Console:
    served: Served
    key: str  # an API key of staff member "e2e staff"

    @property
    def root(self) -> str:
        return self.served.root


def prepare_staff(data_dir: Path) -> str:
    """Give a data folder an API key and a password user (STAFF_NAME); return the key."""
    Catalogue(data_dir / "catalogue.sqlite").migrate()
    key, _ = ApiKeys(data_dir / "catalogue.sqlite").create("e2e staff")
    StaffAccounts(data_dir / "catalogue.sqlite").set_password(STAFF_NAME, STAFF_PASSWORD)
    return key


@contextmanager
def console(data_dir: Path, *arguments: str, environ: dict[str, str] | None = None) -> Iterator[Console]:
    """The real server (`matcher serve`, one worker) on ``data_dir``, with a staff key and password."""
    key = prepare_staff(data_dir)
    with serve(data_dir, "--workers", "1", *arguments, environ=environ) as served:
        yield Console(served, key)


def shoot(page: Page, flow: str, name: str) -> None:
    """Full-page screenshots of what ``page`` shows, at desktop and at phone width."""
    folder = ARTEFACTS / flow
    folder.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    if before:
        page.set_viewport_size(before)


def new_page(browser: Browser, locale: str = "en-GB") -> Page:
    context = browser.new_context(viewport=DESKTOP, locale=locale, accept_downloads=True)
    return context.new_page()


def sign_in(page: Page, site: Console, with_password: bool = False) -> None:
    """Sign in through the form, with the key or the password user."""
    page.goto(site.root + "/staff/sign-in")
    if with_password:
        page.fill("#staff-name", STAFF_NAME)
        page.fill("#password", STAFF_PASSWORD)
    else:
        page.fill("#api-key", site.key)
    page.click("#sign-in")
    expect(page.locator("#sign-out")).to_be_visible()


def csrf_token(page: Page) -> str:
    """The CSRF token of the form on the page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.content())
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
