"""An event's plan as CSV and XLSX, the event pack's pages and agenda, and the console's export views."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from matcher.engine import Matcher, open as open_matcher
from matcher.events.store import EventStore, PairOrigin, PairState, ProposedPair
from matcher.ingest.readers import read_table
from matcher.introductions import pack as packs
from matcher.introductions.export import (
    EVENT_COLUMNS,
    MAX_WIDTH,
    event_plan_rows,
    event_plan_sheets,
    plan_xlsx,
    table_bytes,
    text_width,
)
from matcher.records import Kind, Record
from matcher.strength.model import bundled_model
from service.api_keys import ApiKeys
from service.app import create_app
from service.staff_session import SESSION_FIELD

NEED = Record(
    Kind.NEEDS,
    "N1",
    "转向架焊缝裂纹快速检测",
    "我公司需要对转向架构架焊缝进行快速无损检测。",
    {
        "enterprise": "长春轨道客车股份有限公司",
        "contact": "王伟 <wang@crrc.example.cn>",
        "budget": "50万元",
        "deadline": "2026-12-31",
        "language": "zh",
    },
)
PROJECT = Record(
    Kind.PROJECTS,
    "P1",
    '=HYPERLINK("http://x.example","Phased-array ultrasonic weld inspection")',
    "Phased-array ultrasonic testing finds fatigue cracks in welded bogie frames.",
    {
        "institution": "Jilin University",
        "contact": "Li Na <li.na@jlu.example.edu>",
        "trl": 6,
        "ip_status": "patent granted",
    },
)


def event_pair(state: PairState, need_id: str = "N1", project_id: str = "P1", plan_id: str | None = "plan-7"):
    return SimpleNamespace(
        need_id=need_id,
        project_id=project_id,
        state=state,
        origin=PairOrigin.PLAN,
        score=0.812345,
        strength=0.9,
        rank_for_need=1,
        rank_for_project=2,
        explanation="共同关键词：焊缝。",
        plan_id=plan_id,
    )


def rows(*pairs):
    return event_plan_rows(3, "长春对接会 2026", "plan-7", pairs, {"N1": NEED}, {"P1": PROJECT})


# -- the event's plan as a file --------------------------------------------------------------


def test_every_row_names_the_event_and_its_plan_and_both_parties():
    found = rows(event_pair(PairState.APPROVED), event_pair(PairState.LOCKED, plan_id=None))
    assert [row["event_id"] for row in found] == [3, 3]
    assert {row["event_name"] for row in found} == {"长春对接会 2026"}
    assert [row["plan_id"] for row in found] == ["plan-7", "plan-7"]  # a pair without its own takes the event's
    assert found[0]["state"] == "approved" and found[1]["state"] == "locked" and found[0]["origin"] == "plan"
    assert (
        found[0]["need_enterprise"] == "长春轨道客车股份有限公司"
        and found[0]["project_institution"] == "Jilin University"
    )
    assert found[0]["need_contact"].startswith("王伟") and found[0]["project_contact"].startswith("Li Na")
    assert found[0]["score"] == 0.8123 and found[0]["strength"] == 0.9


def test_a_deleted_record_leaves_its_id_and_empty_details():
    (row,) = event_plan_rows(3, "E", "p", [event_pair(PairState.PROPOSED, need_id="N404")], {}, {"P1": PROJECT})
    assert row["need_id"] == "N404" and row["need_title"] == "" and row["project_title"].startswith("=HYPERLINK")


def test_the_csv_has_a_bom_every_column_and_inert_formulas():
    body = table_bytes(event_plan_sheets(rows(event_pair(PairState.APPROVED)), {"event_id": 3}), "csv")
    assert body.startswith(b"\xef\xbb\xbf")
    read = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert tuple(read[0]) == EVENT_COLUMNS
    assert read[0]["event_id"] == "3" and read[0]["event_name"] == "长春对接会 2026" and read[0]["plan_id"] == "plan-7"
    assert read[0]["project_title"].startswith("'=HYPERLINK")  # shown as text, never run
    assert read[0]["need_title"] == "转向架焊缝裂纹快速检测"


def test_the_csv_reads_back_with_pandas_too():
    pandas = pytest.importorskip("pandas")
    body = table_bytes(event_plan_sheets(rows(event_pair(PairState.APPROVED)), {}), "csv")
    frame = pandas.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    assert list(frame.columns) == list(EVENT_COLUMNS) and frame.loc[0, "need_enterprise"] == "长春轨道客车股份有限公司"


def test_the_xlsx_has_a_bold_frozen_filtered_header_and_fitted_widths(tmp_path):
    plan = rows(event_pair(PairState.APPROVED), event_pair(PairState.PROPOSED))
    book = load_workbook(io.BytesIO(table_bytes(event_plan_sheets(plan, {"event_id": 3, "scope": {"a": 1}}), "xlsx")))
    assert book.sheetnames == ["introductions", "summary"]
    sheet = book["introductions"]
    values = list(sheet.values)
    assert values[0] == EVENT_COLUMNS
    assert all(cell.font.bold for cell in sheet[1]) and not sheet.cell(2, 1).font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:R{len(plan) + 1}"
    column = {name: index for index, name in enumerate(EVENT_COLUMNS)}
    for row in values[1:]:
        assert row[column["event_id"]] == 3 and row[column["event_name"]] == "长春对接会 2026"
        assert row[column["plan_id"]] == "plan-7"
    widths = {name: sheet.column_dimensions[chr(ord("A") + index)].width for name, index in column.items()}
    # Chinese counts double: the enterprise (12 characters) is wider than the plan id, and no column passes the cap.
    assert widths["need_enterprise"] >= 24 > widths["plan_id"] >= len("plan_id")
    assert max(widths.values()) <= MAX_WIDTH
    title = sheet.cell(2, column["project_title"] + 1)
    assert title.data_type == "s" and title.value.startswith("=HYPERLINK")
    summary = dict(list(book["summary"].values)[1:])
    assert summary["event_id"] == 3 and summary["scope"] == '{"a": 1}'
    assert book["summary"]["A1"].font.bold


def test_a_plan_jobs_xlsx_is_styled_the_same_way():
    plan = {
        "parameters": {"max_per_need": 1},
        "total_score": 0.5,
        "diagnostics": {},
        "introductions": [{"project_id": "P1", "need_id": "N1", "score": 0.5, "explanation": "x" * 300}],
    }
    sheet = load_workbook(io.BytesIO(plan_xlsx(plan)))["introductions"]
    assert sheet["A1"].font.bold and sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    explanation = next(iter(sheet.values)).index("explanation") + 1
    assert sheet.column_dimensions[chr(ord("A") + explanation - 1)].width == MAX_WIDTH
    assert sheet.cell(2, explanation).alignment.wrap_text  # long text wraps in its capped column


def test_text_width_counts_wide_characters_twice():
    assert (
        text_width("abc") == 3 and text_width("长春") == 4 and text_width("ab\n长春长春") == 8 and text_width(None) == 0
    )


# -- the pack --------------------------------------------------------------------------------


def test_the_agenda_names_both_parties_the_problem_the_trl_and_next_steps():
    items = packs.agenda(packs.party(NEED), packs.party(PROJECT))
    texts = [item.text() for item in items]
    assert len(items) == 4
    assert texts[0] == "Introductions: 长春轨道客车股份有限公司 and Jilin University"
    assert texts[1] == "The enterprise's problem: 转向架焊缝裂纹快速检测 (wanted by 2026-12-31)"
    assert texts[2].endswith("at technology readiness level 6")
    assert texts[3] == "Next steps: intellectual property (patent granted), budget (50万元), a follow-up meeting"
    assert all(item.template in packs.AGENDA_TEXTS for item in items)


def test_an_agenda_without_trl_ip_or_budget_still_has_four_points():
    bare_need = Record(Kind.NEEDS, "N2", "Cold start", "Fuel cells fail to start at -30 °C.")
    bare_project = Record(Kind.PROJECTS, "P2", "Cold-start control", "A control strategy for cold starts.")
    items = packs.agenda(packs.party(bare_need), packs.party(bare_project))
    assert [item.template for item in items] == [
        packs.AGENDA_INTRODUCTIONS,
        packs.AGENDA_NEED,
        packs.AGENDA_TECHNOLOGY,
        packs.AGENDA_NEXT,
    ]
    assert items[0].values == {"need_party": "Cold start", "project_party": "Cold-start control"}  # no names: titles


def test_a_translated_template_keeps_its_places():
    item = packs.agenda(packs.party(NEED), packs.party(PROJECT))[2]
    assert item.text("技术介绍：{project_title}，技术成熟度 {trl} 级").endswith("技术成熟度 6 级")


def test_each_recipient_gets_a_page_in_their_language_with_the_terms_their_way_round():
    term = SimpleNamespace(query_term="焊缝", match_term="weld")
    related = SimpleNamespace(query_term="裂纹", match_term="cracks")
    evidence = SimpleNamespace(query_text="我公司需要快速检测。", match_text="Phased-array testing finds cracks.")
    explanation = SimpleNamespace(shared=[term], related=[related], evidence=evidence)
    for_need, for_project = packs.pages_of_pair(
        event_pair(PairState.APPROVED), NEED, PROJECT, explanation, bundled_model()
    )
    assert (for_need.language, for_project.language) == ("zh", "en")  # the field, else detected: English here
    assert for_need.recipient.id == "N1" and for_project.recipient.id == "P1"
    assert for_need.shared[0].mine == "焊缝" and for_project.shared[0].mine == "weld"
    assert (for_project.related[0].mine, for_project.related[0].theirs) == ("cracks", "裂纹")
    assert for_need.evidence_mine.startswith("我公司") and for_project.evidence_mine.startswith("Phased-array")
    assert for_need.band == for_project.band == "strong" and for_need.state == "approved"
    assert for_need.recipient.details["deadline"] == "2026-12-31" and for_project.recipient.details["trl"] == "6"


def test_a_pair_added_by_hand_has_no_band_and_no_terms():
    pair = SimpleNamespace(**{**vars(event_pair(PairState.LOCKED)), "strength": None, "score": None})
    for_need, _ = packs.pages_of_pair(pair, NEED, PROJECT, None, bundled_model())
    assert for_need.band is None and for_need.shared == [] and for_need.evidence_mine is None


# -- the views, on a small catalogue with a stand-in encoder -----------------------------------

NEEDS = [
    {
        "id": "N1",
        "title": "Laser welding of battery trays",
        "description": "We need laser welding of aluminium battery trays without cracks.",
        "enterprise": "Bohai Auto Co.",
        "contact": "Zhao <zhao@bohai.example.com>",
        "budget": "1 million CNY",
        "language": "en",
    },
    {
        "id": "N2",
        "title": "电池托盘激光焊接",
        "description": "我公司需要 激光 焊接 铝合金 电池 托盘。",
        "enterprise": "长春汽车零部件有限公司",
        "contact": "王伟 <wang@cc.example.cn>",
        "language": "zh",
    },
]
PROJECTS = [
    {
        "id": "P1",
        "title": "Laser welding of aluminium",
        "abstract": "Laser welding of aluminium battery trays without cracks, with seam tracking.",
        "institution": "Jilin University",
        "contact": "Li Na <li@jlu.example.edu>",
        "trl": 6,
        "ip_status": "patent granted",
        "language": "en",
    },
    {
        "id": "P2",
        "title": "激光 焊接 铝合金",
        "abstract": "激光 焊接 铝合金 电池 托盘 的 工艺。",
        "institution": "长春理工大学",
        "contact": "李娜 <lina@cust.example.cn>",
        "language": "zh",
    },
]


@pytest.fixture
def small_matcher(settings, fake_embedder) -> Matcher:
    engine = open_matcher(settings.replace(multilingual_backend=""), embedder=fake_embedder)
    engine.ingest_batch(Kind.PROJECTS, PROJECTS)
    engine.ingest_batch(Kind.NEEDS, NEEDS)
    return engine


@pytest.fixture
def planned(small_matcher):
    """An event with three pairs: approved, proposed and struck."""
    store = EventStore(small_matcher.settings.catalogue_path)
    event = store.create("Spring matchmaking 春季对接会", "test", event_date="2026-04-01")
    store.replace_plan(
        event.id,
        "plan-abc",
        [
            ProposedPair("N1", "P1", 0.9, 0.9, 1, 1, "Shares laser welding."),
            ProposedPair("N2", "P2", 0.8, 0.8, 1, 1, "共同关键词：激光。"),
            ProposedPair("N2", "P1", 0.5, 0.5, 2, 2, ""),
        ],
        {},
        "test",
    )
    store.set_state(event.id, "N1", "P1", PairState.APPROVED, "test")
    store.set_state(event.id, "N2", "P1", PairState.STRUCK, "test", reason="same people")
    return small_matcher, store, event


@pytest.fixture
def client(planned):
    matcher, _, _ = planned
    app = create_app(matcher.settings, matcher=matcher)
    app.config["WTF_CSRF_ENABLED"] = False
    _, info = ApiKeys(matcher.settings.catalogue_path).create("tester")
    test_client = app.test_client()
    with test_client.session_transaction() as session:
        session[SESSION_FIELD] = {"name": "tester", "via": "key", "key_id": info.id, "password_updated_at": None}
    return test_client


def test_the_export_leaves_struck_pairs_out_unless_asked(client, planned):
    _, _, event = planned
    answer = client.get(f"/staff/events/{event.id}/export.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert 'filename="event-' in answer.headers["Content-Disposition"]
    read = list(csv.DictReader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert sorted((row["need_id"], row["project_id"], row["state"]) for row in read) == [
        ("N1", "P1", "approved"),
        ("N2", "P2", "proposed"),
    ]
    assert {row["plan_id"] for row in read} == {"plan-abc"} and {row["event_id"] for row in read} == {str(event.id)}
    struck = client.get(f"/staff/events/{event.id}/export.xlsx?state=struck")
    sheet = list(load_workbook(io.BytesIO(struck.data))["introductions"].values)
    assert [row[EVENT_COLUMNS.index("state")] for row in sheet[1:]] == ["struck"]
    assert client.get(f"/staff/events/{event.id}/export.csv?state=gone").status_code == 422
    assert client.get(f"/staff/events/{event.id}/export.pdf").status_code == 404
    assert client.get("/staff/events/999/export.csv").status_code == 404


def test_the_pack_has_a_cover_and_a_page_per_introduction_and_recipient(client, planned):
    _, _, event = planned
    page = client.get(f"/staff/events/{event.id}/pack?lang=en").get_data(as_text=True)
    assert page.count('class="pack-page pack-introduction"') == 4  # 2 pairs (the struck one is left out) x 2
    assert 'data-need="N2" data-project="P1"' not in page
    assert page.count('data-language="zh"') == 2 and page.count('lang="zh-CN" data-for') == 2
    assert "建议议程" in page and "Suggested agenda" in page  # each page in its recipient's language
    assert "Introductions: Bohai Auto Co. and Jilin University" in page
    assert "相互介绍：长春汽车零部件有限公司 与 长春理工大学" in page
    assert "laser" in page.split('data-need="N1"')[1] and '<script src="/static/pack.js"' in page
    approved = client.get(f"/staff/events/{event.id}/pack?state=approved").get_data(as_text=True)
    assert approved.count('class="pack-page pack-introduction"') == 2
    assert client.get(f"/staff/events/{event.id}/pack?state=struck").status_code == 422


def test_an_event_without_a_plan_has_an_empty_pack_and_a_header_only_file(client, planned):
    _, store, _ = planned
    empty = store.create("Not planned yet", "test")
    page = client.get(f"/staff/events/{empty.id}/pack").get_data(as_text=True)
    assert 'id="pack-empty"' in page and "pack-introduction" not in page
    answer = client.get(f"/staff/events/{empty.id}/export.csv")
    assert answer.data.decode("utf-8-sig").strip() == ",".join(EVENT_COLUMNS)
    answer = client.post(
        "/staff/outcomes/import",
        data={"file": (io.BytesIO(b"project_id,need_id,status\nP1,N1,meeting\n"), "o.csv"), "event_id": str(empty.id)},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "has no plan yet" in answer.get_data(as_text=True)


def test_an_outcomes_file_with_a_bad_row_records_nothing_and_names_the_row(client, planned, tmp_path):
    matcher, _, event = planned
    bad = "project_id,need_id,status,decline_reason\nP1,N1,meeting,\nP2,N2,declined,\nP9,N1,contacted,\n"
    answer = client.post(
        "/staff/outcomes/import",
        data={"file": (io.BytesIO(bad.encode()), "outcomes.csv"), "event_id": str(event.id)},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'data-row="3" data-field="decline_reason"' in page and 'data-row="4" data-field="project_id"' in page
    assert "nothing was recorded" in page and matcher.outcomes.list() == []
    good = "project_id,need_id,status,decline_reason\nP1,N1,meeting,\nP2,N2,declined,no_budget\n"
    answer = client.post(
        "/staff/outcomes/import",
        data={"file": (io.BytesIO(good.encode("utf-8-sig")), "outcomes.csv"), "event_id": str(event.id)},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    stored = matcher.outcomes.list()
    assert (
        len(stored) == 2
        and {o.plan_id for o in stored} == {"plan-abc"}
        and {o.author for o in stored} == {"web:tester"}
    )
    assert "Recorded 2 outcomes" in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_an_unreadable_or_wrong_kind_of_file_is_refused(client):
    answer = client.post(
        "/staff/outcomes/import",
        data={"file": (io.BytesIO(b"PK not a workbook"), "outcomes.xlsx")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "not a readable XLSX workbook" in answer.get_data(as_text=True)
    assert "/tmp" not in answer.get_data(as_text=True)  # the file is named as uploaded
    answer = client.post(
        "/staff/outcomes/import",
        data={"file": (io.BytesIO(b"x"), "outcomes.txt")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and ".csv or .xlsx" in answer.get_data(as_text=True)


def test_the_templates_read_back_with_the_import_readers(client, planned, tmp_path):
    _, _, event = planned
    for file_format in ("csv", "xlsx"):
        answer = client.get(f"/staff/outcomes/template.{file_format}?event_id={event.id}")
        assert answer.status_code == 200
        path = tmp_path / f"template.{file_format}"
        path.write_bytes(answer.data)
        table = read_table(path)
        assert table.columns[:3] == ["project_id", "need_id", "status"] and len(table.rows) == 1
        assert table.rows[0].values["plan_id"] == "plan-abc" and table.rows[0].values["status"] == "meeting"
    validations = load_workbook(path).active.data_validations.dataValidation
    assert {str(v.sqref).split(":")[0]: v.formula1 for v in validations}[
        "C2"
    ] == '"contacted,meeting,agreement,declined"'
    # The event's example row as it stands is a valid outcome of its first pair.
    upload = client.post(
        "/staff/outcomes/import",
        data={"file": (io.BytesIO(client.get(f"/staff/outcomes/template.xlsx?event_id={event.id}").data), "t.xlsx")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    (stored,) = matcher_of(planned).outcomes.list()
    assert (stored.need_id, stored.project_id, stored.plan_id) == ("N1", "P1", "plan-abc")


def matcher_of(planned):
    return planned[0]


def test_the_export_views_need_a_signed_in_member(planned):
    matcher, _, event = planned
    app = create_app(matcher.settings, matcher=matcher)
    for path in (f"/staff/events/{event.id}/export.csv", f"/staff/events/{event.id}/pack", "/staff/outcomes/import"):
        answer = app.test_client().get(path)
        assert answer.status_code == 302 and "/staff/sign-in" in answer.headers["Location"]
