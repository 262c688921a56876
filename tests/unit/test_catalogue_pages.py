"""The staff console's catalogue pages: browse, search, a record, edit, retire, upload, templates (Flask client)."""

from __future__ import annotations

import io
import re

import pytest

from matcher.engine import open as open_matcher
from matcher.errors import Busy
from matcher.filters import Filters
from matcher.ingest.templates import template_bytes
from matcher.records import Kind
from service import create_app
from service.api_keys import ApiKeys
from service.staff.catalogue import filter_names, problems_by_field

PROJECTS = [
    {
        "id": f"P{number:03d}",
        "title": f"Laser welding study {number}" if number % 2 else f"Battery coating study {number}",
        "abstract": "laser welding of aluminium battery trays" if number % 2 else "ceramic coatings for cells",
        "institution": "NEAU" if number % 3 else "Jilin University",
        "fields": "automotive; new materials" if number % 2 else "energy",
        "trl": 1 + number % 9,
        "contact": f"Dr. Wang <wang{number}@neau.example.edu>",
    }
    for number in range(1, 31)
]
NEEDS = [
    {"id": "N1", "title": "Tray welding", "description": "aluminium battery trays laser welding", "region": "长白"},
    {
        "id": "N2",
        "title": "电池托盘检测",
        "description": "铝合金电池托盘焊缝在线检测",
        "region": "吉林",
        "budget": "50万元",
    },
]


@pytest.fixture
def site(settings, fake_embedder):
    settings = settings.replace(multilingual_backend="", write_lock_timeout=1.0)
    matcher = open_matcher(settings, embedder=fake_embedder)
    matcher.ingest_batch(Kind.PROJECTS, PROJECTS)
    matcher.ingest_batch(Kind.NEEDS, NEEDS)
    app = create_app(settings, matcher=matcher)
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own browser test; these test the pages
    _, info = ApiKeys(settings.catalogue_path).create("unit staff")
    client = app.test_client()
    with client.session_transaction() as session:
        session["staff"] = {"name": "unit staff", "via": "key", "key_id": info.id, "password_updated_at": None}
    return client, matcher


def text_of(response) -> str:
    return response.get_data(as_text=True)


def listed_ids(response) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)">', text_of(response))


# -- the catalogue's read methods ------------------------------------------------------------


def test_search_filters_words_and_pages(site):
    _, matcher = site
    catalogue = matcher.catalogue
    page = catalogue.search(Kind.PROJECTS, limit=10, offset=20)
    assert page.total == 30 and [entry.record.id for entry in page.records] == [f"P{n:03d}" for n in range(21, 31)]
    odd = catalogue.search(Kind.PROJECTS, Filters.parse(Kind.PROJECTS, {"field": "Automotive"}), limit=100)
    assert odd.total == 15 and all(int(entry.record.id[1:]) % 2 for entry in odd.records)
    both = catalogue.search(Kind.PROJECTS, text="LASER study 7", limit=100)  # every word, any case
    assert [entry.record.id for entry in both.records] == ["P007", "P017", "P027"]
    assert catalogue.search(Kind.PROJECTS, text="P01", limit=100).total == 10  # the id too
    assert catalogue.search(Kind.PROJECTS, text="100%", limit=100).total == 0  # % is a character, not a wildcard
    assert catalogue.search(Kind.NEEDS, text="焊缝").total == 1  # in the body


def test_values_of_counts_each_item_of_a_list_field(site):
    _, matcher = site
    assert matcher.catalogue.values_of(Kind.PROJECTS, "fields") == [
        ("automotive", 15),
        ("energy", 15),
        ("new materials", 15),
    ]
    assert matcher.catalogue.values_of(Kind.NEEDS, "region") == [("吉林", 1), ("长白", 1)]
    assert matcher.catalogue.values_of(Kind.NEEDS, "budget") == [("50万元", 1)]


def test_entry_has_the_stored_times(site):
    _, matcher = site
    entry = matcher.catalogue.entry(Kind.NEEDS, "N2")
    assert entry.record.title == "电池托盘检测" and entry.created_at <= entry.updated_at
    assert entry.updated == entry.updated_at[:10]  # a need has no `updated` field of its own


