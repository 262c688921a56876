"""Matchmaking events in the console: the list, a new event's scope and caps, the plan and its review.

The plan runs in the request (POST, then a redirect): an event is a few dozen projects and needs,
which the planner solves in seconds, well inside the server's timeout, and the page then shows
the stored result at once; a background job would add a waiting page and a second store for the
same few seconds. Every change is written by :class:`~matcher.events.store.EventStore`, which
keeps the audit trail; an outcome is stored by the outcome store and noted in the trail too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from matcher.engine import Matcher
from matcher.errors import InvalidInput, MatcherError, ValidationFailed
from matcher.events.planning import SCOPE_KEYS, checked, plan_event
from matcher.events.store import Event, EventPair, PairState
from matcher.introductions.scoring import pair_strengths
from matcher.outcomes.store import AgreementType, DeclineReason, OutcomeStatus
from matcher.records import Kind, Record
from matcher.strength.model import pair_kind
from service.staff import texts
from service.staff.blueprint import staff
from service.staff.context import author, event_store, staff_matcher

log = logging.getLogger(__name__)

PAGE_SIZE = 50
FACET_LIMIT = 5000  # records per side past which the form offers text boxes instead of drop-downs
CAP_FIELDS = ("max_per_project", "max_per_need", "max_per_enterprise", "max_per_institution")
# The scope fields of the form: (form field, side, filter name of matcher.filters, record attribute).
SCOPE_FIELDS = (
    ("project_field", "project_filters", "field", Kind.PROJECTS, "fields"),
    ("project_institution", "project_filters", "institution", Kind.PROJECTS, "institution"),
    ("need_industry", "need_filters", "industry", Kind.NEEDS, "industry"),
    ("need_region", "need_filters", "region", Kind.NEEDS, "region"),
)
ACTIONS = {
    "approve": PairState.APPROVED,
    "lock": PairState.LOCKED,
    "strike": PairState.STRUCK,
    "propose": PairState.PROPOSED,
}


# -- the form of a new event -----------------------------------------------------------------


def _whole(form: dict[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"'{name}' must be a whole number, got {raw!r}", details={"field": name}) from None


def _date(form: dict[str, str], name: str) -> str | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise InvalidInput(f"'{name}' must be a date like 2026-12-31, got {raw!r}", details={"field": name}) from None


def event_from_form(form: dict[str, str]) -> tuple[str, str | None, dict[str, Any], dict[str, Any]]:
    """(name, date, scope, parameters) of the form, checked by the planner's own rules."""
    name = form.get("name", "").strip()
    if not name:
        raise InvalidInput("An event needs a name", details={"field": "name"})
    scope: dict[str, Any] = {"project_filters": {}, "need_filters": {}}
    for field, side, filter_name, _, _ in SCOPE_FIELDS:
        value = form.get(field, "").strip()
        if value:
            scope[side][filter_name] = value
    scope["updated_since"] = _date(form, "updated_since")
    parameters: dict[str, Any] = {name: _whole(form, name) for name in CAP_FIELDS}
    raw_floor = form.get("min_score", "").strip()
    if raw_floor:
        try:
            parameters["min_score"] = float(raw_floor)
        except ValueError:
            raise InvalidInput(
                f"'min_score' must be a number from 0 to 1, got {raw_floor!r}", details={"field": "min_score"}
            ) from None
    scope, parameters = checked(staff_matcher().settings, scope, parameters)
    return name, _date(form, "event_date"), scope, parameters


def _facets() -> dict[str, list[str]]:
    """The catalogue's own values of each scope field, for drop-downs (empty where a side is too big)."""
    catalogue = staff_matcher().catalogue
    values: dict[str, set[str]] = {field: set() for field, *_ in SCOPE_FIELDS}
    for kind in (Kind.PROJECTS, Kind.NEEDS):
        if catalogue.count(kind) > FACET_LIMIT:
            continue
        wanted = [(field, attribute) for field, _, _, side, attribute in SCOPE_FIELDS if side is kind]
        for stored in catalogue.records(kind):
            for field, attribute in wanted:
                value = stored.record.attributes.get(attribute)
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and item.strip():
                        values[field].add(item.strip())
    return {field: sorted(found, key=str.casefold) for field, found in values.items()}


