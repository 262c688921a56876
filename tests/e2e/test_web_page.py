"""The web page in a real browser: headless Chromium (Debian's) driven by Playwright.

A person can look at what the test saw: screenshots go to tests/e2e/screenshots/.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import Served, copy_sample, serve

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
# Two Chinese strings with no character in common, and a reference for missing glyphs: private-use
# code points, which no font draws. Without a CJK font every Chinese character is the same box, so
# the three look alike; with one, each string has its own glyphs.
ZH_A, ZH_B, TOFU = "激光焊接", "电池托盘", "\ue000\ue001\ue002\ue003"
LATIN = "Find matches: laser welding, 42 TRL"
# The page's font stack before it had a CJK font of its own: Latin text must look the same in both.
OLD_STACK = 'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif'
CJK_FACE = "techmatch CJK"
NEED = (
    "We laser-weld aluminium battery trays for electric vehicles and get porosity in the welds; "
    "we need a partner to reduce pores and pass the helium leak test."
)


@pytest.fixture(scope="module")
def site(sample_dir, tmp_path_factory) -> Iterator[Served]:
    with serve(copy_sample(sample_dir, tmp_path_factory, "web"), "--workers", "1") as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"Chromium is needed for the browser tests (looked for {CHROMIUM}); .ci/run installs it"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def open_page(browser: Browser, site: Served, width: int = 1200, language: str = "en-GB") -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=language)
    page = context.new_page()
    page.goto(site.root + "/")
    return page


def test_a_typed_need_shows_the_expected_project_with_highlighted_terms(browser, site):
    page = open_page(browser, site)
    page.fill("#query", NEED)
    page.click("#go")
    first = page.locator("#results > li").first
    expect(first.locator("h3 a")).to_have_text(
        "Low-porosity laser welding of aluminium alloy battery trays", timeout=60_000
    )
    expect(first.locator(".summary")).to_contain_text("Shares")
    # the explanation is open on the first result: shared terms are marked in both texts
    assert first.locator(".query-text mark.shared").count() >= 2
    assert first.locator(".match-text mark.shared").count() >= 2
    assert first.locator(".terms li.shared").count() >= 2
    marked = first.locator(".match-text mark.shared").all_inner_texts()
    assert any("por" in text.lower() for text in marked), marked
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "need-search.png"), full_page=True)


def test_detail_view_shows_a_record_and_its_own_matches(browser, site):
    page = open_page(browser, site)
    page.fill("#query", NEED)
    page.click("#go")
    page.locator("#results > li h3 a").first.click()
    expect(page.locator("#detail h2")).to_have_text(
        "Low-porosity laser welding of aluminium alloy battery trays", timeout=60_000
    )
    expect(page.locator("#detail-results > li.match").first).to_be_visible(timeout=60_000)
    # weak matches are behind a button; with them, the record has its ten best
    assert page.locator("#detail-results > li.match.band-weak").count() == 0
    page.click("#detail-show-weak")
    assert page.locator("#detail-results > li.match").count() >= 3
    assert page.url.endswith("#/projects/P024")
    page.screenshot(path=str(SCREENSHOTS / "detail.png"), full_page=True)


def test_chinese_page_and_chinese_search(browser, site):
    page = open_page(browser, site, language="zh-CN")
    expect(page.locator("#go")).to_have_text("查找匹配")
    page.fill("#query", "我们需要提高人参皂苷提取率，采用绿色溶剂替代乙醇回流")
    page.click("#go")
    first = page.locator("#results > li").first
    expect(first).to_have_attribute("data-id", "P066", timeout=60_000)
    expect(first.locator(".summary")).to_contain_text("共同关键词")
    assert first.locator(".query-text mark.shared").count() >= 1
    page.click("#language")
    expect(page.locator("#go")).to_have_text("Find matches")
    page.screenshot(path=str(SCREENSHOTS / "chinese.png"), full_page=True)


def test_usable_at_phone_width(browser, site):
    page = open_page(browser, site, width=375)
    page.fill("#query", NEED)
    page.click("#go")
    expect(page.locator("#results > li").first).to_be_visible(timeout=60_000)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    box = page.locator("#go").bounding_box()
    assert box is not None and box["width"] >= 300  # the button spans the narrow screen
    page.screenshot(path=str(SCREENSHOTS / "phone.png"), full_page=True)


def drawn(page: Page, text: str, family: str | None = None) -> str:
    """``text`` as the page draws it (in the page's font stack, or ``family``), once its fonts have loaded:
    the digest of its screenshot, so that two drawings compare (and a failure prints) in a few characters."""
    page.evaluate(
        """async ([text, family]) => {
          const box = document.createElement("div");
          box.id = "glyph-probe";
          box.style.cssText = "position:fixed;top:0;left:0;z-index:99;background:#fff;color:#000;padding:4px;font-size:48px;line-height:1.2";
          if (family) box.style.fontFamily = family;
          box.textContent = text;
          document.body.appendChild(box);
          // rejects when a face cannot load: the text is then drawn in the next font of the stack
          await document.fonts.load(`48px ${getComputedStyle(box).fontFamily}`, text).catch(() => null);
          await document.fonts.ready;
        }""",
        [text, family],
    )
    image = page.locator("#glyph-probe").screenshot()
    page.evaluate("document.getElementById('glyph-probe').remove()")
    return hashlib.sha256(image).hexdigest()[:16]


def cjk_face_states(page: Page) -> list[str]:
    return page.evaluate(
        "(name) => [...document.fonts].filter((f) => f.family.replace(/[\"']/g, '') === name).map((f) => f.status)",
        CJK_FACE,
    )


def test_chinese_is_drawn_in_the_apps_own_font_not_as_boxes(browser, site):
    # On a machine with no CJK font of its own (this one, CI: Debian without fonts-noto-cjk), only the
    # font that the app serves can draw Chinese.
    page = open_page(browser, site)
    page.click("#language")
    expect(page.locator("#go")).to_have_text("查找匹配")
    example = page.get_attribute("#query", "placeholder") or ""
    query = example.split("：", 1)[1]  # the page's own example: 铝合金电池托盘激光焊接气孔问题
    page.fill("#query", query)
    page.click("#go")
    expect(page.locator("#results > li").first).to_be_visible(timeout=60_000)
    expect(page.locator("#status")).to_contain_text("个匹配")

    first, second, boxes = drawn(page, ZH_A), drawn(page, ZH_B), drawn(page, TOFU)
    assert first != second, "two different Chinese strings look the same: both are missing-glyph boxes"
    assert first != boxes and second != boxes, "Chinese is drawn like characters that no font has"
    assert cjk_face_states(page) == ["loaded"]
    assert page.evaluate('([face, text]) => document.fonts.check(`16px "${face}"`, text)', [CJK_FACE, ZH_A + ZH_B])
    # Latin text keeps the system font: the CJK face applies to CJK code points only.
    assert drawn(page, LATIN) == drawn(page, LATIN, OLD_STACK)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chinese-font.png"), full_page=True)


def test_the_page_still_works_when_its_font_cannot_load(browser, site):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    context.route("**/static/fonts/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(site.root + "/")
    expect(page.locator("#go")).to_have_text("查找匹配")
    drawn(page, ZH_A)  # asks for the face: its load fails, and the text is drawn in the next font of the stack
    assert cjk_face_states(page) == ["error"]
    assert drawn(page, LATIN) == drawn(page, LATIN, OLD_STACK)
    page.fill("#query", NEED)
    page.click("#go")
    expect(page.locator("#results > li").first).to_be_visible(timeout=60_000)
