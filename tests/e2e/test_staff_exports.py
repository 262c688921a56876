"""An event's plan downloaded as CSV and XLSX, its printable pack (and PDF), and outcomes imported, in a browser.

The event and its plan are made with the library on the copied data folder before the server
starts: the rail-equipment needs and projects of the sample (English and Chinese), planned with
the real model, one introduction per record at most.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from matcher.config import load_settings
from matcher.engine import open as open_matcher
from matcher.events.store import EventStore, PairState, ProposedPair
from matcher.introductions.export import EVENT_COLUMNS
from matcher.introductions.planner import PlanRequest, plan_introductions
from matcher.outcomes.store import OutcomeStore
from matcher.pipeline.explain import record_language
from tests.conftest import SHARED_MODELS
from tests.e2e.conftest import copy_sample
from tests.e2e.console import ARTEFACTS, Console, console, new_page, shoot, sign_in

FLOW = "exports"
EVENT_NAME = "长春轨道装备对接会 Rail equipment matchmaking"
PLAN_ID = "plan-e2e-rail"


@dataclass(frozen=True)
class Planned:
    site: Console
    event_id: int
    pairs: list[tuple[str, str]]  # (need id, project id) of every introduction
    languages: dict[str, str]  # record id -> language
    approved: tuple[str, str]


def plan_event(data_dir: Path, embedder) -> tuple[int, list[tuple[str, str]], dict[str, str], tuple[str, str]]:
    """An event with a real plan of the rail-equipment records; its first pair approved."""
    settings = load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False)
    matcher = open_matcher(settings, embedder=embedder)
    scope = {"project_filters": {"field": ["rail equipment"]}, "need_filters": {"industry": ["rail equipment"]}}
    request = PlanRequest.build(settings, max_per_project=1, max_per_need=1, **scope)
    plan = plan_introductions(matcher, request)
    store = EventStore(settings.catalogue_path)
    event = store.create(EVENT_NAME, "e2e", event_date="2026-05-20", scope=scope, parameters=request.to_dict())
    proposed = [
        ProposedPair(
            item.need.id,
            item.project.id,
            item.score,
            item.score,
            item.rank_for_need,
            item.rank_for_project,
            item.explanation,
        )
        for item in plan.introductions
    ]
    store.replace_plan(event.id, PLAN_ID, proposed, plan.diagnostics, "e2e")
    pairs = [(pair.need_id, pair.project_id) for pair in proposed]
    store.set_state(event.id, *pairs[0], PairState.APPROVED, "e2e")
    languages = {
        record.id: record_language(record) for item in plan.introductions for record in (item.need, item.project)
    }
    return event.id, pairs, languages, pairs[0]


@pytest.fixture(scope="module")
def planned(sample_dir, tmp_path_factory, real_embedder) -> Iterator[Planned]:
    data_dir = copy_sample(sample_dir, tmp_path_factory, "staff-exports")
    event_id, pairs, languages, approved = plan_event(data_dir, real_embedder)
    assert len(pairs) >= 3, "the rail-equipment scope should give several introductions"
    assert "zh" in languages.values() and "en" in languages.values(), "both languages should be in the plan"
    with console(data_dir) as site:
        yield Planned(site, event_id, pairs, languages, approved)


def download(page: Page, selector: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def pdf_pages(data: bytes) -> int:
    """The number of pages of a PDF that Chromium wrote (its page objects are not compressed)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def test_the_plan_downloads_as_csv_and_xlsx_with_the_event_in_every_row(chromium, planned, tmp_path):
    page = new_page(chromium)
    sign_in(page, planned.site)
    page.goto(f"{planned.site.root}/staff/events/{planned.event_id}/pack?lang=en")
    csv_file = download(page, "#export-csv", tmp_path)
    assert csv_file.name == f"event-{planned.event_id}-plan.csv"
    data = csv_file.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese right
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EVENT_COLUMNS
    assert sorted((row["need_id"], row["project_id"]) for row in rows) == sorted(planned.pairs)
    assert {row["event_id"] for row in rows} == {str(planned.event_id)}
    assert {row["event_name"] for row in rows} == {EVENT_NAME} and {row["plan_id"] for row in rows} == {PLAN_ID}
    assert all(row["need_contact"] and row["project_contact"] and row["explanation"] for row in rows)
    states = {(row["need_id"], row["project_id"]): row["state"] for row in rows}
    assert states[planned.approved] == "approved" and list(states.values()).count("proposed") == len(rows) - 1

    book = load_workbook(download(page, "#export-xlsx", tmp_path))
    sheet = book["introductions"]
    values = list(sheet.values)
    assert values[0] == EVENT_COLUMNS and len(values) == len(planned.pairs) + 1
    assert all(cell.font.bold for cell in sheet[1]) and sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:R{len(values)}"
    assert all(row[0] == planned.event_id and row[1] == EVENT_NAME and row[2] == PLAN_ID for row in values[1:])
    assert sheet.column_dimensions["K"].width > sheet.column_dimensions["A"].width  # titles wider than ids
    assert dict(list(book["summary"].values)[1:])["plan_id"] == PLAN_ID


