"""The committee's dashboard (/staff/dashboard): the introductions funnel, market pull, supply gaps, an
event's strengths and agreements, each chart drawn as SVG on the server and downloadable as CSV.

Every chart and its CSV come from one :class:`Table`, so the file holds the chart's numbers. The
computations are :mod:`matcher.introductions.insights`; the all-pairs strengths behind market pull
and supply gaps are kept per catalogue revision in one :class:`InsightCache` per server process.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

from flask import Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from matcher.errors import InvalidInput, NotFound, Unavailable
from matcher.events.store import Event, EventStore, PairState
from matcher.introductions import insights
from matcher.introductions.insights import InsightCache, PlannedEvent, StrongMatches
from matcher.records import Kind
from service.staff import charts, texts
from service.staff.blueprint import staff
from service.staff.context import event_store, staff_matcher
from service.staff.texts import translate as _

CACHE_EXTENSION = "techmatch.insights"
TOP_PROJECTS = 15  # projects in the market-pull chart (the table and the CSV have them all)
TABLE_ROWS = 200  # rows of a table on the page at most (the CSV has them all)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    """One chart's numbers: CSV columns and rows (what the file holds and the chart draws)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def csv(self) -> bytes:
        """UTF-8 with a BOM (Excel shows Chinese); text a spreadsheet would run as a formula made inert."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in row])
        return buffer.getvalue().encode("utf-8-sig")


def insight_cache() -> InsightCache:
    return cast(InsightCache, current_app.extensions.setdefault(CACHE_EXTENSION, InsightCache()))


def planned_event(store: EventStore, event: Event, default_floor: float) -> PlannedEvent:
    """An event's plan as :mod:`insights` reads it: pairs not struck, every plan id it has had, its floor."""
    pairs = [pair for pair in store.pairs(event.id) if pair.state is not PairState.STRUCK]
    # event-<id>-0: the plan id an outcome of a pair gets before the event has any plan (events.py)
    plan_ids = {event.plan_id, f"event-{event.id}-0", *(pair.plan_id for pair in pairs)}
    plan_ids |= {str(entry.detail.get("plan_id")) for entry in store.audit(event.id) if entry.action == "planned"}
    floor = event.parameters.get("min_score")
    return PlannedEvent(
        event.id,
        event.name,
        tuple(pair.key for pair in pairs),
        frozenset(plan_id for plan_id in plan_ids if plan_id and plan_id != "None"),
        tuple(pair.strength if pair.strength is not None else pair.score for pair in pairs),
        float(floor) if isinstance(floor, (int, float)) and not isinstance(floor, bool) else default_floor,
    )


def _selected(events: Sequence[PlannedEvent]) -> PlannedEvent | None:
    """The event of ``?event=`` (NotFound naming it when there is none), else the first with a plan."""
    wanted = request.args.get("event", "").strip()
    if wanted:
        if not wanted.isdigit():
            raise InvalidInput(f"'event' must be an event's number, got {wanted!r}", details={"parameter": "event"})
        for event in events:
            if event.id == int(wanted):
                return event
        raise NotFound(f"Event {wanted} does not exist", details={"parameter": "event", "event_id": int(wanted)})
    return next((event for event in events if event.pairs), events[0] if events else None)


