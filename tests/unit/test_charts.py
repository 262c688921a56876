"""The dashboard's SVG charts (well-formed, one bar per value, escaped labels) and its page and CSVs."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ElementTree

import pytest

from matcher.engine import open as open_matcher
from matcher.events.store import EventStore, ProposedPair
from matcher.introductions import insights
from matcher.records import Kind
from service import create_app
from service.api_keys import ApiKeys
from service.staff import charts
from service.staff.dashboard import CACHE_EXTENSION, TABLES, Table
from service.staff_session import SESSION_FIELD

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("width") == "100%"
    assert root.get("viewBox", "").startswith("0 0 ")
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    return root


def bars(root: ElementTree.Element) -> list[ElementTree.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def texts(root: ElementTree.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


HOSTILE = '<script>alert("x")</script> & 长春'


def test_a_bar_chart_has_one_bar_per_value_and_escapes_every_label():
    items = [(HOSTILE, 3), ("Jilin", 10), ("zero", 0)]
    svg = charts.bar_chart("c1", f"Title {HOSTILE}", "desc & more", items, axis_label="needs")
    assert "<script>" not in svg
    root = parse(svg)
    assert len(bars(root)) == 3
    assert [bar.find(f"{SVG}title").text for bar in bars(root)] == [f"{HOSTILE}: 3", "Jilin: 10", "zero: 0"]
    assert root.find(f"{SVG}title").text == f"Title {HOSTILE}"
    widths = [float(bar.get("width")) for bar in bars(root)]
    assert widths[1] > widths[0] > widths[2] == 0
    assert {"3", "10", "0", "needs"} <= set(texts(root))


def test_a_stacked_chart_draws_each_non_zero_segment_and_the_totals():
    svg = charts.stacked_bars("c2", "t", "d", ["P1", "P2"], [("local", [2, 0]), ("elsewhere", [1, 4])])
    root = parse(svg)
    assert [bar.find(f"{SVG}title").text for bar in bars(root)] == [
        "P1 · local: 2",
        "P1 · elsewhere: 1",
        "P2 · elsewhere: 4",
    ]
    assert {"3", "4", "local", "elsewhere"} <= set(texts(root))


def test_a_long_legend_wraps_inside_the_chart():
    names = [f"industry number {i}" for i in range(9)]
    root = parse(charts.stacked_bars("c6", "t", "d", ["P1"], [(name, [1]) for name in names]))
    keys = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "key"]
    assert len(keys) == 9 and len({key.get("y") for key in keys}) > 1
    assert all(float(key.get("x")) + 12 <= charts.WIDTH for key in keys)
    assert len(bars(root)) == 9


def test_a_funnel_says_each_stage_and_its_share_of_the_one_before():
    root = parse(charts.funnel_chart("c3", "t", "d", [("Proposed", 10), ("Contacted", 5), ("Meeting", 0)]))
    assert len(bars(root)) == 3
    assert {"10", "5 · 50%", "0 · 0%"} <= set(texts(root))


def test_grouped_columns_have_one_column_per_category_and_series():
    root = parse(charts.grouped_columns("c4", "t", "d", ["2026-01", "2026-02"], [("a", [1, 2]), ("b", [0, 3])]))
    assert len(bars(root)) == 4
    assert {"2026-01", "2026-02"} <= set(texts(root))


def test_a_histogram_has_one_column_per_bin_and_marks_the_floor():
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    root = parse(charts.histogram("c5", "t", "d", edges, [1, 0, 4, 2], floor=0.35, floor_label="floor 0.35"))
    assert len(bars(root)) == 4
    (floor,) = [line for line in root.iter(f"{SVG}line") if line.get("class") == "floor"]
    assert float(floor.get("x1")) == pytest.approx(44 + (charts.WIDTH - 12 - 44) * 0.35)
    assert "floor 0.35" in texts(root)


def test_long_labels_are_cut_and_cjk_counts_as_wide():
    assert charts.fit("short", 100) == "short"
    cut = charts.fit("a very long project title that cannot fit", 80)
    assert cut.endswith("…") and len(cut) < 20
    assert len(charts.fit("长" * 30, 80)) < len(charts.fit("a" * 30, 80))
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8] and charts.nice_ticks(0) == [0.0, 1.0]


# -- the page and its CSVs through the Flask app ----------------------------------------------


def signed_in_client(app, catalogue_path):
    _, info = ApiKeys(catalogue_path).create("dashboard test")
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_FIELD] = {"name": "tester", "via": "key", "key_id": info.id, "password_updated_at": None}
    return client


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_an_empty_dashboard_says_so_in_words(settings, fake_embedder):
    matcher = open_matcher(settings.replace(multilingual_backend=""), embedder=fake_embedder)
    app = create_app(matcher.settings, matcher=matcher)
    client = signed_in_client(app, matcher.settings.catalogue_path)
    page = client.get("/staff/dashboard?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "There are no events and no outcomes yet" in html
    assert "No project matches an open need strongly." in html
    assert "The catalogue has no indexed projects or needs yet." in html
    assert "<svg" not in html
    assert read_csv(client.get("/staff/dashboard/funnel.csv")) == [
        ["stage", "pairs"],
        ["proposed", "0"],
        ["contacted", "0"],
        ["meeting", "0"],
        ["agreement", "0"],
    ]
    assert client.get("/staff/dashboard/nothing.csv").status_code == 404
    assert client.get("/staff/dashboard?event=7").status_code == 404
    assert client.get("/staff/dashboard?event=x").status_code == 422
    zh = client.get("/staff/dashboard?lang=zh").get_data(as_text=True)
    assert "尚无活动和对接结果" in zh


def chart_numbers(html: str, chart_id: str) -> list[str]:
    """The numbers in the bars' titles of one chart (``label: value``)."""
    svg = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert svg, chart_id
    return [bar.find(f"{SVG}title").text.rsplit(": ", 1)[1] for bar in bars(parse(svg.group(0)))]