def test_the_pack_has_a_page_per_recipient_in_their_language_and_prints(chromium, planned, tmp_path):
    page = new_page(chromium)
    sign_in(page, planned.site)
    page.goto(f"{planned.site.root}/staff/events/{planned.event_id}/pack?lang=en")
    expect(page.locator("#pack-cover")).to_contain_text(EVENT_NAME)
    expect(page.locator("#count-introductions")).to_have_text(str(len(planned.pairs)))
    pages = page.locator("section.pack-introduction")
    expect(pages).to_have_count(2 * len(planned.pairs))
    for need_id, project_id in planned.pairs:
        for side, record_id in (("need", need_id), ("project", project_id)):
            one = page.locator(f'section[data-for="{side}"][data-need="{need_id}"][data-project="{project_id}"]')
            expect(one).to_have_count(1)
            language = planned.languages[record_id]
            expect(one).to_have_attribute("lang", "zh-CN" if language == "zh" else "en")
            expect(one.locator("h3").last).to_have_text("建议议程" if language == "zh" else "Suggested agenda")
            expect(one.locator(".pack-agenda li")).to_have_count(4)
            expect(one.locator(".pack-contact")).to_have_count(2)
    chinese = page.locator('section.pack-introduction[lang="zh-CN"]').first
    expect(chinese).to_contain_text("匹配理由")
    expect(chinese).to_contain_text("相互介绍")
    expect(chinese.locator(".pack-strength")).to_contain_text("匹配")
    english = page.locator('section.pack-introduction[lang="en"]').first
    expect(english).to_contain_text("Why this match")
    expect(english.locator(".pack-quote")).to_have_count(2)  # the evidence sentences of both texts
    shoot(page, FLOW, "pack")

    folder = ARTEFACTS / FLOW
    folder.mkdir(parents=True, exist_ok=True)
    assert page.evaluate("document.fonts.ready.then(() => true)")  # the Chinese font is in before printing
    pdf = page.pdf(path=str(folder / "pack.pdf"), format="A4", print_background=True)
    assert pdf_pages(pdf) == 1 + 2 * len(planned.pairs)  # the cover, then one printed page per recipient's page
    page.emulate_media(media="print")
    page.screenshot(path=str(folder / "pack-print.png"), full_page=True)
    page.emulate_media(media="screen")

    page.goto(f"{planned.site.root}/staff/events/{planned.event_id}/pack?state=approved&lang=zh")
    expect(page.locator("section.pack-introduction")).to_have_count(2)
    expect(page.locator("#pack-toolbar h1")).to_contain_text("活动资料包")
    shoot(page, FLOW, "pack-approved-zh")
    page.select_option("#pack-state", "")
    page.click("#pack-filter")
    expect(page.locator("section.pack-introduction")).to_have_count(2 * len(planned.pairs))


def test_an_outcomes_file_with_a_bad_row_is_refused_whole_then_a_good_one_is_stored(chromium, planned, tmp_path):
    outcomes = OutcomeStore(planned.site.served.data_dir / "catalogue.sqlite")
    before = len(outcomes.list())
    page = new_page(chromium)
    sign_in(page, planned.site)
    page.goto(f"{planned.site.root}/staff/outcomes/import?lang=en")
    expect(page.locator("#back-to-event")).to_have_count(0)  # no event chosen, no way back to one
    expect(page.locator("#outcomes-encoding option").first).to_have_text("UTF-8")
    shoot(page, FLOW, "import-form")
    template = download(page, "#template-xlsx", tmp_path)
    assert next(iter(load_workbook(template).active.values))[:3] == ("project_id", "need_id", "status")

    (need_a, project_a), (need_b, project_b) = planned.pairs[:2]
    bad = tmp_path / "outcomes-bad.csv"
    bad.write_text(
        "project_id,need_id,status,decline_reason,note\n"
        f"{project_a},{need_a},meeting,,首次会谈\n"
        f"{project_b},{need_b},declined,,\n",  # declined needs a reason
        encoding="utf-8-sig",
    )
    page.set_input_files("#outcomes-file", str(bad))
    page.select_option("#outcomes-event", str(planned.event_id))
    page.click("#outcomes-import")
    expect(page.locator(".flash-error")).to_contain_text("nothing was recorded")
    problem = page.locator('#problems-table tr[data-row="3"]')
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("decline_reason")
    expect(page.locator('#problems-table tr[data-row="2"]')).to_have_count(0)
    assert len(outcomes.list()) == before  # nothing stored, not even the good row
    shoot(page, FLOW, "import-refused")

    good = tmp_path / "outcomes-good.csv"
    good.write_text(bad.read_text(encoding="utf-8-sig").replace("declined,,", "declined,no_budget,"), "utf-8-sig")
    page.set_input_files("#outcomes-file", str(good))
    page.select_option("#outcomes-event", str(planned.event_id))
    page.click("#outcomes-import")
    expect(page.locator(".flash-success")).to_contain_text("Recorded 2 outcomes")
    stored = outcomes.list()[: len(outcomes.list()) - before]
    assert sorted((o.need_id, o.project_id, o.status.value) for o in stored) == sorted(
        [(need_a, project_a, "meeting"), (need_b, project_b, "declined")]
    )
    assert {o.plan_id for o in stored} == {PLAN_ID} and {o.author for o in stored} == {"web:e2e staff"}
    # The page offers the way back to the event whose outcomes were just recorded.
    expect(page.locator("#back-to-event")).to_have_attribute("href", f"/staff/events/{planned.event_id}")
    shoot(page, FLOW, "import-done")

    page.goto(f"{planned.site.root}/staff/outcomes/import?lang=zh")
    expect(page.locator("h1")).to_have_text("导入对接结果")
    shoot(page, FLOW, "import-form-zh")
