"""The catalogue in the staff console, in a real browser on the real server: browse, search, edit, upload,
templates (Chinese headers too), retire; each change checked through the public API as well."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SAMPLE_DATA
from tests.e2e.conftest import call, copy_sample
from tests.e2e.console import Console, console, new_page, shoot, sign_in

FLOW = "catalogue"


@pytest.fixture(scope="module")
def site(sample_dir, tmp_path_factory) -> Iterator[Console]:
    with console(copy_sample(sample_dir, tmp_path_factory, "staff-catalogue")) as served:
        yield served


@pytest.fixture
def page(chromium, site) -> Iterator[Page]:
    page = new_page(chromium)
    sign_in(page, site)
    yield page
    page.context.close()


def count(site: Console, kind: str) -> int:
    status, health = call(f"{site.served.api}/health")
    assert status == 200
    return int(health["indexes"][kind]["records"])


def api_record(site: Console, kind: str, record_id: str) -> tuple[int, dict]:
    """GET /api/v1/<kind>/<id> with the staff key (an error's response is closed too: no socket left to the GC)."""
    request = urllib.request.Request(f"{site.served.api}/{kind}/{record_id}", headers={"X-API-Key": site.key})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def sample_rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE_DATA / name).open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def listed_ids(page: Page) -> list[str]:
    return page.locator("#catalogue-table tbody tr").evaluate_all("rows => rows.map(row => row.dataset.id)")


def upload(page: Page, kind: str, name: str, data: bytes, mime: str = "text/csv") -> None:
    page.select_option("#upload-kind", kind)
    page.set_input_files("#upload-file", {"name": name, "mimeType": mime, "buffer": data})
    page.click("#upload-submit")


def test_browse_filter_search_and_open_a_record(page, site):
    projects = sample_rows("projects.csv")
    page.goto(site.root + "/staff/catalogue")
    expect(page.locator("#tab-projects")).to_have_attribute("aria-current", "page")
    expect(page.locator("#tab-projects .count")).to_have_text(str(len(projects)))
    expect(page.locator("#catalogue-summary")).to_contain_text(f"Showing 1–25 of {len(projects)}")
    assert listed_ids(page) == sorted(row["id"] for row in projects)[:25]
    shoot(page, FLOW, "list")
    page.click("#next-page")
    expect(page.locator("#catalogue-summary")).to_contain_text(f"Showing 26–50 of {len(projects)}")

    # a filter from the catalogue's own vocabulary
    automotive = sorted(row["id"] for row in projects if "automotive" in row["fields"].split("; "))
    page.goto(site.root + "/staff/catalogue?kind=projects")
    page.select_option("#filter-field", "automotive")
    page.click("#apply-filters")
    expect(page.locator("#catalogue-summary")).to_contain_text(f"of {len(automotive)}")
    assert listed_ids(page) == automotive
    shoot(page, FLOW, "list-filtered")

    # a search by words, within the filter
    page.fill("#catalogue-search", "radar")
    page.click("#apply-filters")
    radar = [
        row["id"]
        for row in projects
        if "automotive" in row["fields"].split("; ") and "radar" in (row["id"] + row["title"] + row["abstract"]).lower()
    ]
    expect(page.locator("#catalogue-table tbody tr")).to_have_count(len(radar))
    assert listed_ids(page) == sorted(radar) and "P002" in radar

    # needs, by region
    needs = sample_rows("needs.csv")
    page.click("#tab-needs")
    page.select_option("#filter-region", "长白")
    page.click("#apply-filters")
    assert listed_ids(page) == sorted(row["id"] for row in needs if row["region"] == "长白")
    shoot(page, FLOW, "needs-filtered")

    # a record: every field, the contact (private to the public API) too
    page.goto(site.root + "/staff/catalogue?kind=projects&q=radar")
    page.click("a.record-link >> text=P002")
    expect(page.locator("#record-id")).to_have_text("P002")
    expect(page.locator("[data-field=contact] dd")).to_contain_text("lin.chao@neau.example.edu")
    expect(page.locator("[data-field=trl] dd")).to_have_text("4")
    shoot(page, FLOW, "record")
    page.goto(site.root + "/staff/catalogue/projects/P003?lang=zh")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#edit-record")).to_have_text("编辑")
    shoot(page, FLOW, "record-zh")
    page.goto(site.root + "/staff/catalogue?kind=needs")
    expect(page.locator("#upload-link")).to_have_text("上传表格")
    shoot(page, FLOW, "list-zh")


