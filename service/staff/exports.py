"""An event's plan as a file (CSV, XLSX), its printable pack, and outcomes imported from a spreadsheet.

- ``/staff/events/<id>/export.csv`` and ``.xlsx``: the event's pairs but the struck ones (``?state=``
  picks states, struck included if asked), each row naming the event and its plan.
- ``/staff/events/<id>/pack``: the printable pack (a cover, then a page per introduction and
  recipient in the recipient's language); ``?state=approved`` keeps the approved pairs only.
- ``/staff/outcomes/import``: a CSV/XLSX of outcomes recorded all or nothing, as
  ``matcher outcomes import`` does; every problem is listed by row and field. The blank template
  is at ``/staff/outcomes/template.csv`` (or ``.xlsx``).

Contacts are staff data: the blueprint lets only signed-in staff reach these views.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.utils import secure_filename

from matcher.errors import InvalidInput, NotFound, Problem, ValidationFailed
from matcher.events.store import Event, EventPair, PairState
from matcher.ingest.readers import Table, read_table
from matcher.introductions import pack as packs
from matcher.introductions.export import (
    FORMATS,
    MEDIA_TYPES,
    Sheet,
    event_plan_rows,
    event_plan_sheets,
    table_bytes,
)
from matcher.outcomes.store import FIELDS as OUTCOME_FIELDS, AgreementType, DeclineReason, OutcomeStatus
from matcher.records import Kind
from service.staff import texts
from service.staff.blueprint import staff
from service.staff.context import author, event_store, staff_matcher
from service.staff.texts import translate

log = logging.getLogger(__name__)

# What the pack and the export show unless asked otherwise: everything but the struck pairs.
SHOWN_STATES = (PairState.PROPOSED, PairState.APPROVED, PairState.LOCKED)
IMPORT_SUFFIXES = (".csv", ".xlsx")
IMPORT_ENCODINGS = ("utf-8", "gb18030")
TEMPLATE_COLUMNS = (*OUTCOME_FIELDS, "recorded_at")
# How a page names a record's optional facts (translated with the page).
DETAIL_LABELS = {
    "industry": "Industry",
    "region": "Region",
    "budget": "Budget",
    "deadline": "Deadline",
    "trl": "Technology readiness level",
    "ip_status": "IP status",
    "fields": "Fields",
    "keywords": "Keywords",
}
BAND_WORDS = {"strong": "Strong match", "possible": "Possible match", "weak": "Weak match"}


def _pairs(event_id: int, states: Sequence[PairState]) -> list[EventPair]:
    """The event's pairs in ``states`` (by need, best first)."""
    return event_store().pairs(event_id, states)


def chosen_states(values: Sequence[str], allowed: Sequence[PairState]) -> list[PairState]:
    """The states of ``?state=`` (repeated or comma-separated), or :data:`SHOWN_STATES`; others are refused."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        return [state for state in SHOWN_STATES if state in allowed]
    chosen: list[PairState] = []
    for name in names:
        state = next((state for state in allowed if state.value == name), None)
        if state is None:
            raise InvalidInput(
                f"'state' is one of {', '.join(state.value for state in allowed)}, not {name!r}",
                details={"field": "state", "value": name},
            )
        if state not in chosen:
            chosen.append(state)
    return chosen


def _event_summary(event: Event, pairs: Sequence[EventPair], states: Sequence[PairState]) -> dict[str, Any]:
    counts = Counter(pair.state.value for pair in pairs)
    return {
        "event_id": event.id,
        "event_name": event.name,
        "event_date": event.event_date or "",
        "plan_id": event.plan_id or "",
        "planned_at": event.planned_at or "",
        "scope": event.scope,
        "states_exported": [state.value for state in states],
        "introductions": len(pairs),
        **{f"pairs_{state.value}": counts.get(state.value, 0) for state in PairState if state in states},
    }


# -- the plan as a file ------------------------------------------------------------------------


@staff.get("/events/<int:event_id>/export.<file_format>")
def event_export(event_id: int, file_format: str) -> ResponseReturnValue:
    """The event's plan as CSV or XLSX: event id and name and plan id in every row."""
    if file_format not in FORMATS:
        raise NotFound(
            f"An event's plan exports as {' or '.join(FORMATS)}, not {file_format!r}", details={"format": file_format}
        )
    event = event_store().get(event_id)
    states = chosen_states(request.args.getlist("state"), list(PairState))
    pairs = _pairs(event_id, states)
    catalogue = staff_matcher().catalogue
    needs = catalogue.by_ids(Kind.NEEDS, {pair.need_id for pair in pairs})
    projects = catalogue.by_ids(Kind.PROJECTS, {pair.project_id for pair in pairs})
    rows = event_plan_rows(event.id, event.name, event.plan_id, pairs, needs, projects)
    body = table_bytes(event_plan_sheets(rows, _event_summary(event, pairs, states)), file_format)
    log.info("Exported event %d's plan as %s: %d rows for %s", event.id, file_format, len(rows), author())
    return Response(
        body,
        mimetype=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}-plan.{file_format}"'},
    )


