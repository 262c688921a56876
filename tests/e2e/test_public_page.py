"""The public page for enterprises and researchers, in a real browser on the real server: searching in
English and Chinese, drop-down filters, the search in the URL, more results, the CSV export, detail
pages (private fields for staff only), introduction requests and staff answering them, and the
language switch re-rendering what is on screen. Screenshots: test-artefacts/screenshots/public/."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from service.intro_requests import IntroRequests
from tests.e2e.conftest import copy_sample
from tests.e2e.console import Console, console, new_page, shoot, sign_in

FLOW = "public"
NEED = (
    "We laser-weld aluminium battery trays for electric vehicles and get porosity in the welds; "
    "we need a partner to reduce pores and pass the helium leak test."
)
GINSENG = "我们需要提高人参皂苷提取率，采用绿色溶剂替代乙醇回流"
SLOW = 60_000  # the first match loads the models


@pytest.fixture(scope="module")
def site(sample_dir, tmp_path_factory) -> Iterator[Console]:
    environ = {
        "MATCHER_INTRODUCTION_REQUEST_MIN_SECONDS": "2",
        "MATCHER_INTRODUCTION_REQUEST_RATE_LIMIT": "100 per hour",
    }
    with console(copy_sample(sample_dir, tmp_path_factory, "public-page"), environ=environ) as served:
        yield served


def search(page: Page, text: str) -> None:
    page.fill("#query", text)
    page.click("#go")
    expect(page.locator("#search-view")).to_have_attribute("data-ready", "true", timeout=SLOW)
    expect(page.locator("#status")).not_to_contain_text("…")


def shown_ids(page: Page) -> list[str]:
    return page.locator("#results > li.match").evaluate_all("(items) => items.map((item) => item.dataset.id)")


def test_an_english_search_shows_badges_a_legend_and_hides_weak_matches(chromium, site):
    page = new_page(chromium)
    page.goto(site.root + "/")
    shoot(page, FLOW, "start-en")
    search(page, NEED)
    first = page.locator("#results > li.match").first
    expect(first).to_have_attribute("data-id", "P024")
    badge = first.locator(".badge")
    expect(badge).to_have_attribute("data-band", "strong")
    expect(badge).to_contain_text("Strong match")
    expect(badge).to_contain_text("%")
    assert "score" not in badge.inner_text().lower()
    expect(page.locator("#legend")).to_be_visible()
    expect(page.locator("#legend")).to_contain_text("shared term")
    expect(page.locator("#legend")).to_contain_text("related term")
    expect(page.locator("#legend")).to_contain_text("closest sentence")
    # weak matches stay behind the button until asked for
    assert page.locator("#results > li.match.band-weak").count() == 0
    button = page.locator("#show-weak")
    expect(button).to_be_visible()
    expect(button).to_contain_text("weaker")
    expect(page.locator("#status")).to_contain_text("good match shown")
    shoot(page, FLOW, "results-en")
    button.click()
    expect(page.locator("#results > li.match.band-weak").first).to_be_visible()
    expect(page.locator("#results .weak-line")).to_be_visible()
    assert "weak=1" in page.url
    shoot(page, FLOW, "results-with-weak-en")


def test_a_chinese_search_and_the_language_switch_re_renders_everything(chromium, site):
    page = new_page(chromium, locale="zh-CN")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.url.endswith("/api/v1/match") else None)
    page.goto(site.root + "/")
    expect(page.locator("#go")).to_have_text("查找匹配")
    search(page, GINSENG)
    first = page.locator("#results > li.match").first
    expect(first).to_have_attribute("data-id", "P066")
    expect(first.locator(".summary")).to_contain_text("共同关键词")
    expect(first.locator(".badge .band-word")).to_have_text("强匹配")
    expect(page.locator("#legend")).to_contain_text("共同关键词")
    expect(page.locator("#status")).to_contain_text("个候选")
    expect(page.locator("select[name=field] option").first).to_have_text("不限")
    ids = shown_ids(page)
    shoot(page, FLOW, "results-zh")

    page.click("#language")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(first.locator(".badge .band-word")).to_have_text("Strong match")
    expect(page.locator("#legend")).to_contain_text("shared term")
    expect(page.locator("#status")).to_contain_text("candidates")
    expect(page.locator("select[name=field] option").first).to_have_text("Any")
    expect(page.locator("#filters summary")).to_have_text("Filters")
    expect(first.locator(".request-intro")).to_have_text("Request an introduction")
    expect(first.locator("details.why summary")).to_have_text("Why this match")
    assert shown_ids(page) == ids
    assert len(posts) == 1, "the switch re-renders the answer it has: it asks the server nothing"
    shoot(page, FLOW, "results-zh-switched-en")


def test_a_drop_down_filter_and_a_shared_link_give_the_same_results(chromium, site):
    page = new_page(chromium)
    page.goto(site.root + "/")
    page.click("#filters summary")
    options = page.locator("select[name=ip_status] option").all_inner_texts()
    assert options[0] == "Any" and any(text.startswith("licensed (") for text in options), options
    page.select_option("select[name=ip_status]", "patent pending")
    page.select_option("select[name=trl_min]", "5")
    expect(page.locator("#filters summary")).to_have_text("Filters (2)")
    shoot(page, FLOW, "filters-en")
    search(page, NEED)
    if page.locator("#show-weak").is_visible():
        page.click("#show-weak")
    ids = shown_ids(page)
    assert ids and "P024" not in ids  # P024's patent is granted: filtered out
    facts = page.locator("#results > li.match [data-fact=ip_status]").all_inner_texts()
    assert len(facts) == len(ids) and all("patent pending" in fact for fact in facts), facts
    levels = page.locator("#results > li.match [data-fact=trl]").all_inner_texts()
    assert len(levels) == len(ids) and all(int(level.split()[-1]) >= 5 for level in levels), levels
    url = page.url
    assert "ip_status=patent+pending" in url and "trl_min=5" in url
    shoot(page, FLOW, "filtered-results-en")

    other = new_page(chromium)
    other.goto(url)
    expect(other.locator("#search-view")).to_have_attribute("data-ready", "true", timeout=SLOW)
    assert shown_ids(other) == ids
    expect(other.locator("#query")).to_have_value(NEED)
    expect(other.locator("select[name=ip_status]")).to_have_value("patent pending")
    other.reload()
    expect(other.locator("#search-view")).to_have_attribute("data-ready", "true", timeout=SLOW)
    assert shown_ids(other) == ids

    # back and forward walk through searches
    page.click("#clear-filters")
    search(page, NEED)
    unfiltered = shown_ids(page)
    assert unfiltered[0] == "P024"
    page.go_back()
    expect(page.locator("select[name=ip_status]")).to_have_value("patent pending")
    expect(page.locator("#results > li.match").first).to_have_attribute("data-id", ids[0])
    page.go_forward()
    expect(page.locator("#results > li.match").first).to_have_attribute("data-id", "P024")


def test_more_results_and_the_exported_list(chromium, site):
    page = new_page(chromium)
    page.goto(site.root + "/")
    search(page, NEED)
    page.click("#show-weak")
    expect(page.locator("#results > li.match")).to_have_count(10)
    page.click("#more")
    expect(page.locator("#results > li.match")).to_have_count(20, timeout=SLOW)
    assert "n=20" in page.url
    ids = shown_ids(page)
    with page.expect_download() as caught:
        page.click("#export")
    download = caught.value
    assert download.suggested_filename == "techmatch-projects.csv"
    with open(download.path(), encoding="utf-8-sig") as exported:
        text = exported.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["ID"] for row in rows] == ids
    assert rows[0]["Title"] == "Low-porosity laser welding of aluminium alloy battery trays"
    assert rows[0]["Match"] == "Strong match" and 0 < int(rows[0]["Strength (%)"]) <= 100
    shoot(page, FLOW, "more-en")


def _field_labels(page: Page) -> list[str]:
    return page.locator("#record-fields dt").all_inner_texts()


def test_a_detail_page_shows_every_public_field_and_the_contact_only_to_staff(chromium, site):
    page = new_page(chromium)
    page.goto(site.root + "/#/projects/P024")
    expect(page.locator("#detail h2")).to_have_text("Low-porosity laser welding of aluminium alloy battery trays")
    labels = _field_labels(page)
    for label in ("ID", "Institution", "Fields", "Keywords", "Technology readiness (TRL)", "IP status", "Language"):
        assert label in labels, labels
    assert "Contact" not in labels  # private by default: the API leaves it out for the public
    expect(page.locator("#detail-results > li.match").first).to_be_visible(timeout=SLOW)
    shoot(page, FLOW, "detail-project-en")
    page.click("#language")
    expect(page.locator("#record-fields dt").first).to_have_text("编号")
    assert "知识产权" in _field_labels(page)
    shoot(page, FLOW, "detail-project-zh")
    page.click("#language")

    page.goto(site.root + "/#/needs/N027")
    expect(page.locator("#record-fields")).to_be_visible()
    need_labels = _field_labels(page)
    assert {"Enterprise", "Industry", "Region", "Deadline"} <= set(need_labels), need_labels
    assert "Contact" not in need_labels and "Budget" not in need_labels
    shoot(page, FLOW, "detail-need-en")

    sign_in(page, site)  # a console session counts as staff for the API's reads
    page.goto(site.root + "/#/needs/N027")
    expect(page.locator("[data-field=contact] dd")).not_to_be_empty()
    staff_labels = _field_labels(page)
    assert "Contact" in staff_labels and "Budget" in staff_labels
    shoot(page, FLOW, "detail-need-staff-en")


def test_requesting_an_introduction_and_staff_marking_it_handled(chromium, site):
    page = new_page(chromium)
    page.goto(site.root + "/#/projects/P024")
    expect(page.locator("#detail h2")).to_be_visible(timeout=SLOW)
    page.click("#detail-request")
    dialog = page.locator("#intro-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#intro-record")).to_contain_text("P024")
    page.fill("#intro-form input[name=name]", "Zhang Min")
    page.fill("#intro-form input[name=organisation]", "Changbai Auto Parts")
    page.fill("#intro-form input[name=contact]", "zhang.min@example.com")
    page.fill("#intro-form textarea[name=message]", "We weld battery trays and want to meet the team.")
    page.click("#intro-send")  # at once: a person is not that fast
    expect(page.locator("#intro-status")).to_contain_text("That was quick")
    shoot(page, FLOW, "intro-too-soon-en")
    page.wait_for_timeout(2_500)  # the form's least age (MATCHER_INTRODUCTION_REQUEST_MIN_SECONDS)
    page.fill("#intro-form input[name=contact]", "not a contact")
    page.click("#intro-send")
    expect(page.locator("#intro-status")).to_contain_text("neither an e-mail address nor a phone number")
    expect(page.locator("#intro-form input[name=contact]")).to_have_class("invalid")
    page.fill("#intro-form input[name=contact]", "zhang.min@example.com")
    page.locator("#intro-form input[name=website]").fill("http://spam.example", force=True)  # what a bot fills
    page.click("#intro-send")
    expect(page.locator("#intro-status")).to_contain_text("must be left empty")
    page.locator("#intro-form input[name=website]").fill("", force=True)
    page.click("#intro-send")
    expect(page.locator("#intro-status")).to_contain_text("your request was sent")
    expect(page.locator("#intro-send")).to_be_hidden()
    shoot(page, FLOW, "intro-sent-en")
    page.click("#intro-cancel")
    expect(dialog).to_be_hidden()

    # from a result card, in Chinese
    page.click("#language")
    page.goto(site.root + "/#/")
    search(page, GINSENG)
    page.locator("#results > li.match").first.locator(".request-intro").click()
    expect(page.locator("#intro-record")).to_contain_text("P066")
    expect(page.locator("#intro-title")).to_have_text("申请对接")
    shoot(page, FLOW, "intro-form-zh")
    page.fill("#intro-form input[name=name]", "王芳")
    page.fill("#intro-form input[name=contact]", "+86 431 8888 1234")
    page.wait_for_timeout(2_500)
    page.click("#intro-send")
    expect(page.locator("#intro-status")).to_contain_text("申请已提交")

    stored = IntroRequests(site.served.data_dir / "catalogue.sqlite").list()
    assert [(item.record_id, item.requester_name, item.language) for item in stored] == [
        ("P066", "王芳", "zh"),
        ("P024", "Zhang Min", "en"),
    ]

    staff = new_page(chromium)
    sign_in(staff, site)
    staff.goto(site.root + "/staff/requests?lang=en")
    rows = staff.locator("#requests tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("王芳")  # newest first
    row = staff.locator("#requests tr", has_text="Zhang Min")
    expect(row).to_contain_text("zhang.min@example.com")
    expect(row).to_contain_text("Changbai Auto Parts")
    expect(row.locator("a.record-link")).to_have_attribute("href", "/staff/catalogue/projects/P024")
    expect(row.locator("a.record-link")).to_contain_text("laser welding of aluminium alloy battery trays")
    expect(row.locator("a.public-link")).to_have_attribute("href", "/#/projects/P024")
    expect(row).to_have_attribute("data-state", "new")
    shoot(staff, FLOW, "staff-requests-en")
    row.locator(".mark-handled").click()
    expect(staff.locator(".flash-success")).to_contain_text("handled")
    row = staff.locator("#requests tr", has_text="Zhang Min")
    expect(row).to_have_attribute("data-state", "handled")
    expect(row).to_contain_text("handled by e2e staff")
    shoot(staff, FLOW, "staff-requests-handled-en")
    staff.goto(site.root + "/staff/requests?lang=zh")
    expect(staff.locator("h1")).to_have_text("对接申请")
    shoot(staff, FLOW, "staff-requests-zh")
    assert IntroRequests(site.served.data_dir / "catalogue.sqlite").list("handled")[0].handled_by == "web:e2e staff"


def test_the_page_fits_a_phone(chromium, site):
    page = new_page(chromium, locale="zh-CN")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site.root + "/")
    search(page, GINSENG)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    page.goto(site.root + "/#/projects/P066")
    expect(page.locator("#record-fields")).to_be_visible(timeout=SLOW)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the detail page is {overflow}px wider than a phone screen"
    shoot(page, FLOW, "detail-project-zh-phone")


def test_a_researcher_filters_needs_by_region_and_deadline_in_chinese(chromium, site):
    page = new_page(chromium, locale="zh-CN")
    page.goto(site.root + "/")
    page.check("input[name=direction][value=project_to_needs]")
    page.click("#filters summary")
    expect(page.locator("select[name=region]")).to_be_visible()
    expect(page.locator("select[name=ip_status]")).to_be_hidden()  # a projects filter
    regions = page.locator("select[name=region] option").all_inner_texts()
    assert regions[0] == "不限" and "长白 (13)" in regions and "长白 · Changbai (18)" in regions, regions
    page.select_option("select[name=region]", "长白")
    page.fill("input[name=deadline_from]", "2027-01-01")
    expect(page.locator("#filters summary")).to_have_text("筛选（2）")
    search(page, "碳化硅功率模块散热与电动汽车电机控制器")
    if page.locator("#show-weak").is_visible():
        page.click("#show-weak")
    ids = shown_ids(page)
    assert ids and set(ids) <= {"N006", "N016", "N021", "N036", "N042", "N044", "N045", "N048", "N050"}, ids
    assert ids[0] == "N006"
    deadlines = page.locator("#results > li.match [data-fact=deadline]").all_inner_texts()
    assert len(deadlines) == len(ids) and all(text.split()[-1] >= "2027-01-01" for text in deadlines), deadlines
    assert "region=%E9%95%BF%E7%99%BD" in page.url and "deadline_from=2027-01-01" in page.url
    shoot(page, FLOW, "needs-filtered-zh")
