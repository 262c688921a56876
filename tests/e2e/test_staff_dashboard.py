"""The committee's dashboard in a real browser on the real server: funnel numbers, a new outcome, CSVs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from matcher.events.store import EventStore, ProposedPair
from matcher.outcomes.store import OutcomeStore
from matcher.storage.catalogue import Catalogue
from tests.e2e.conftest import call, copy_sample
from tests.e2e.console import Console, console, new_page, shoot, sign_in

FLOW = "dashboard"
PLAN_ID = "spring-fair-plan-1"
# Right pairs of the sample (data/expected_matches.csv), as a plan would propose them.
PAIRS = [
    ProposedPair("N001", "P015", 0.81, 0.81, 1, 1),
    ProposedPair("N002", "P032", 0.66, 0.66, 1, 1),
    ProposedPair("N003", "P026", 0.52, 0.52, 1, 1),
    ProposedPair("N005", "P030", 0.41, 0.41, 1, 2),
]


def prepare(data_dir: Path) -> int:
    """An event with a plan of four pairs, three of them with outcomes: 4 proposed, 3 contacted, 2 met, 1 agreed."""
    path = data_dir / "catalogue.sqlite"
    Catalogue(path).migrate()
    events = EventStore(path)
    event = events.create("Spring technology fair", "e2e", event_date="2026-04-20", parameters={"min_score": 0.45})
    events.replace_plan(event.id, PLAN_ID, PAIRS, {}, "e2e")
    outcomes = OutcomeStore(path)
    outcomes.record("P015", "N001", "contacted", "e2e", plan_id=PLAN_ID, recorded_at="2026-04-21")
    outcomes.record("P015", "N001", "agreement", "e2e", agreement_type="licence", plan_id=PLAN_ID)
    outcomes.record("P032", "N002", "meeting", "e2e", plan_id=PLAN_ID, recorded_at="2026-05-02")
    outcomes.record("P026", "N003", "declined", "e2e", decline_reason="no_budget", plan_id=PLAN_ID)
    return event.id


@pytest.fixture(scope="module")
def site(sample_dir, tmp_path_factory) -> Iterator[tuple[Console, int]]:
    data_dir = copy_sample(sample_dir, tmp_path_factory, "staff-dashboard")
    event_id = prepare(data_dir)
    with console(data_dir) as served:
        yield served, event_id


def event_row(page: Page, event_id: int) -> list[str]:
    return page.locator(f'#table-funnel-by-event tr[data-event="{event_id}"] td.number').all_inner_texts()


def funnel_values(page: Page) -> list[str]:
    return [text.split(" · ")[0] for text in page.locator("#chart-funnel text.value").all_text_contents()]


def test_the_funnel_shows_the_events_outcomes_and_changes_with_a_new_one(chromium, site):
    served, event_id = site
    page = new_page(chromium)
    sign_in(page, served)
    page.goto(served.root + "/staff/dashboard?lang=en")
    expect(page.locator("h1")).to_have_text("The committee's dashboard")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Dashboard")
    assert event_row(page, event_id) == ["4", "3", "2", "1"]
    assert funnel_values(page) == ["4", "3", "2", "1"]
    expect(page.locator("#chart-funnel")).to_have_attribute("role", "img")
    expect(page.locator("#chart-score-distribution rect.bar")).to_have_count(10)
    expect(page.locator("#chart-score-distribution")).to_contain_text("floor 0.45")
    expect(page.locator("#chart-market-pull rect.bar").first).to_be_visible()
    expect(page.locator("#table-supply-gap-needs tbody tr").first).to_be_visible()
    expect(page.locator("#chart-agreements-by-field")).to_contain_text("optics and photonics")
    shoot(page, FLOW, "dashboard-en")

    body = {"project_id": "P030", "need_id": "N005", "status": "meeting", "plan_id": PLAN_ID}
    status, stored = call(served.served.api + "/outcomes", json.dumps(body).encode(), headers={"X-API-Key": served.key})
    assert status == 201 and stored["status"] == "meeting"
    page.reload()
    assert event_row(page, event_id) == ["4", "4", "3", "1"]
    assert funnel_values(page) == ["4", "4", "3", "1"]
    shoot(page, FLOW, "dashboard-after-outcome")

    with page.expect_download() as caught:
        page.click("#csv-funnel-by-event")
    download = caught.value
    assert download.suggested_filename == "techmatch-funnel-by-event.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert rows == [
        ["event_id", "event", "proposed", "contacted", "meeting", "agreement"],
        [str(event_id), "Spring technology fair", "4", "4", "3", "1"],
    ]
    with page.expect_download() as caught:
        page.click("#csv-score-distribution")
    assert caught.value.suggested_filename == f"techmatch-score-distribution-event-{event_id}.csv"
    histogram = list(csv.reader(io.StringIO(Path(caught.value.path()).read_text(encoding="utf-8-sig"))))
    assert sum(int(row[2]) for row in histogram[1:]) == 4


def test_the_dashboard_in_chinese_with_the_event_chosen(chromium, site):
    served, event_id = site
    page = new_page(chromium, locale="zh-CN")
    sign_in(page, served)
    page.goto(served.root + "/staff/dashboard?lang=zh")
    expect(page.locator("h1")).to_have_text("委员会看板")
    page.select_option("#event-select", str(event_id))
    page.click("#event-show")
    expect(page).to_have_url(served.root + f"/staff/dashboard?event={event_id}")
    expect(page.locator("#chart-event-funnel")).to_contain_text("已推荐")
    expect(page.locator("#figure-market-pull")).to_contain_text("下载 CSV")
    shoot(page, FLOW, "dashboard-zh")
    page.goto(served.root + "/staff/dashboard?event=999")
    expect(page.locator("main")).to_contain_text("Event 999 does not exist")