# -- the printable pack ------------------------------------------------------------------------


@staff.get("/events/<int:event_id>/pack")
def event_pack(event_id: int) -> ResponseReturnValue:
    """A cover page, then one page per introduction and recipient, in the recipient's language."""
    event = event_store().get(event_id)
    states = chosen_states(request.args.getlist("state"), SHOWN_STATES)
    pairs = _pairs(event_id, states)
    pack = packs.build_pack(staff_matcher(), pairs)
    return render_template(
        "staff/pack.html",
        section="events",
        event=event,
        pack=pack,
        states=[state.value for state in states],
        all_states=[state.value for state in SHOWN_STATES],
        detail_labels=DETAIL_LABELS,
        band_words=BAND_WORDS,
        needs_kind=Kind.NEEDS,
    )


# -- outcomes from a spreadsheet ---------------------------------------------------------------


def _read_upload(upload: Any, encoding: str) -> tuple[str, Table]:
    """The uploaded file's name and rows (read by the same readers as ``matcher outcomes import``)."""
    name = Path(upload.filename or "").name
    suffix = Path(name).suffix.lower()
    if not name:
        raise InvalidInput("Choose a CSV or XLSX file of outcomes", details={"field": "file"})
    if suffix not in IMPORT_SUFFIXES:
        raise InvalidInput(
            f"{name}: outcomes are imported from a .csv or .xlsx file, not {suffix or 'a file without a suffix'}",
            details={"field": "file", "file": name},
        )
    with tempfile.TemporaryDirectory(prefix="outcomes-") as folder:
        path = Path(folder) / (secure_filename(name) or f"outcomes{suffix}")
        if path.suffix.lower() != suffix:
            path = path.with_suffix(suffix)
        upload.save(path)
        try:
            table = read_table(path, encoding)
        except ValidationFailed as error:  # name the file as the person knows it, not the temporary copy
            raise ValidationFailed(
                [Problem(name, p.row, p.field, p.code, p.message.replace(str(path), name)) for p in error.problems]
            ) from None
    return name, table