def test_filter_names_are_one_per_field():
    assert [name for name, _ in filter_names(Kind.PROJECTS)] == [
        "field",
        "institution",
        "language",
        "ip_status",
        "trl_min",
        "trl_max",
    ]
    assert [name for name, _ in filter_names(Kind.NEEDS)] == [
        "industry",
        "region",
        "enterprise",
        "language",
        "deadline_from",
    ]


# -- browsing ----------------------------------------------------------------------------


def test_browse_pages_filters_and_searches(site):
    client, _ = site
    first = client.get("/staff/catalogue")
    assert first.status_code == 200
    assert listed_ids(first) == [f"P{n:03d}" for n in range(1, 26)]
    assert "Showing 1–25 of 30" in text_of(first)
    second = client.get("/staff/catalogue?kind=projects&page=2")
    assert listed_ids(second) == [f"P{n:03d}" for n in range(26, 31)]
    filtered = client.get("/staff/catalogue?kind=projects&field=energy&institution=jilin+university")
    assert listed_ids(filtered) == ["P006", "P012", "P018", "P024", "P030"]
    assert "30 in the catalogue" in text_of(filtered)
    assert listed_ids(client.get("/staff/catalogue?kind=projects&trl_min=9")) == ["P008", "P017", "P026"]
    assert listed_ids(client.get("/staff/catalogue?kind=needs&q=托盘")) == ["N2"]
    # the drop-downs take the catalogue's own values, with their counts
    assert '<option value="automotive">automotive (15)</option>' in text_of(first)
    assert '<option value="长白"' in text_of(client.get("/staff/catalogue?kind=needs"))


def test_search_by_meaning_ranks_by_the_matcher(site):
    client, _ = site
    response = client.get("/staff/catalogue?kind=needs&q=laser+welding+aluminium+battery+trays&mode=meaning")
    assert response.status_code == 200
    assert listed_ids(response)[0] == "N1"
    assert "Strength" in text_of(response)


def test_bad_browse_parameters_are_422_not_500(site):
    client, _ = site
    assert client.get("/staff/catalogue?kind=people").status_code == 422
    assert client.get("/staff/catalogue?page=two").status_code == 422
    response = client.get("/staff/catalogue?trl_min=high")
    assert response.status_code == 422 and "trl_min" in text_of(response)


def test_a_signed_out_visitor_is_sent_to_sign_in(settings, fake_embedder):
    settings = settings.replace(multilingual_backend="")
    app = create_app(settings, matcher=open_matcher(settings, embedder=fake_embedder))
    response = app.test_client().get("/staff/catalogue/template/projects.csv")
    assert response.status_code == 302 and response.headers["Location"].startswith("/staff/sign-in")


# -- one record ---------------------------------------------------------------------------


def test_the_record_page_shows_every_field_private_ones_too(site):
    client, _ = site
    response = client.get("/staff/catalogue/projects/P003")
    page = text_of(response)
    assert response.status_code == 200
    assert "Dr. Wang &lt;wang3@neau.example.edu&gt;" in page  # the contact, which the public API hides
    assert "Jilin University" in page and "automotive; new materials" in page
    assert client.get("/staff/catalogue/projects/P999").status_code == 404
    assert client.get("/staff/catalogue/people/P003").status_code == 404