class Dashboard:
    """The numbers of every chart for one page view (or one CSV), computed when first asked for."""

    def __init__(self) -> None:
        matcher = staff_matcher()
        store = event_store()
        self.settings = matcher.settings
        self.events = [planned_event(store, event, self.settings.plan_min_score) for event in store.list()]
        self.event = _selected(self.events)
        self.outcomes = matcher.outcomes.list()
        self.home = insights.home_names(self.settings.home_region)
        self._matches: StrongMatches | None = None
        self.scoring = False  # the strengths of every pair are being computed behind

    @property
    def matches(self) -> StrongMatches:
        """Every strong pair of the catalogue (none while a side has no index yet)."""
        if self._matches is None:
            matcher, cache = staff_matcher(), insight_cache()
            try:
                if insights.pair_count(matcher) <= insights.INLINE_PAIRS:
                    found: StrongMatches | None = cache.get(matcher)
                else:  # a big catalogue: scored behind, the page says so until it is done
                    found = cache.get_or_start(matcher)
            except Unavailable:
                found = StrongMatches({}, {}, {}, {}, frozenset())
            self.scoring = found is None
            self._matches = found or StrongMatches({}, {}, {}, {}, frozenset())
        return self._matches

    @property
    def catalogue_empty(self) -> bool:
        matches = self.matches  # first: it sets ``scoring``
        return not self.scoring and (not matches.needs or not matches.projects)

    # -- tables, one per chart (the CSV names are the keys of TABLES) ------------------------

    def funnel(self) -> Table:
        overall = insights.overall_funnel(self.events, self.outcomes)
        return Table(("stage", "pairs"), list(zip(insights.STAGES, overall.counts)))

    def event_funnel(self) -> Table:
        if self.event is None:
            return Table(("stage", "pairs"))
        (funnel,) = [f for e, f in zip(self.events, self._event_funnels) if e is self.event]
        return Table(("stage", "pairs"), list(zip(insights.STAGES, funnel.counts)))

    @cached_property
    def _event_funnels(self) -> list[insights.Funnel]:
        return insights.event_funnels(self.events, self.outcomes)

    def funnel_by_event(self) -> Table:
        funnels = self._event_funnels
        return Table(
            ("event_id", "event", *insights.STAGES),
            [(event.id, funnel.label, *funnel.counts) for event, funnel in zip(self.events, funnels)],
        )

    def funnel_by_month(self) -> Table:
        months = insights.funnel_by_month(self.outcomes)
        return Table(("month", *insights.STAGES[1:]), [(month.month, *month.counts) for month in months])

    @cached_property
    def pulls(self) -> list[insights.ProjectPull]:
        return insights.market_pull(self.matches, self.home)

    def market_pull(self) -> Table:
        pulls = self.pulls
        return Table(
            (
                "project_id",
                "title",
                "institution",
                "local_needs",
                "other_needs",
                "strong_open_needs",
                "by_industry",
                "by_region",
                "need_ids",
            ),
            [
                (
                    pull.project_id,
                    pull.title,
                    pull.institution,
                    pull.local,
                    pull.elsewhere,
                    pull.total,
                    "; ".join(f"{name} {count}" for name, count in pull.by_industry.items()),
                    "; ".join(f"{name} {count}" for name, count in pull.by_region.items()),
                    " ".join(pull.need_ids),
                )
                for pull in pulls
            ],
        )

    def market_pull_by_industry(self) -> Table:
        pulls = self.pulls
        totals: dict[str, int] = {}
        for pull in pulls:
            for name, count in pull.by_industry.items():
                totals[name] = totals.get(name, 0) + count
        industries = sorted(totals, key=lambda name: (-totals[name], name))
        return Table(
            ("project_id", "title", *industries),
            [(pull.project_id, pull.title, *(pull.by_industry.get(name, 0) for name in industries)) for pull in pulls],
        )

    @cached_property
    def _gaps(self) -> list[insights.Gap]:
        return insights.supply_gaps(self.matches, self.home)

    def supply_gaps(self) -> Table:
        return Table(("industry", "needs"), insights.gaps_by_industry(self._gaps))

    def supply_gap_needs(self) -> Table:
        return Table(
            ("need_id", "title", "enterprise", "industry", "region", "local", "best_project_id", "best_strength"),
            [
                (
                    gap.need_id,
                    gap.title,
                    gap.enterprise,
                    gap.industry,
                    gap.region,
                    "yes" if gap.local else "no",
                    gap.best_project_id or "",
                    "" if gap.best_strength is None else round(gap.best_strength, 3),
                )
                for gap in self._gaps
            ],
        )

    def score_distribution(self) -> Table:
        if self.event is None:
            return Table(("from", "to", "pairs"))
        histogram = insights.strength_histogram(self.event)
        rows: list[tuple[Any, ...]] = [
            (histogram.edges[i], histogram.edges[i + 1], count) for i, count in enumerate(histogram.counts)
        ]
        if histogram.unscored:
            rows.append(("unscored", "", histogram.unscored))
        return Table(("from", "to", "pairs"), rows)

    @cached_property
    def _agreements(self) -> insights.Agreements:
        matches = self.matches
        languages: dict[tuple[Kind, str], str] = {}
        for kind, records in ((Kind.NEEDS, matches.needs), (Kind.PROJECTS, matches.projects)):
            detected = staff_matcher().index(kind).languages if records else {}
            languages.update({(kind, record.id): detected[key] for key, record in records.items() if key in detected})
        needs = {record.id: record for record in matches.needs.values()}
        projects = {record.id: record for record in matches.projects.values()}
        return insights.agreements(self.outcomes, needs, projects, languages)

    def agreements_by_field(self) -> Table:
        return Table(("field", "agreements"), self._agreements.by_field)

    def agreements_by_institution(self) -> Table:
        return Table(("institution", "agreements"), self._agreements.by_institution)

    def agreements_by_language(self) -> Table:
        return Table(("languages", "agreements"), self._agreements.by_language)