def test_every_csv_holds_the_numbers_its_chart_draws(copied_matcher):
    settings = copied_matcher.settings
    events = EventStore(settings.catalogue_path)
    event = events.create("Spring fair", "test", parameters={"min_score": 0.4})
    plan = [
        ProposedPair("N027", "P024", 0.74, 0.74),
        ProposedPair("N001", "P001", 0.55, 0.55),
        ProposedPair("N003", "P010", 0.31, 0.31),
    ]
    events.replace_plan(event.id, "plan-1", plan, {}, "test")
    outcomes = copied_matcher.outcomes
    outcomes.record("P024", "N027", "agreement", "test", agreement_type="licence", plan_id="plan-1")
    outcomes.record("P001", "N001", "contacted", "test", recorded_at="2026-01-10")
    app = create_app(settings, matcher=copied_matcher)
    client = signed_in_client(app, settings.catalogue_path)
    html = client.get("/staff/dashboard?lang=en").get_data(as_text=True)
    assert "<script" not in html.split("<main", 1)[1]
    funnel = read_csv(client.get("/staff/dashboard/funnel.csv"))
    assert funnel[1:] == [["proposed", "3"], ["contacted", "2"], ["meeting", "1"], ["agreement", "1"]]
    assert [n.split(" · ")[0] for n in chart_numbers(html, "chart-funnel")] == ["3", "2", "1", "1"]
    by_event = read_csv(client.get("/staff/dashboard/funnel-by-event.csv"))
    assert by_event == [
        ["event_id", "event", "proposed", "contacted", "meeting", "agreement"],
        [str(event.id), "Spring fair", "3", "2", "1", "1"],
    ]
    pull = read_csv(client.get("/staff/dashboard/market-pull.csv"))
    assert pull[0][:6] == ["project_id", "title", "institution", "local_needs", "other_needs", "strong_open_needs"]
    assert len(pull) > 1
    drawn = chart_numbers(html, "chart-market-pull")
    expected = [value for row in pull[1:16] for value in (row[3], row[4]) if value != "0"]
    assert drawn == expected
    assert all(int(row[3]) + int(row[4]) == int(row[5]) for row in pull[1:])
    by_industry = read_csv(client.get("/staff/dashboard/market-pull-by-industry.csv"))
    assert by_industry[0][:2] == ["project_id", "title"] and len(by_industry[0]) > 2
    assert [row[0] for row in by_industry[1:]] == [row[0] for row in pull[1:]]
    assert all(sum(map(int, row[2:])) == int(total[5]) for row, total in zip(by_industry[1:], pull[1:]))
    drawn = chart_numbers(html, "chart-market-pull-by-industry")
    assert drawn == [value for row in by_industry[1:16] for value in row[2:] if value != "0"]
    gaps = read_csv(client.get("/staff/dashboard/supply-gaps.csv"))
    assert chart_numbers(html, "chart-supply-gaps") == [row[1] for row in gaps[1:]]
    gap_needs = read_csv(client.get("/staff/dashboard/supply-gap-needs.csv"))
    assert sum(int(row[1]) for row in gaps[1:]) == len(gap_needs) - 1
    histogram = read_csv(client.get(f"/staff/dashboard/score-distribution.csv?event={event.id}"))
    assert chart_numbers(html, "chart-score-distribution") == [row[2] for row in histogram[1:]]
    assert sum(int(row[2]) for row in histogram[1:]) == 3
    assert "floor 0.4" in html
    for name in ("agreements-by-field", "agreements-by-institution", "agreements-by-language"):
        table = read_csv(client.get(f"/staff/dashboard/{name}.csv"))
        assert chart_numbers(html, f"chart-{name}") == [row[1] for row in table[1:]]
    assert read_csv(client.get("/staff/dashboard/agreements-by-language.csv"))[1:] == [["en → en", "1"]]
    months = read_csv(client.get("/staff/dashboard/funnel-by-month.csv"))
    assert months[1][0] == "2026-01" and months[1][1:] == ["1", "0", "0"]
    for name in TABLES:  # every chart named on the page links its CSV
        assert f"/staff/dashboard/{name}.csv" in html or name in ("event-funnel",)
    assert copied_matcher.get(Kind.NEEDS, "N027")


def test_a_tables_csv_has_a_bom_and_makes_formulas_inert():
    data = Table(("title", "needs"), [('=HYPERLINK("x")', 2), ("长春 ok", 1)]).csv()
    assert data.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == [
        ["title", "needs"],
        ['\'=HYPERLINK("x")', "2"],
        ["长春 ok", "1"],
    ]


def test_the_page_says_when_the_strengths_are_being_computed(copied_matcher, monkeypatch):
    monkeypatch.setattr(insights, "INLINE_PAIRS", 10)  # the sample counts as a big catalogue
    app = create_app(copied_matcher.settings, matcher=copied_matcher)
    client = signed_in_client(app, copied_matcher.settings.catalogue_path)
    html = client.get("/staff/dashboard?lang=en").get_data(as_text=True)
    assert "are being computed for this catalogue" in html
    assert "The catalogue has no indexed projects or needs yet." not in html
    app.extensions[CACHE_EXTENSION].wait(timeout=300)
    html = client.get("/staff/dashboard?lang=en").get_data(as_text=True)
    assert "are being computed" not in html and 'id="chart-market-pull"' in html