def _state_counts(pairs: list[EventPair]) -> dict[str, int]:
    counts = Counter(pair.state.value for pair in pairs)
    return {state.value: counts.get(state.value, 0) for state in PairState}


def _list_page(form: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    store = event_store()
    events = [(event, _state_counts(store.pairs(event.id))) for event in store.list()]
    return (
        render_template(
            "staff/events.html",
            section="events",
            events=events,
            form=form or {},
            facets=_facets(),
            defaults=staff_matcher().settings,
        ),
        status,
    )


@staff.get("/events")
def events() -> ResponseReturnValue:
    """Every event with its date and pairs by state, and the form for a new one."""
    return _list_page()


@staff.get("/events/new")
def new_event() -> ResponseReturnValue:
    return render_template(
        "staff/event_new.html", section="events", form={}, facets=_facets(), defaults=staff_matcher().settings
    )


@staff.post("/events")
def create_event() -> ResponseReturnValue:
    form = request.form.to_dict()
    try:
        name, event_date, scope, parameters = event_from_form(form)
        event = event_store().create(name, author(), event_date=event_date, scope=scope, parameters=parameters)
    except InvalidInput as error:
        flash(error.message, "error")
        return _list_page(form, 422)
    flash("The event is created. Generate its plan when the scope is right.", "success")
    return redirect(url_for("staff.event", event_id=event.id))


# -- one event: plan, review, outcomes -------------------------------------------------------


def _band(matcher: Matcher, strength: float | None, need: Record | None, project: Record | None) -> str:
    if strength is None or need is None or project is None:
        return "unknown"
    need_language = need.language or "en"
    project_language = project.language or "en"
    kind = pair_kind(need_language, project_language, "zh" in (need_language, project_language))
    return matcher.strength.band(strength, kind).value


def _page_number() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


def empty_reason(diagnostics: dict[str, Any] | None) -> str:
    """Why a plan proposed nothing, in the visitor's language (the planner's ``empty_reason`` says it in English)."""
    reason = str((diagnostics or {}).get("empty_reason") or "")
    if not reason or texts.language() != "zh":
        return reason
    assert diagnostics is not None
    if not diagnostics.get("projects_in_scope") or not diagnostics.get("needs_in_scope"):
        side = "项目" if not diagnostics.get("projects_in_scope") else "需求"
        return f"范围内没有{side}：请检查范围筛选条件和更新日期。（{reason}）"
    if reason.startswith("No pair reaches"):
        best = diagnostics.get("best_score")
        floor = diagnostics.get("parameters", {}).get("min_score")
        return f"没有配对达到最低匹配强度 {floor}（最好的配对为 {best}）：请降低最低匹配强度。"
    return f"达到最低匹配强度的配对都被排除了。（{reason}）"


def _form_of(event: Event) -> dict[str, str]:
    """The event as the values of its edit form."""
    values = {"name": event.name, "event_date": event.event_date or ""}
    for field, side, filter_name, _, _ in SCOPE_FIELDS:
        values[field] = str(event.scope.get(side, {}).get(filter_name, ""))
    values["updated_since"] = str(event.scope.get("updated_since") or "")
    for name in (*CAP_FIELDS, "min_score"):
        value = event.parameters.get(name)
        values[name] = "" if value is None else str(value)
    return values


def _event_page(event_id: int, status: int = 200, edit_form: dict[str, str] | None = None) -> tuple[str, int]:
    store, matcher = event_store(), staff_matcher()
    event = store.get(event_id)
    every = store.pairs(event_id)
    counts = _state_counts(every)
    state = request.args.get("state", "")
    shown = [pair for pair in every if pair.state.value == state] if state in counts else every
    pages = max((len(shown) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(_page_number(), pages)
    rows = shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    needs = matcher.catalogue.by_ids(Kind.NEEDS, {pair.need_id for pair in rows})
    projects = matcher.catalogue.by_ids(Kind.PROJECTS, {pair.project_id for pair in rows})
    latest = matcher.outcomes.latest()
    table = [
        {
            "pair": pair,
            "need": needs.get(pair.need_id),
            "project": projects.get(pair.project_id),
            "band": _band(matcher, pair.strength, needs.get(pair.need_id), projects.get(pair.project_id)),
            "outcome": latest.get((pair.project_id, pair.need_id)),  # type: ignore[call-overload]
        }
        for pair in rows
    ]
    return (
        render_template(
            "staff/event.html",
            section="events",
            event=event,
            lines=_describe(event),
            empty_reason=empty_reason(event.plan_diagnostics),
            counts=counts,
            total=len(every),
            state=state if state in counts else "",
            page=page,
            pages=pages,
            table=table,
            form=request.form.to_dict() if request.method == "POST" else {},
            edit_form=edit_form or _form_of(event),
            edit_open=edit_form is not None,
            facets=_facets(),
            defaults=matcher.settings,
            statuses=[status.value for status in OutcomeStatus],
            agreement_types=[kind.value for kind in AgreementType],
            decline_reasons=[reason.value for reason in DeclineReason],
            scope_keys=SCOPE_KEYS,
        ),
        status,
    )


@staff.get("/events/<int:event_id>")
def event(event_id: int) -> ResponseReturnValue:
    """The event, its plan's diagnostics, and the review table (filter by state, 50 a page)."""
    return _event_page(event_id)


def _back(event_id: int) -> ResponseReturnValue:
    """Back to the event page the form was on (its state filter and page kept)."""
    view: dict[str, Any] = {key: value for key, value in request.args.items() if key in ("state", "page")}
    return redirect(url_for("staff.event", event_id=event_id, **view) + "#review")


@staff.post("/events/<int:event_id>/plan")
def plan(event_id: int) -> ResponseReturnValue:
    """Generate the plan, or re-plan around the locked pairs and without the struck ones."""
    planned = plan_event(staff_matcher(), event_store(), event_id, author())
    if planned.introductions:
        flash(
            texts.translate("Planned %(plan)s: %(count)d introductions.")
            % {"plan": planned.plan_id, "count": planned.introductions},
            "success",
        )
    else:
        flash(texts.translate("The plan proposes no introduction."), "error")
    return redirect(url_for("staff.event", event_id=event_id))


def _pair_ids() -> tuple[str, str]:
    need_id = request.form.get("need_id", "").strip()
    project_id = request.form.get("project_id", "").strip()
    for field, value in (("need_id", need_id), ("project_id", project_id)):
        if not value:
            raise InvalidInput(f"'{field}' is required", details={"field": field})
    return need_id, project_id


@staff.post("/events/<int:event_id>/state")
def set_pair_state(event_id: int) -> ResponseReturnValue:
    """Approve, lock, strike (with a reason) or return one pair to proposed."""
    action = request.form.get("action", "")
    if action not in ACTIONS:
        raise InvalidInput(f"'action' must be one of {sorted(ACTIONS)}, got {action!r}", details={"field": "action"})
    need_id, project_id = _pair_ids()
    try:
        event_store().set_state(
            event_id, need_id, project_id, ACTIONS[action], author(), reason=request.form.get("reason", "")
        )
    except InvalidInput as error:
        flash(error.message, "error")
        return _event_page(event_id, 422)
    flash(f"{need_id} / {project_id}: {texts.translate(ACTIONS[action].value)}", "success")
    return _back(event_id)


@staff.post("/events/<int:event_id>/pairs")
def add_event_pair(event_id: int) -> ResponseReturnValue:
    """A pair added by hand: locked, so that every re-plan keeps it."""
    try:
        need_id, project_id = _pair_ids()
        strength = pair_strengths(staff_matcher(), [(project_id, need_id)]).get((project_id, need_id))
        event_store().add_pair(
            event_id,
            need_id,
            project_id,
            author(),
            note=request.form.get("note", "").strip(),
            strength=None if strength is None else round(strength, 4),
        )
    except MatcherError as error:  # a missing record, a pair the event has already
        flash(error.message, "error")
        return _event_page(event_id, 422)
    flash(f"{need_id} / {project_id}: {texts.translate('added and locked')}", "success")
    return _back(event_id)


@staff.post("/events/<int:event_id>/outcome")
def record_event_outcome(event_id: int) -> ResponseReturnValue:
    """What happened to one of the event's pairs, stored with the event's plan id and noted in the trail."""
    store = event_store()
    event = store.get(event_id)
    need_id, project_id = _pair_ids()
    pair = store.pair(event_id, need_id, project_id)
    plan_id = event.plan_id or pair.plan_id or f"event-{event_id}-0"
    form = request.form
    try:
        outcome = staff_matcher().outcomes.record(
            project_id=project_id,
            need_id=need_id,
            status=form.get("status", ""),
            author=author(),
            agreement_type=form.get("agreement_type") or None,
            decline_reason=form.get("decline_reason") or None,
            note=form.get("note") or None,
            score=pair.strength,
            plan_id=plan_id,
        )
    except ValidationFailed as error:
        flash("; ".join(problem.message for problem in error.problems), "error")
        return _event_page(event_id, 422)
    except MatcherError as error:
        flash(error.message, "error")
        return _event_page(event_id, 422)
    detail = {"status": outcome.status.value, "plan_id": plan_id, "outcome_id": outcome.id}
    if outcome.agreement_type:
        detail["agreement_type"] = outcome.agreement_type.value
    if outcome.decline_reason:
        detail["decline_reason"] = outcome.decline_reason.value
    store.log(event_id, "outcome", author(), need_id, project_id, detail)
    flash(f"{need_id} / {project_id}: {texts.translate(outcome.status.value)}", "success")
    return _back(event_id)


@staff.post("/events/<int:event_id>/edit")
def edit_event(event_id: int) -> ResponseReturnValue:
    """Change the name, date, scope or caps; the plan stays as it is until the next re-plan."""
    form = request.form.to_dict()
    event_store().get(event_id)
    try:
        name, event_date, scope, parameters = event_from_form(form)
        event_store().update(
            event_id, author(), name=name, event_date=event_date or "", scope=scope, parameters=parameters
        )
    except InvalidInput as error:
        flash(error.message, "error")
        return _event_page(event_id, 422, edit_form=form)
    flash("The event is saved. Re-plan to apply the new scope and caps.", "success")
    return redirect(url_for("staff.event", event_id=event_id))


@staff.get("/events/<int:event_id>/audit")
def event_audit(event_id: int) -> ResponseReturnValue:
    """Every change to the event and its pairs, newest first, with author and time."""
    store = event_store()
    event = store.get(event_id)
    entries = list(reversed(store.audit(event_id)))
    return render_template("staff/event_audit.html", section="events", event=event, entries=entries)


PARAMETER_LABELS = {
    "max_per_project": "Max per project",
    "max_per_need": "Max per need",
    "max_per_enterprise": "Max per enterprise",
    "max_per_institution": "Max per institution",
    "max_per_need_institution": "Max per need and institution",
    "min_score": "Minimum strength",
    "solver": "Solver",
}


def _describe(event: Event) -> list[tuple[str, str]]:
    """The event's scope and parameters as (label, value) lines for the page."""
    lines: list[tuple[str, str]] = []
    for side, label in (("project_filters", "Projects"), ("need_filters", "Needs")):
        for name, value in sorted(event.scope.get(side, {}).items()):
            lines.append((f"{texts.translate(label)}: {texts.translate(name)}", str(value)))
    if event.scope.get("updated_since"):
        lines.append((texts.translate("Records updated since"), str(event.scope["updated_since"])))
    for name, value in event.parameters.items():
        lines.append((texts.translate(PARAMETER_LABELS.get(name, name)), str(value)))
    return lines


texts.add(
    {
        "New event": "新建活动",
        "Edit name, date, scope and caps": "修改名称、日期、范围和上限",
        "Save changes": "保存修改",
        "The event is saved. Re-plan to apply the new scope and caps.": "活动已保存。重新生成方案后新的范围和上限才会生效。",
        "Create event": "创建活动",
        "Event name": "活动名称",
        "Date": "日期",
        "Event date": "活动日期",
        "Scope": "范围",
        "Project field": "项目领域",
        "Project institution": "项目单位",
        "Need industry": "需求行业",
        "Need region": "需求地区",
        "Records updated since": "记录更新日期不早于",
        "Any": "不限",
        "Caps and floor": "上限与门槛",
        "Max per project": "每个项目最多",
        "Max per need": "每个需求最多",
        "Max per enterprise": "每家企业最多",
        "Max per institution": "每个单位最多",
        "Minimum strength (0 to 1)": "最低匹配强度（0 到 1）",
        "Leave a cap empty for no cap (project and need caps default to 3).": (
            "上限留空表示不设上限（项目和需求的上限默认为 3）。"
        ),
        "No events yet.": "还没有活动。",
        "Pairs": "配对",
        "Open": "打开",
        "proposed": "已推荐",
        "approved": "已批准",
        "locked": "已锁定",
        "struck": "已剔除",
        "Proposed": "已推荐",
        "Approved": "已批准",
        "Locked": "已锁定",
        "Struck": "已剔除",
        "All": "全部",
        "The event is created. Generate its plan when the scope is right.": "活动已创建。确认范围后即可生成方案。",
        "Generate plan": "生成方案",
        "Re-plan": "重新生成方案",
        "Re-planning keeps locked pairs and never proposes struck ones.": "重新生成时保留已锁定的配对，不会再推荐已剔除的配对。",
        "Planned %(plan)s: %(count)d introductions.": "已生成方案 %(plan)s：%(count)d 个对接。",
        "The plan proposes no introduction.": "该方案没有推荐任何对接。",
        "Why nothing was proposed": "为什么没有推荐",
        "Plan": "方案",
        "No plan yet.": "尚未生成方案。",
        "Planned at": "生成时间",
        "Introductions": "对接",
        "Projects in scope": "范围内项目",
        "Needs in scope": "范围内需求",
        "Locked pairs over a cap": "超出上限的已锁定配对",
        "Exports": "导出",
        "Import outcomes": "导入对接结果",
        "Meeting pack": "会谈材料",
        "Review": "审核",
        "Need (enterprise)": "需求（企业）",
        "Project (institution)": "项目（单位）",
        "Strength": "匹配强度",
        "Score": "分数",
        "Why": "匹配理由",
        "State": "状态",
        "Outcome": "结果",
        "Actions": "操作",
        "Approve": "批准",
        "Lock": "锁定",
        "Strike": "剔除",
        "Back to proposed": "退回待审",
        "Reason for striking": "剔除理由",
        "Reason": "理由",
        "strong": "强",
        "possible": "可能",
        "weak": "弱",
        "unknown": "未知",
        "added by hand": "手动添加",
        "No pairs in this view.": "此视图中没有配对。",
        "Page": "页",
        "of": "/",
        "Previous": "上一页",
        "Next": "下一页",
        "Add a pair by hand": "手动添加配对",
        "Need id": "需求编号",
        "Project id": "项目编号",
        "Note": "备注",
        "Add pair": "添加配对",
        "A pair added by hand is locked: every re-plan keeps it.": "手动添加的配对会被锁定：每次重新生成方案都会保留。",
        "added and locked": "已添加并锁定",
        "Record outcome": "记录结果",
        "Status": "状态",
        "Agreement type": "协议类型",
        "Decline reason": "拒绝原因",
        "Save outcome": "保存结果",
        "contacted": "已联系",
        "meeting": "已会谈",
        "agreement": "已达成协议",
        "declined": "已拒绝",
        "licence": "许可",
        "joint_research": "联合研发",
        "joint_venture": "合资",
        "other": "其他",
        "not_relevant": "不相关",
        "too_early_stage": "阶段过早",
        "description_unclear": "描述不清",
        "no_budget": "无预算",
        "ip_unavailable": "知识产权不可用",
        "none yet": "暂无",
        "Audit trail": "审计记录",
        "Every change to this event, newest first.": "此活动的每一次修改，最新的在前。",
        "When": "时间",
        "Who": "操作人",
        "What": "操作",
        "Pair": "配对",
        "Details": "详情",
        "created": "创建",
        "edited": "修改",
        "planned": "生成方案",
        "added": "手动添加",
        "outcome": "记录结果",
        "Back to the event": "返回活动",
        "Projects": "项目",
        "Needs": "需求",
        "field": "领域",
        "industry": "行业",
        "region": "地区",
        "institution": "单位",
        "max_per_project": "每个项目最多",
        "max_per_need": "每个需求最多",
        "max_per_enterprise": "每家企业最多",
        "max_per_institution": "每个单位最多",
        "max_per_need_institution": "每个需求每个单位最多",
        "min_score": "最低匹配强度",
        "solver": "求解方式",
        "Max per need and institution": "每个需求每个单位最多",
        "Minimum strength": "最低匹配强度",
        "Solver": "求解方式",
        "Created by": "创建人",
        "Rank of the project for the need / of the need for the project": "项目在该需求中的排名 / 需求在该项目中的排名",
        "by": "操作人",
    }
)