TABLES: dict[str, Callable[[Dashboard], Table]] = {
    "funnel": Dashboard.funnel,
    "event-funnel": Dashboard.event_funnel,
    "funnel-by-event": Dashboard.funnel_by_event,
    "funnel-by-month": Dashboard.funnel_by_month,
    "market-pull": Dashboard.market_pull,
    "market-pull-by-industry": Dashboard.market_pull_by_industry,
    "supply-gaps": Dashboard.supply_gaps,
    "supply-gap-needs": Dashboard.supply_gap_needs,
    "score-distribution": Dashboard.score_distribution,
    "agreements-by-field": Dashboard.agreements_by_field,
    "agreements-by-institution": Dashboard.agreements_by_institution,
    "agreements-by-language": Dashboard.agreements_by_language,
}
# Each chart's visible title (the SVG's own <title> says the same to a screen reader).
CHART_TITLES = {
    "funnel": "Introductions funnel, all events",
    "event-funnel": "Introductions funnel",
    "funnel-by-month": "Introductions by month",
    "market-pull": "Market pull: open needs each project matches strongly",
    "market-pull-by-industry": "Market pull by the needs' industry",
    "supply-gaps": "Supply gaps by industry",
    "score-distribution": "Strengths of the plan",
    "agreements-by-field": "Agreements by field",
    "agreements-by-institution": "Agreements by institution",
    "agreements-by-language": "Agreements by language (need → project)",
}
# The charts whose numbers depend on the chosen event: their CSV links carry ?event=.
EVENT_TABLES = frozenset({"event-funnel", "score-distribution"})


def _stage_labels() -> list[str]:
    return [_(stage.capitalize()) for stage in insights.STAGES]


def _charts(board: Dashboard, tables: dict[str, Table]) -> dict[str, Markup | None]:
    """Each table's chart (None when there is nothing to draw: the page says so in words)."""
    drawn: dict[str, Markup | None] = dict.fromkeys(tables)
    funnel = tables["funnel"]
    if any(count for _, count in funnel.rows):
        drawn["funnel"] = charts.funnel_chart(
            "chart-funnel",
            _("Introductions funnel, all events"),
            _("Pairs proposed, contacted, met and agreed, each with its share of the stage before."),
            list(zip(_stage_labels(), (row[1] for row in funnel.rows))),
        )
    event_funnel = tables["event-funnel"]
    if board.event is not None and any(count for _, count in event_funnel.rows):
        drawn["event-funnel"] = charts.funnel_chart(
            "chart-event-funnel",
            _chart_title("event-funnel", board),
            _("Pairs of this event's plan by the furthest stage their outcomes reached."),
            list(zip(_stage_labels(), (row[1] for row in event_funnel.rows))),
        )
    by_month = tables["funnel-by-month"]
    if by_month.rows:
        drawn["funnel-by-month"] = charts.grouped_columns(
            "chart-funnel-by-month",
            _("Introductions by month"),
            _("Pairs that first reached each stage, by month of the outcome."),
            [row[0] for row in by_month.rows],
            [(label, [row[i + 1] for row in by_month.rows]) for i, label in enumerate(_stage_labels()[1:])],
            _("pairs"),
        )
    pull = tables["market-pull"]
    if pull.rows:
        top = pull.rows[:TOP_PROJECTS]
        drawn["market-pull"] = charts.stacked_bars(
            "chart-market-pull",
            _("Market pull: open needs each project matches strongly"),
            _("The projects that match most open needs strongly, local enterprises first."),
            [f"{row[0]} {row[1]}" for row in top],
            [(_("Local enterprises"), [row[3] for row in top]), (_("Elsewhere"), [row[4] for row in top])],
            _("open needs matched strongly"),
        )
    by_industry = tables["market-pull-by-industry"]
    if by_industry.rows:
        top = by_industry.rows[:TOP_PROJECTS]
        drawn["market-pull-by-industry"] = charts.stacked_bars(
            "chart-market-pull-by-industry",
            _("Market pull by the needs' industry"),
            _("The same projects, their strongly matched open needs split by industry."),
            [f"{row[0]} {row[1]}" for row in top],
            [(_(name), [row[2 + i] for row in top]) for i, name in enumerate(by_industry.columns[2:])],
            _("open needs matched strongly"),
        )
    gaps = tables["supply-gaps"]
    if gaps.rows:
        drawn["supply-gaps"] = charts.bar_chart(
            "chart-supply-gaps",
            _("Supply gaps by industry"),
            _("Open needs that no project matches strongly, by industry."),
            [(_(str(row[0])), row[1]) for row in gaps.rows],
            _("needs without a strong match"),
            colour=charts.PALETTE[1],
        )
    if board.event is not None and board.event.pairs:
        histogram = insights.strength_histogram(board.event)
        drawn["score-distribution"] = charts.histogram(
            "chart-score-distribution",
            _chart_title("score-distribution", board),
            _("How many of the plan's pairs have each match strength; the dashed line is the event's floor."),
            histogram.edges,
            histogram.counts,
            _("match strength"),
            _("pairs"),
            histogram.floor,
            f"{_('floor')} {histogram.floor:g}" if histogram.floor is not None else "",
        )
    for name, title, colour in (
        ("agreements-by-field", _("Agreements by field"), charts.PALETTE[2]),
        ("agreements-by-institution", _("Agreements by institution"), charts.PALETTE[3]),
        ("agreements-by-language", _("Agreements by language (need → project)"), charts.PALETTE[0]),
    ):
        table = tables[name]
        if table.rows:
            drawn[name] = charts.bar_chart(
                f"chart-{name}",
                title,
                title,
                [(_(str(row[0])), row[1]) for row in table.rows],
                _("agreements"),
                colour=colour,
            )
    return drawn


