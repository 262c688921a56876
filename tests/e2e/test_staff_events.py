"""Matchmaking events in a real browser on the real server: create, plan, strike and lock, re-plan,
add a pair by hand, record an outcome, and read the audit trail; in English and Chinese."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from matcher.outcomes.store import OutcomeStore
from tests.e2e.conftest import copy_sample
from tests.e2e.console import STAFF_NAME, Console, console, csrf_token, new_page, shoot, sign_in

FLOW = "events"
AUTHOR = f"web:{STAFF_NAME}"


@pytest.fixture(scope="module")
def site(sample_dir, tmp_path_factory) -> Iterator[Console]:
    with console(copy_sample(sample_dir, tmp_path_factory, "staff-events")) as served:
        yield served


def _pairs(page: Page) -> dict[tuple[str, str], str]:
    """(need id, project id) -> state of every row of the review table."""
    rows = page.locator("#review-table tbody tr.pair")
    found = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        key = (row.get_attribute("data-need") or "", row.get_attribute("data-project") or "")
        found[key] = (row.get_attribute("class") or "").split("pair-")[-1]
    return found


def _row(page: Page, need: str, project: str):
    return page.locator(f'#review-table tr[data-need="{need}"][data-project="{project}"]')


def _create(page: Page, site: Console, name: str, **fields: str) -> None:
    page.goto(site.root + "/staff/events?lang=en")
    page.fill("#event-name", name)
    page.fill("#event-date", "2026-12-10")
    for field, value in fields.items():
        page.fill(f"#{field}", value)
    page.click("#create-event")
    expect(page.locator("#event-title")).to_contain_text(name)


def test_an_event_from_scope_to_reviewed_plan_with_outcomes(chromium, site):
    page = new_page(chromium)
    sign_in(page, site, with_password=True)
    page.goto(site.root + "/staff/events?lang=en")
    expect(page.locator("#no-events")).to_be_visible()
    assert page.locator("#project-field option").count() > 3  # the catalogue's own fields, as a drop-down
    assert page.locator("#need-region option").count() > 2
    shoot(page, FLOW, "events-empty")

    # A cap of 0 (the browser's min="1" aside) is refused with the field named, the form kept as typed.
    refused = page.request.post(
        site.root + "/staff/events",
        form={"csrf_token": csrf_token(page), "name": "Bad caps", "max_per_project": "0", "max_per_need": "2"},
    )
    assert refused.status == 422
    assert "max_per_project" in refused.text() and 'value="Bad caps"' in refused.text()

    _create(page, site, "Changchun matchmaking day", **{"max-per-project": "1", "max-per-need": "1"})
    expect(page.locator("#no-plan")).to_be_visible()
    shoot(page, FLOW, "event-new")
    event_url = page.url.split("?")[0]
    event_id = event_url.rstrip("/").rsplit("/", 1)[-1]

    page.click("#generate-plan")
    expect(page.locator(".flash-success")).to_contain_text(f"event-{event_id}-1")
    first = _pairs(page)
    assert len(first) > 5 and set(first.values()) == {"proposed"}
    expect(page.locator("#review-table .strength").first).to_be_visible()
    expect(page.locator("#generate-plan")).to_have_text("Re-plan")
    shoot(page, FLOW, "event-planned")

    (struck_need, struck_project), (locked_need, locked_project) = list(first)[:2]
    # Striking needs a reason: the server refuses a strike without one (the browser's `required` aside).
    refused = page.request.post(
        f"{event_url}/state",
        form={
            "csrf_token": csrf_token(page),
            "need_id": struck_need,
            "project_id": struck_project,
            "action": "strike",
            "reason": "",
        },
    )
    assert refused.status == 422 and "reason" in refused.text()
    row = _row(page, struck_need, struck_project)
    row.locator(".reason-input").fill("Already partners since 2024")
    row.locator("button.strike").click()
    expect(_row(page, struck_need, struck_project).locator(".state")).to_have_text("struck")
    expect(_row(page, struck_need, struck_project)).to_contain_text("Already partners since 2024")
    _row(page, locked_need, locked_project).locator("button.lock").click()
    expect(_row(page, locked_need, locked_project).locator(".state")).to_have_text("locked")
    approved_need, approved_project = list(first)[2]
    _row(page, approved_need, approved_project).locator("button.approve").click()
    expect(_row(page, approved_need, approved_project).locator(".state")).to_have_text("approved")
    _row(page, approved_need, approved_project).locator("button.propose").click()
    expect(_row(page, approved_need, approved_project).locator(".state")).to_have_text("proposed")

    page.click("#generate-plan")
    expect(page.locator(".flash-success")).to_contain_text(f"event-{event_id}-2")
    expect(page.locator("#plan-id")).to_have_text(f"event-{event_id}-2")
    second = _pairs(page)
    assert second[(struck_need, struck_project)] == "struck"  # not proposed again
    assert second[(locked_need, locked_project)] == "locked"  # kept
    live = [key for key, state in second.items() if state != "struck"]
    assert sum(1 for _, project in live if project == locked_project) == 1  # cap 1: the locked pair is its one
    assert sum(1 for need, _ in live if need == locked_need) == 1
    shoot(page, FLOW, "event-replanned")

    # Filter by state: only the struck pair.
    page.click("#filter-struck")
    assert list(_pairs(page)) == [(struck_need, struck_project)]
    shoot(page, FLOW, "event-filter-struck")
    page.goto(event_url + "?lang=en")

    # A pair by hand: locked, marked as added by hand.
    paired_projects = {project for need, project in second if need == locked_need}
    spare = next(f"P{n:03d}" for n in range(1, 100) if f"P{n:03d}" not in paired_projects)
    page.fill("#add-need-id", locked_need)
    page.fill("#add-project-id", spare)
    page.click("#add-pair-button")
    added = _row(page, locked_need, spare)
    expect(added.locator(".state")).to_have_text("locked")
    expect(added).to_contain_text("added by hand")
    expect(added.locator(".strength")).not_to_have_text("—")  # its strength, before any re-plan
    page.fill("#add-need-id", locked_need)
    page.fill("#add-project-id", "P999")
    page.click("#add-pair-button")
    expect(page.locator(".flash-error")).to_contain_text("P999")

    # An outcome: an agreement of type licence on the locked pair, shown as its latest outcome.
    page.goto(event_url + "?lang=en")
    row = _row(page, locked_need, locked_project)
    row.locator("details.outcome-form summary").click()
    row.locator(".outcome-status-select").select_option("agreement")
    row.locator(".agreement-type-select").select_option("licence")
    shoot(page, FLOW, "event-outcome-form")
    row.locator(".save-outcome").click()
    expect(_row(page, locked_need, locked_project).locator(".outcome")).to_contain_text("agreement")
    expect(_row(page, locked_need, locked_project).locator(".outcome")).to_contain_text("licence")
    stored = OutcomeStore(site.served.data_dir / "catalogue.sqlite").list(need_id=locked_need)
    assert [(o.status.value, o.agreement_type.value if o.agreement_type else None) for o in stored] == [
        ("agreement", "licence")
    ]
    assert stored[0].plan_id == f"event-{event_id}-2" and stored[0].author == AUTHOR
    # An agreement type on a decline is refused, naming the field.
    row = _row(page, struck_need, struck_project)
    row.locator("details.outcome-form summary").click()
    row.locator(".outcome-status-select").select_option("declined")
    row.locator(".agreement-type-select").select_option("licence")
    row.locator(".save-outcome").click()
    expect(page.locator(".flash-error")).to_contain_text("agreement_type")

    # Agreement types and decline reasons read as words, not as codes.
    row = _row(page, locked_need, locked_project)
    assert "joint research" in row.locator(".agreement-type-select option").all_text_contents()
    assert "too early stage" in row.locator(".decline-reason-select option").all_text_contents()
    # Each pair links to both records, and the event to its dashboard view and back.
    expect(row.locator("a.record-id").first).to_have_attribute("href", f"/staff/catalogue/needs/{locked_need}")
    expect(row.locator("a.record-id").nth(1)).to_have_attribute("href", f"/staff/catalogue/projects/{locked_project}")
    page.click("#event-dashboard")
    expect(page.locator("#event-select")).to_have_value(str(event_id))
    page.click("#open-event")
    expect(page.locator("#review-table")).to_be_visible()
    # At phone width each pair is a card whose buttons are in reach without scrolling sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#review-table thead")).to_be_hidden()
    button = _row(page, struck_need, struck_project).locator("button.approve")
    box = button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, box
    page.set_viewport_size({"width": 1280, "height": 900})

    # The audit trail: every change with its author.
    page.goto(event_url + "?lang=en")
    page.click("#audit-link")
    trail = page.locator("#audit tbody tr")
    actions = [trail.nth(i).locator(".action").inner_text() for i in range(trail.count())]
    assert actions == ["outcome", "added", "planned", "proposed", "approved", "locked", "struck", "planned", "created"]
    authors = {trail.nth(i).locator(".author").inner_text() for i in range(trail.count())}
    assert authors == {STAFF_NAME}  # shown as the person, without the "web:" of the stored author
    expect(page.locator("#audit tr.audit-struck")).to_contain_text("Already partners since 2024")
    expect(page.locator("#audit tr.audit-outcome")).to_contain_text("licence")
    shoot(page, FLOW, "event-audit")

    # The list counts the pairs by state.
    page.goto(site.root + "/staff/events")
    expect(page.locator(".events-table tbody tr")).to_have_count(1)
    expect(page.locator(".events-table tbody tr").first).to_contain_text("Changchun matchmaking day")
    shoot(page, FLOW, "events-list")
    # At phone width the list drops its Open column (the name is the link) so the counts fit.
    expect(page.locator(".events-table .open-event")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator(".events-table .open-event")).to_be_hidden()
    expect(page.locator(".events-table tbody a").first).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 900})

    # Chinese.
    page.goto(event_url + "?lang=zh")
    expect(page.locator("#generate-plan")).to_have_text("重新生成方案")
    expect(_row(page, struck_need, struck_project).locator(".state")).to_have_text("已剔除")
    shoot(page, FLOW, "event-zh")
    page.goto(event_url + "/audit")
    expect(page.locator("h1")).to_contain_text("审计记录")
    shoot(page, FLOW, "event-audit-zh")
    page.goto(site.root + "/staff/events")
    expect(page.locator("#create-event")).to_have_text("创建活动")
    shoot(page, FLOW, "events-zh")
    page.goto(site.root + "/staff/events/new?lang=en")
    expect(page.locator("#create-event")).to_be_visible()
    shoot(page, FLOW, "event-new-form")


def test_a_plan_that_proposes_nothing_says_why(chromium, site):
    page = new_page(chromium)
    sign_in(page, site)
    _create(page, site, "Nothing fits", **{"min-score": "1"})
    page.click("#generate-plan")
    expect(page.locator(".flashes .flash-error")).to_contain_text("no introduction")
    expect(page.locator("#empty-reason")).to_contain_text("min_score")
    expect(page.locator("#no-pairs")).to_be_visible()
    shoot(page, FLOW, "event-empty-plan")
    page.goto(page.url.split("?")[0] + "?lang=zh")
    expect(page.locator("#empty-reason")).to_contain_text("没有配对达到最低匹配强度")
    shoot(page, FLOW, "event-empty-plan-zh")
    page.goto(page.url.split("?")[0] + "?lang=en")
    # Lower the floor in the edit form and re-plan: now the plan proposes pairs.
    page.click("#edit-event")
    expect(page.locator("#edit-form #min-score")).to_have_value("1.0")
    page.fill("#edit-form #min-score", "0.35")
    page.fill("#edit-form #event-name", "Something fits")
    shoot(page, FLOW, "event-edit")
    page.click("#save-event")
    expect(page.locator("#event-title")).to_contain_text("Something fits")
    page.click("#generate-plan")
    expect(page.locator("#empty-reason")).to_have_count(0)
    assert len(_pairs(page)) > 5


def test_an_unknown_event_is_a_404_page(chromium, site):
    page = new_page(chromium)
    sign_in(page, site)
    response = page.goto(site.root + "/staff/events/9999")
    assert response is not None and response.status == 404
    expect(page.locator("#error-message")).to_contain_text("9999")