def edit_form(client, kind: str, record_id: str) -> dict[str, str]:
    page = text_of(client.get(f"/staff/catalogue/{kind}/{record_id}/edit"))
    form = dict(re.findall(r'<input type="(?:text|hidden)" name="([^"]+)" id="[^"]*" value="([^"]*)"', page))
    form.update(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        form[name] = value
    return {name: value.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"') for name, value in form.items()}


def test_an_edit_is_saved_and_the_api_shows_it(site):
    client, matcher = site
    form = edit_form(client, "projects", "P002")
    assert form["title"] == "Battery coating study 2" and form["fields"] == "energy"
    form.update(title="Solid-state battery coatings", keywords="coating; 电池")
    response = client.post("/staff/catalogue/projects/P002/edit", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/catalogue/projects/P002")
    record = matcher.get(Kind.PROJECTS, "P002")
    assert record.title == "Solid-state battery coatings"
    assert record.attributes["keywords"] == ["coating", "电池"]
    assert record.attributes["contact"] == "Dr. Wang <wang2@neau.example.edu>"  # kept
    assert "Saved." in text_of(client.get("/staff/catalogue/projects/P002"))
    answer = client.get("/api/v1/projects/P002").get_json()
    assert answer["title"] == "Solid-state battery coatings"
    again = client.post("/staff/catalogue/projects/P002/edit", data=edit_form(client, "projects", "P002"))
    assert again.status_code == 302
    assert "Nothing changed" in text_of(client.get("/staff/catalogue/projects/P002"))


def test_edit_problems_are_shown_under_their_fields_and_nothing_is_saved(site):
    client, matcher = site
    before = matcher.get(Kind.PROJECTS, "P004")
    form = edit_form(client, "projects", "P004")
    form.update(title="  ", trl="12", updated="2026-02-30")
    response = client.post("/staff/catalogue/projects/P004/edit", data=form)
    page = text_of(response)
    assert response.status_code == 422
    assert re.search(r'id="error-title">required field &#39;title&#39; is empty', page)
    assert re.search(r'id="error-trl">[^<]*whole number from 1 to 9', page)
    assert re.search(r'id="error-updated">[^<]*YYYY-MM-DD', page)
    assert 'value="12"' in page  # what was typed is kept
    assert matcher.get(Kind.PROJECTS, "P004") == before
    form = edit_form(client, "projects", "P004")
    form["metadata"] = "[1, 2]"
    response = client.post("/staff/catalogue/projects/P004/edit", data=form)
    assert response.status_code == 422 and 'id="error-metadata">must be a JSON object' in text_of(response)


def test_an_edit_of_a_record_changed_meanwhile_is_refused(site):
    client, matcher = site
    form = edit_form(client, "needs", "N1")
    matcher.ingest_batch(Kind.NEEDS, [{**NEEDS[0], "title": "Changed elsewhere"}])
    form["title"] = "Mine"
    response = client.post("/staff/catalogue/needs/N1/edit", data=form)
    assert response.status_code == 409 and "changed by someone else" in text_of(response)
    assert matcher.get(Kind.NEEDS, "N1").title == "Changed elsewhere"


def test_a_busy_catalogue_is_a_message_not_a_500(site, monkeypatch):
    client, matcher = site
    form = edit_form(client, "needs", "N1")
    form["title"] = "Later"

    def busy(*args, **kwargs):
        raise Busy("another writer holds the lock", retry_after=5)

    monkeypatch.setattr(matcher, "ingest_records", busy)
    monkeypatch.setattr(matcher, "delete", busy)
    response = client.post("/staff/catalogue/needs/N1/edit", data=form)
    assert response.status_code == 503 and "Try again in 5 s" in text_of(response)
    response = client.post("/staff/catalogue/needs/N1/retire")
    assert response.status_code == 503 and "Try again in 5 s" in text_of(response)
    upload = {"kind": "needs", "file": (io.BytesIO(template_bytes(Kind.NEEDS, "csv")), "needs.csv")}
    response = client.post("/staff/catalogue/upload", data=upload, content_type="multipart/form-data")
    assert response.status_code == 503
    assert matcher.get(Kind.NEEDS, "N1").title == "Tray welding"


def test_retire_asks_then_removes_the_record(site):
    client, matcher = site
    confirm = client.get("/staff/catalogue/needs/N2/retire")
    assert confirm.status_code == 200 and 'id="confirm-retire"' in text_of(confirm)
    assert matcher.catalogue.count(Kind.NEEDS) == 2  # asking changed nothing
    response = client.post("/staff/catalogue/needs/N2/retire")
    assert response.status_code == 302
    assert matcher.catalogue.count(Kind.NEEDS) == 1
    assert "N2 was retired" in text_of(client.get(response.headers["Location"]))
    assert client.get("/api/v1/needs/N2").status_code == 404
    assert client.post("/staff/catalogue/needs/N2/retire").status_code == 404


def test_problems_by_field_puts_contract_paths_under_their_field():
    from matcher.errors import Problem

    problems = [
        Problem("f", 1, "fields.0", "string_type", "Input should be a valid string"),
        Problem("f", 1, "title", "empty_required_field", "empty"),
        Problem("f", 1, None, "x", "whole record"),
    ]
    assert problems_by_field(problems, {"title", "fields"}) == (
        {"fields": ["Input should be a valid string"], "title": ["empty"]},
        ["whole record"],
    )


# -- upload and templates ------------------------------------------------------------------


def upload(client, kind: str, name: str, data: bytes, encoding: str = "utf-8"):
    return client.post(
        "/staff/catalogue/upload",
        data={"kind": kind, "encoding": encoding, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_an_upload_with_a_bad_row_is_reported_row_by_row_and_stores_nothing(site):
    client, matcher = site
    data = b"id,title,abstract,trl\nP100,New,Good text,4\nP101,,No title,12\n"
    response = upload(client, "projects", "new projects.csv", data)
    page = text_of(response)
    assert response.status_code == 422
    rows = re.findall(
        r"<tr data-row=\"\d*\" data-field=\"[^\"]*\">\s*<td>([^<]*)</td>\s*<td class=\"number\">(\d*)</td>\s*"
        r"<td>(?:<code>([^<]*)</code>)?</td>\s*<td>([^<]*)</td>",
        page,
    )
    assert [(file, row, field) for file, row, field, _ in rows] == [
        ("new projects.csv", "3", "title"),
        ("new projects.csv", "3", "trl"),
    ]
    assert "2 problem(s); nothing was stored" in page
    assert matcher.catalogue.count(Kind.PROJECTS) == 30


def test_a_good_upload_says_what_it_added_and_updated(site):
    client, matcher = site
    data = b"id,title,abstract\nP100,New,laser cladding of rails\nP001,Changed,laser welding\n"
    response = upload(client, "projects", "projects.csv", data)
    assert response.status_code == 302 and "sort=updated" in response.headers["Location"]
    assert "projects.csv: 1 added, 1 updated, 0 unchanged." in text_of(client.get(response.headers["Location"]))
    assert matcher.catalogue.count(Kind.PROJECTS) == 31
    assert matcher.get(Kind.PROJECTS, "P001").title == "Changed"


def test_a_gb18030_csv_with_chinese_headers_uploads(site):
    client, matcher = site
    data = "编号,标题,描述,企业,地区\nN9,焊缝检测,铝合金焊缝在线检测,长白汽车,长白\n".encode("gb18030")
    assert upload(client, "needs", "需求.csv", data, encoding="gb18030").status_code == 302
    record = matcher.get(Kind.NEEDS, "N9")
    assert record.attributes["enterprise"] == "长白汽车" and record.attributes["region"] == "长白"


def test_an_unsupported_file_or_none_is_a_problem(site):
    client, _ = site
    response = upload(client, "projects", "projects.pdf", b"%PDF")
    assert response.status_code == 422 and "unsupported file type" in text_of(response)
    response = client.post("/staff/catalogue/upload", data={"kind": "projects"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a file" in text_of(response)


@pytest.mark.parametrize("kind", ["projects", "needs"])
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_each_downloaded_template_uploads_as_it_is(site, kind, language, file_format):
    client, matcher = site
    response = client.get(f"/staff/catalogue/template/{kind}.{file_format}?headers={language}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{kind}-template-{language}.{file_format}"'
    before = matcher.catalogue.count(Kind(kind))
    assert upload(client, kind, f"filled.{file_format}", response.data).status_code == 302
    assert matcher.catalogue.count(Kind(kind)) == before + 1


def test_a_template_in_another_language_is_refused(site):
    client, _ = site
    assert client.get("/staff/catalogue/template/projects.csv?headers=fr").status_code == 422
    assert client.get("/staff/catalogue/template/projects.pdf").status_code == 404


def test_the_pages_speak_chinese(site):
    client, _ = site
    page = text_of(client.get("/staff/catalogue?kind=needs&lang=zh"))
    assert "上传表格" in page and "地区" in page and "显示第 1–2 条，共 2 条" in page
    assert "下架" in text_of(client.get("/staff/catalogue/needs/N1"))
    assert "中文表头" in text_of(client.get("/staff/catalogue/upload"))