def _with_plan(table: Table, plan_id: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows with the event's plan id where a row gives none."""
    rows = []
    for row in table.rows:
        values = dict(row.values)
        if values.get("plan_id") in (None, ""):
            values["plan_id"] = plan_id
        rows.append((row.number, values))
    return rows


def _import_form(**context: Any) -> str:
    return render_template(
        "staff/outcomes_import.html",
        section="events",
        events=event_store().list(),
        encodings=IMPORT_ENCODINGS,
        columns=TEMPLATE_COLUMNS,
        statuses=[status.value for status in OutcomeStatus],
        **context,
    )


@staff.get("/outcomes/import")
def outcomes_import_form() -> ResponseReturnValue:
    return _import_form(chosen_event=request.args.get("event_id", ""), problems=None)


@staff.post("/outcomes/import")
def outcomes_import() -> ResponseReturnValue:
    """Record every outcome of the file, or none: a refused file's problems are listed row by row."""
    chosen_event = request.form.get("event_id", "").strip()
    encoding = request.form.get("encoding", "utf-8")
    try:
        if encoding not in IMPORT_ENCODINGS:
            raise InvalidInput(f"Unknown text encoding {encoding!r}", details={"field": "encoding"})
        plan_id = None
        if chosen_event:
            if not chosen_event.isdigit():
                raise InvalidInput(f"No event {chosen_event!r}", details={"field": "event_id"})
            event = event_store().get(int(chosen_event))
            if not event.plan_id:
                raise InvalidInput(
                    f"Event {event.id} ({event.name}) has no plan yet, so its plan id cannot be attached",
                    details={"field": "event_id"},
                )
            plan_id = event.plan_id
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput("Choose a CSV or XLSX file of outcomes", details={"field": "file"})
        name, table = _read_upload(upload, encoding)
        rows = _with_plan(table, plan_id) if plan_id else [(row.number, row.values) for row in table.rows]
        stored = staff_matcher().outcomes.record_many(rows, name, author=author())
    except ValidationFailed as error:
        count = len(error.problems)
        flash(translate("The file has {count} problem(s); nothing was recorded.").format(count=count), "error")
        return _import_form(chosen_event=chosen_event, problems=error.problems, encoding=encoding), 422
    except (InvalidInput, NotFound) as error:
        flash(error.message, "error")
        return _import_form(chosen_event=chosen_event, problems=None, encoding=encoding), 422
    statuses = Counter(outcome.status.value for outcome in stored)
    described = ", ".join(f"{count} {translate(status)}" for status, count in sorted(statuses.items()))
    message = translate("Recorded {count} outcomes from {file} ({statuses}).").format(
        count=len(stored), file=name, statuses=described
    )
    if plan_id:
        message += " " + translate("Plan id {plan_id} attached where a row had none.").format(plan_id=plan_id)
    flash(message, "success")
    log.info("Imported %d outcomes from %s for %s", len(stored), name, author())
    return redirect(url_for("staff.outcomes_import_form", event_id=chosen_event or None))


def _template_example() -> dict[str, Any]:
    """The template's example row: the chosen event's first pair, else sample ids."""
    example: dict[str, Any] = {
        "project_id": "P001",
        "need_id": "N001",
        "status": "meeting",
        "agreement_type": "",
        "decline_reason": "",
        "note": "First meeting at the event; a second one is planned",
        "score": "",
        "plan_id": "",
        "recorded_at": "",
    }
    chosen = request.args.get("event_id", "")
    if chosen.isdigit():
        event = event_store().get(int(chosen))
        pairs = _pairs(event.id, SHOWN_STATES)
        if pairs:
            example.update(project_id=pairs[0].project_id, need_id=pairs[0].need_id)
        example["plan_id"] = event.plan_id or ""
    return example


@staff.get("/outcomes/template.<file_format>")
def outcomes_template(file_format: str) -> ResponseReturnValue:
    """A blank outcomes file: the header and one example row."""
    if file_format not in FORMATS:
        raise NotFound(
            f"The outcomes template is a {' or '.join(FORMATS)} file, not {file_format!r}",
            details={"format": file_format},
        )
    choices = {
        "status": [status.value for status in OutcomeStatus],
        "agreement_type": [kind.value for kind in AgreementType],
        "decline_reason": [reason.value for reason in DeclineReason],
    }
    body = table_bytes([Sheet("outcomes", TEMPLATE_COLUMNS, [_template_example()], choices)], file_format)
    return Response(
        body,
        mimetype=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="outcomes-template.{file_format}"'},
    )


texts.add(
    {
        # the pack's furniture
        "Event pack": "活动资料包",
        "Print": "打印",
        "Print the pack, or save it as PDF, from this button or the browser's print command.": (
            "点击此按钮或使用浏览器的打印命令打印资料包，或另存为 PDF。"
        ),
        "Pairs shown": "显示的配对",
        "Show": "显示",
        "All but struck": "除已否决外全部",
        "Download CSV": "下载 CSV",
        "Download XLSX": "下载 XLSX",
        "Date": "日期",
        "Not dated": "未定日期",
        "Scope": "范围",
        "Projects": "项目",
        "Needs": "需求",
        "All": "全部",
        "Updated since": "更新于此日期之后",
        "Plan": "方案",
        "Not planned yet": "尚未生成方案",
        "Introductions": "对接",
        "Enterprises' needs": "企业需求",
        "Research projects": "科研项目",
        "Pages": "页数",
        "Pages in Chinese": "中文页数",
        "Pages in English": "英文页数",
        "Pairs whose record was deleted (no page)": "记录已删除的配对（无页面）",
        "No introductions to print: this event has no pair in these states.": "没有可打印的对接：该活动没有处于这些状态的配对。",
        "Introduction for": "对接资料：",
        "Enterprise need": "企业需求",
        "Research project": "科研项目",
        "Enterprise": "企业",
        "Institution": "单位",
        "Contact": "联系人",
        "Why this match": "匹配理由",
        "Shared terms": "共同关键词",
        "Related terms": "相关词语",
        "Your text": "您的文本",
        "Their text": "对方文本",
        "No shared or related terms; matched on overall meaning.": "无共同或相关词语，按整体语义匹配。",
        "Match strength": "匹配强度",
        "Strong match": "强匹配",
        "Possible match": "可能匹配",
        "Weak match": "弱匹配",
        "Added by staff (no score)": "工作人员手动添加（无评分）",
        "strength {value} of 1": "强度 {value}（满分 1）",
        "Suggested agenda": "建议议程",
        "Notes": "备注",
        "State": "状态",
        "proposed": "已推荐",
        "approved": "已批准",
        "locked": "已锁定",
        "struck": "已剔除",
        "Introduction {number} of {count}": "第 {number} 项对接，共 {count} 项",
        "Contents": "目录",
        "Pages per recipient, in the recipient's language": "每位参会方一页，使用其语言",
        "Industry": "行业",
        "Region": "地区",
        "Budget": "预算",
        "Deadline": "截止日期",
        "Technology readiness level": "技术成熟度",
        "IP status": "知识产权",
        "Fields": "领域",
        "Keywords": "关键词",
        packs.AGENDA_INTRODUCTIONS: "相互介绍：{need_party} 与 {project_party}",
        packs.AGENDA_NEED: "企业的问题：{need_title}",
        packs.AGENDA_NEED_BY: "企业的问题：{need_title}（期望完成时间 {deadline}）",
        packs.AGENDA_TECHNOLOGY: "技术介绍：{project_title}",
        packs.AGENDA_TECHNOLOGY_TRL: "技术介绍：{project_title}，技术成熟度 {trl} 级",
        packs.AGENDA_NEXT: "下一步：约定后续会谈，明确分工",
        packs.AGENDA_NEXT_IP: "下一步：知识产权（{ip_status}），约定后续会谈",
        packs.AGENDA_NEXT_BUDGET: "下一步：预算（{budget}），约定后续会谈",
        packs.AGENDA_NEXT_IP_BUDGET: "下一步：知识产权（{ip_status}）、预算（{budget}），约定后续会谈",
        # the outcomes import
        "Import outcomes": "导入对接结果",
        "Upload a CSV or XLSX file of outcomes. Every row is checked first: if any row has a problem, nothing is recorded and each problem is listed below by row and field.": (
            "上传对接结果的 CSV 或 XLSX 文件。系统先检查每一行：只要有一行有问题，就不记录任何内容，并在下方按行和字段列出每个问题。"
        ),
        "File": "文件",
        "Text encoding (CSV)": "文本编码（CSV）",
        "Event (attaches its plan id to rows without one)": "活动（为没有方案编号的行填入该活动的方案编号）",
        "No event": "不选择活动",
        "Import": "导入",
        "Blank template": "空白模板",
        "Columns": "列",
        "status is one of": "status 取值：",
        "Problems": "问题",
        "Rows are numbered as a spreadsheet shows them: the header is row 1.": "行号与电子表格一致：表头为第 1 行。",
        "Row": "行",
        "Problem": "问题",
        "The whole file": "整个文件",
        "The file has {count} problem(s); nothing was recorded.": "文件有 {count} 个问题，未记录任何内容。",
        "Recorded {count} outcomes from {file} ({statuses}).": "已从 {file} 记录 {count} 条对接结果（{statuses}）。",
        "Plan id {plan_id} attached where a row had none.": "已为没有方案编号的行填入方案编号 {plan_id}。",
        "contacted": "已联系",
        "meeting": "已会谈",
        "agreement": "已达成协议",
        "declined": "已拒绝",
        "Choose a CSV or XLSX file of outcomes": "请选择对接结果的 CSV 或 XLSX 文件",
    }
)