def test_search_by_meaning_ranks_as_the_matcher_does(page, site):
    page.goto(site.root + "/staff/catalogue?kind=projects&lang=en")
    page.fill("#catalogue-search", "imaging radar and camera perception for cars in snow")
    page.select_option("#search-mode", "meaning")
    page.click("#apply-filters")
    expect(page.locator("#catalogue-table")).to_contain_text("Strength")
    assert listed_ids(page)[0] == "P002"
    shoot(page, FLOW, "list-meaning")


def test_edit_a_title_and_see_it_in_the_api(page, site):
    page.goto(site.root + "/staff/catalogue/projects/P002?lang=en")
    page.click("#edit-record")
    expect(page.locator("#field-title")).to_have_value("4D imaging radar and camera fusion for driving in snow")
    shoot(page, FLOW, "edit")

    page.fill("#field-title", " ")
    page.fill("#field-trl", "11")
    page.click("#save-record")
    expect(page.locator("#error-title")).to_contain_text("required field 'title' is empty")
    expect(page.locator("#error-trl")).to_contain_text("whole number from 1 to 9")
    shoot(page, FLOW, "edit-problems")
    assert api_record(site, "projects", "P002")[1]["title"].startswith("4D imaging radar")  # nothing saved

    page.fill("#field-title", "4D radar and camera fusion for winter driving")
    page.fill("#field-trl", "5")
    page.click("#save-record")
    expect(page.locator(".flash-success")).to_have_text("Saved.")
    expect(page.locator("#record-title")).to_have_text("4D radar and camera fusion for winter driving")
    shoot(page, FLOW, "edit-saved")
    status, record = api_record(site, "projects", "P002")
    assert status == 200 and record["title"] == "4D radar and camera fusion for winter driving"
    assert record["trl"] == 5 and record["contact"] == "Prof. Lin Chao <lin.chao@neau.example.edu>"  # kept

    page.goto(site.root + "/staff/catalogue/projects/P002/edit?lang=zh")
    expect(page.locator("#save-record")).to_have_text("保存")
    shoot(page, FLOW, "edit-zh")