@staff.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    """The whole dashboard; ``?event=`` chooses the event of the per-event charts."""
    board = Dashboard()
    tables = {name: build(board) for name, build in TABLES.items()}
    return render_template(
        "staff/dashboard.html",
        section="dashboard",
        board=board,
        tables=tables,
        charts=_charts(board, tables),
        stages=_stage_labels(),
        home_region=board.settings.home_region,
        top_projects=TOP_PROJECTS,
        table_rows=TABLE_ROWS,
        chart_title=lambda name: _chart_title(name, board),
        csv_url=lambda name: _csv_url(name, board),
    )


def _chart_title(name: str, board: Dashboard) -> str:
    title = _(CHART_TITLES[name])
    return f"{title}: {board.event.name}" if name in EVENT_TABLES and board.event is not None else title


def _csv_url(name: str, board: Dashboard) -> str:
    url = f"/staff/dashboard/{name}.csv"
    return f"{url}?event={board.event.id}" if name in EVENT_TABLES and board.event is not None else url


@staff.get("/dashboard/<chart>.csv")
def dashboard_csv(chart: str) -> ResponseReturnValue:
    """One chart's numbers as CSV (``?event=`` for the per-event charts)."""
    if chart not in TABLES:
        raise NotFound(f"There is no chart {chart!r}; the charts are {sorted(TABLES)}", details={"chart": chart})
    board = Dashboard()
    suffix = f"-event-{board.event.id}" if chart in EVENT_TABLES and board.event is not None else ""
    return Response(
        TABLES[chart](board).csv(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="techmatch-{chart}{suffix}.csv"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )


texts.add(
    {
        "Dashboard": "看板",
        "Proposed": "已推荐",
        "Contacted": "已联系",
        "Meeting": "已洽谈",
        "Agreement": "已签约",
        "Introductions funnel": "对接漏斗",
        "Introductions funnel, all events": "对接漏斗（全部活动）",
        "Pairs proposed, contacted, met and agreed, each with its share of the stage before.": (
            "已推荐、已联系、已洽谈和已签约的配对数，以及各阶段占上一阶段的比例。"
        ),
        "Pairs of this event's plan by the furthest stage their outcomes reached.": (
            "本活动方案中的配对，按其对接结果达到的最远阶段计数。"
        ),
        "Introductions by month": "按月对接进展",
        "Pairs that first reached each stage, by month of the outcome.": "按结果记录月份统计首次到达各阶段的配对数。",
        "pairs": "配对数",
        "Market pull: open needs each project matches strongly": "市场需求：每个项目强匹配的开放需求数",
        "The projects that match most open needs strongly, local enterprises first.": (
            "强匹配开放需求最多的项目，本地企业优先。"
        ),
        "Local enterprises": "本地企业",
        "Market pull by the needs' industry": "按需求行业的市场需求",
        "The same projects, their strongly matched open needs split by industry.": "同一批项目，其强匹配的开放需求按行业划分。",
        "Elsewhere": "外地",
        "open needs matched strongly": "强匹配的开放需求数",
        "Supply gaps by industry": "按行业的供给缺口",
        "Open needs that no project matches strongly, by industry.": "没有任何项目强匹配的开放需求，按行业统计。",
        "needs without a strong match": "无强匹配的需求数",
        "Strengths of the plan": "方案匹配强度分布",
        "How many of the plan's pairs have each match strength; the dashed line is the event's floor.": (
            "方案中各匹配强度的配对数；虚线为本活动的最低强度。"
        ),
        "match strength": "匹配强度",
        "floor": "最低强度",
        "Agreements by field": "按领域的签约",
        "Agreements by institution": "按机构的签约",
        "Agreements by language (need → project)": "按语言的签约（需求 → 项目）",
        "agreements": "签约数",
        "unspecified": "未填写",
        "The committee's dashboard": "委员会看板",
        "Download CSV": "下载 CSV",
        "Event": "活动",
        "Show": "显示",
        "No events yet": "尚无活动",
        "There are no events and no outcomes yet: the funnel fills in once an event has a plan "
        "or an outcome is recorded.": "尚无活动和对接结果：活动有了方案或记录了对接结果后，这里会显示漏斗。",
        "This event has no plan yet.": "该活动尚无方案。",
        "No outcomes have been recorded yet.": "尚未记录任何对接结果。",
        "No agreements have been recorded yet.": "尚未记录任何签约。",
        "No project matches an open need strongly.": "没有项目强匹配任何开放需求。",
        "The catalogue has no indexed projects or needs yet.": "目录中尚无已建索引的项目或需求。",
        "The strengths of every need against every project are being computed for this catalogue; "
        "reload the page in a minute.": "正在计算本目录中每个需求与每个项目的匹配强度，请一分钟后刷新页面。",
        "Every open need has at least one strong match.": "每个开放需求都至少有一个强匹配项目。",
        "Funnel by event": "各活动的漏斗",
        "Project": "项目",
        "Institution": "单位",
        "Local": "本地",
        "Total": "合计",
        "Industries": "行业",
        "Regions": "地区",
        "Need": "需求",
        "Enterprise": "企业",
        "Industry": "行业",
        "Region": "地区",
        "Best project": "最佳项目",
        "Strength": "匹配强度",
        "yes": "是",
        "no": "否",
        "Is there a market for this?": "这项技术有市场吗？",
        "Where should the office look for research?": "办公室应到哪里寻找研究成果？",
        "Market pull": "市场需求",
        "Supply gaps": "供给缺口",
        "Plan strengths and agreements": "方案强度与签约",
        "An open need is one whose deadline has not passed; a strong match is one in the strong band of "
        "match strength. Local means the need's region names the home region:": (
            "开放需求指截止日期未过的需求；强匹配指匹配强度属于“强”档。本地指需求的地区包含本地区名称："
        ),
        "The chart shows the first": "图中显示前",
        "The table shows the first": "表格显示前",
        "the CSV has them all.": "CSV 包含全部。",
        "projects; the table and the CSV have them all.": "个项目；表格和 CSV 包含全部项目。",
        "Open needs without a strong match": "无强匹配的开放需求",
        "agreement pairs": "个签约配对",
        "unscored pairs (added by hand)": "个未评分配对（手动添加）",
        "Outcomes are counted for the event when they name a pair of its plan; a pair counts at the furthest "
        "stage it reached (a decline counts as contacted); each percentage is of the stage before.": (
            "结果若对应本活动方案中的配对即计入本活动；每个配对按其达到的最远阶段计数（婉拒计为已联系）；"
            "百分比均相对于上一阶段。"
        ),
        "automotive": "汽车",
        "new-energy vehicles": "新能源汽车",
        "optics and photonics": "光学与光电子",
        "applied chemistry": "应用化学",
        "new materials": "新材料",
        "agriculture and food": "农业与食品",
        "biomedicine": "生物医药",
        "rail equipment": "轨道装备",
        "energy": "能源",
    }
)