def test_upload_a_bad_file_then_a_good_one(page, site):
    before = count(site, "projects")
    page.goto(site.root + "/staff/catalogue/upload?lang=en")
    shoot(page, FLOW, "upload")
    bad = (
        b"id,title,abstract,trl\n"
        b"P900,Cold spray repair of rail heads,Cold spray deposits restore worn rail heads.,5\n"
        b"P901,,Friction stir welding of battery trays,12\n"
    )
    upload(page, "projects", "new-projects.csv", bad)
    expect(page.locator(".flash-error")).to_contain_text("nothing was stored")
    rows = page.locator("#problems-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("new-projects.csv")
    assert rows.nth(0).locator("td").all_inner_texts()[1:3] == ["3", "title"]
    assert rows.nth(1).locator("td").all_inner_texts()[1:3] == ["3", "trl"]
    shoot(page, FLOW, "upload-problems")
    assert count(site, "projects") == before
    assert api_record(site, "projects", "P900")[0] == 404  # the good row was not stored either

    good = {
        "records": [
            {
                "id": "P900",
                "title": "Cold spray repair of worn rail heads",
                "abstract": "Cold spray deposition of a nickel alloy restores worn heavy-haul rail heads in place, "
                "without preheating; repaired rails passed 2 million load cycles on a test rig.",
                "fields": ["rail equipment"],
                "trl": 5,
            },
            {
                "id": "P901",
                "title": "Friction stir welding of aluminium battery trays",
                "abstract": "Friction stir welding joins extruded aluminium profiles of battery trays without "
                "porosity or filler wire; leak-tight trays at 1 m/min.",
                "fields": ["automotive"],
                "trl": 6,
            },
        ]
    }
    upload(page, "projects", "new-projects.json", json.dumps(good).encode(), "application/json")
    expect(page.locator(".flash-success")).to_have_text("new-projects.json: 2 added, 0 updated, 0 unchanged.")
    assert listed_ids(page)[:2] == ["P900", "P901"] or listed_ids(page)[:2] == ["P901", "P900"]
    shoot(page, FLOW, "upload-done")
    assert count(site, "projects") == before + 2
    status, answer = call(
        f"{site.served.api}/match",
        json.dumps({"text": "repairing worn rail heads by cold spray", "top_k": 3}).encode(),
    )
    assert status == 200 and answer["matches"][0]["id"] == "P900"


def test_the_chinese_template_downloads_and_uploads_filled_in(page, site, tmp_path):
    page.goto(site.root + "/staff/catalogue/upload?lang=zh")
    expect(page.locator("#upload-submit")).to_have_text("上传")
    shoot(page, FLOW, "upload-zh")
    with page.expect_download() as download:
        page.click("#template-needs-zh-csv")
    assert download.value.suggested_filename == "needs-template-zh.csv"
    path = Path(tmp_path / "needs.csv")
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["编号", "标题", "描述", "企业", "行业", "地区", "预算", "截止日期", "联系人", "语言"]
    filled = text + (
        "N-ZH-002,汽车线束自动化检测,我公司生产汽车线束，需要一种自动检测导通和绝缘的设备，替代人工检测，"
        "提高检测效率。,长白汽车线束有限公司,automotive,长白,30万元,2027-03-31,赵敏 <zhao.min@example.com>,zh\r\n"
    )
    before = count(site, "needs")
    wrong = filled.replace("2027-03-31", "明年三月")
    upload(page, "needs", "需求模板.csv", wrong.encode("utf-8-sig"))
    rows = page.locator("#problems-table tbody tr")
    expect(rows).to_have_count(1)
    assert rows.nth(0).locator("td").all_inner_texts()[:3] == ["需求模板.csv", "3", "deadline 截止日期"]
    shoot(page, FLOW, "upload-problems-zh")
    assert count(site, "needs") == before
    upload(page, "needs", "需求模板.csv", filled.encode("utf-8-sig"))
    expect(page.locator(".flash-success")).to_have_text("需求模板.csv：新增 2 条，更新 0 条，未变 0 条。")
    shoot(page, FLOW, "upload-done-zh")
    assert count(site, "needs") == before + 2
    status, record = api_record(site, "needs", "N-ZH-002")
    assert status == 200
    assert (record["title"], record["enterprise"], record["region"], record["budget"]) == (
        "汽车线束自动化检测",
        "长白汽车线束有限公司",
        "长白",
        "30万元",
    )

    # the XLSX template of the same kind holds the same example row: uploaded as it is, nothing changes
    page.goto(site.root + "/staff/catalogue/upload?lang=en")
    with page.expect_download() as download:
        page.click("#template-needs-zh-xlsx")
    upload(page, "needs", "needs.xlsx", Path(download.value.path()).read_bytes(), "application/octet-stream")
    expect(page.locator(".flash-success")).to_have_text("needs.xlsx: 0 added, 0 updated, 1 unchanged.")


def test_retire_a_record(page, site):
    before = count(site, "needs")
    page.goto(site.root + "/staff/catalogue/needs/N002?lang=en")
    page.click("#retire-record")
    expect(page.locator("#confirm-retire")).to_be_visible()
    shoot(page, FLOW, "retire")
    page.goto(site.root + "/staff/catalogue/needs/N002/retire?lang=zh")
    shoot(page, FLOW, "retire-zh")
    page.goto(site.root + "/staff/catalogue/needs/N002/retire?lang=en")
    page.click("#confirm-retire")
    expect(page.locator(".flash-success")).to_have_text("Need N002 was retired from the catalogue.")
    assert "N002" not in listed_ids(page)
    page.fill("#catalogue-search", "N002")
    page.click("#apply-filters")
    expect(page.locator("#catalogue-summary")).to_contain_text("No record matches.")
    shoot(page, FLOW, "retired")
    assert count(site, "needs") == before - 1
    assert api_record(site, "needs", "N002")[0] == 404
    page.goto(site.root + "/staff/catalogue/needs/N002")
    expect(page.locator("#error-message")).to_contain_text("does not exist")
