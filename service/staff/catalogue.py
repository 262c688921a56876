"""The catalogue in the staff console: browse and search, a record's page, edit, retire, upload, templates.

Reads go through the matcher's catalogue (:class:`matcher.storage.catalogue.Catalogue`); writes take
the same paths as the API and the CLI: an edit is checked as a PUT is (``_checked_records``), an
upload as ``matcher ingest`` checks a file (every problem by row and field, nothing stored unless
the whole file is valid). Each write takes the data folder's write lock; when another writer holds
it too long the page says so (503) and nothing changed.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from matcher.errors import Busy, InvalidInput, NotFound, Problem, ValidationFailed
from matcher.filters import FILTERS, Filters, FilterSpec, FilterType, query_filter_value
from matcher.ingest.headers import CHINESE_HEADERS
from matcher.ingest.readers import SUPPORTED_SUFFIXES, read_data
from matcher.ingest.templates import FORMATS, LANGUAGES, XLSX_MEDIA_TYPE, template_bytes
from matcher.ingest.validate import validate_table
from matcher.pipeline.request import Direction
from matcher.records import SCHEMAS, TRL_RANGE, FieldType, Kind, Record
from matcher.storage.catalogue import ListedRecord
from service.api import _checked_records
from service.staff import texts
from service.staff.blueprint import staff
from service.staff.context import author, staff_matcher
from service.staff.texts import translate

log = logging.getLogger(__name__)

KINDS = "any(projects,needs)"
PER_PAGE = 25
# A filter whose field takes at most this many values is a drop-down; beyond it, a text box with suggestions.
DROP_DOWN_LIMIT = 40
# A search by meaning ranks this many records at most (the matcher's best first).
MEANING_RESULTS = 100
ENCODINGS = {"utf-8": "UTF-8", "gb18030": "GB18030 (GBK)"}

LABELS = {
    "id": "ID",
    "title": "Title",
    "abstract": "Abstract",
    "description": "Description",
    "institution": "Institution",
    "enterprise": "Enterprise",
    "contact": "Contact",
    "fields": "Fields",
    "industry": "Industry",
    "keywords": "Keywords",
    "trl": "TRL",
    "ip_status": "IP status",
    "language": "Language",
    "url": "URL",
    "updated": "Updated",
    "region": "Region",
    "budget": "Budget",
    "deadline": "Deadline",
    "metadata": "Metadata",
    "field": "Field",
    "trl_min": "TRL at least",
    "trl_max": "TRL at most",
    "deadline_from": "Deadline on or after",
}


# -- browsing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterBox:
    """One filter of the browse form: its name, label, current value and, when the vocabulary is small, its options."""

    name: str
    label: str
    value: str
    options: list[tuple[str, str]]  # (value, label)
    drop_down: bool
    date: bool = False  # a date bound (deadline on or after): a date picker


def filter_names(kind: Kind) -> list[tuple[str, FilterSpec]]:
    """The kind's filters, one per field and type (``field`` and ``industry`` filter the same field)."""
    seen: set[tuple[str, FilterType]] = set()
    names = []
    for name, spec in FILTERS[kind].items():
        if (spec.field, spec.type) not in seen:
            seen.add((spec.field, spec.type))
            names.append((name, spec))
    return names


def _kind_argument() -> Kind:
    raw = request.args.get("kind", Kind.PROJECTS.value)
    try:
        return Kind(raw)
    except ValueError:
        raise InvalidInput(
            f"'kind' must be projects or needs, got {raw!r}", details={"parameter": "kind", "value": raw}
        ) from None


def _filter_boxes(kind: Kind) -> tuple[list[FilterBox], dict[str, Any]]:
    """The filter boxes with the request's values, and those values as raw filters for :meth:`Filters.parse`."""
    catalogue = staff_matcher().catalogue
    boxes: list[FilterBox] = []
    chosen: dict[str, Any] = {}
    for name, spec in filter_names(kind):
        value = request.args.get(name, "").strip()
        if value:
            chosen[name] = query_filter_value(name, [value])
        if spec.takes_date:
            boxes.append(FilterBox(name, LABELS.get(name, name), value, [], False, date=True))
            continue
        if spec.takes_integer:
            low, high = TRL_RANGE
            options = [(str(level), str(level)) for level in range(low, high + 1)]
        else:
            options = [(found, f"{found} ({count})") for found, count in catalogue.values_of(kind, spec.field)]
        boxes.append(FilterBox(name, LABELS.get(name, name), value, options, len(options) <= DROP_DOWN_LIMIT))
    return boxes, chosen


MAX_PAGE = 1_000_000_000


def _page_number() -> int:
    raw = request.args.get("page", "1")
    try:
        page = max(int(raw), 1)
    except ValueError:
        raise InvalidInput(
            f"'page' must be a whole number, got {raw!r}", details={"parameter": "page", "value": raw}
        ) from None
    if page > MAX_PAGE:  # its offset would overflow SQLite's integers
        raise InvalidInput(f"'page' is at most {MAX_PAGE}, got {raw}", details={"parameter": "page", "value": raw})
    return page


def _by_meaning(kind: Kind, text: str, raw_filters: dict[str, Any]) -> list[tuple[str, float | None]]:
    """The ids of the records of ``kind`` nearest ``text`` in meaning (the matcher's ranking), with their strength."""
    matcher = staff_matcher()
    direction = Direction.NEED_TO_PROJECTS if kind is Kind.PROJECTS else Direction.PROJECT_TO_NEEDS
    top_k = min(MEANING_RESULTS, matcher.settings.max_top_k)
    result = matcher.match(
        matcher.request(direction=direction.value, text=text, top_k=top_k, filters=raw_filters, explain=False)
    )
    return [(match.record.id, match.strength) for match in result.matches]


def _entries(kind: Kind, record_ids: list[str]) -> list[ListedRecord]:
    """The listed records of these ids, in their order (one retired meanwhile is left out)."""
    found = []
    for record_id in record_ids:
        try:
            found.append(staff_matcher().catalogue.entry(kind, record_id))
        except NotFound:
            continue
    return found


@staff.get("/catalogue")
def catalogue() -> ResponseReturnValue:
    """Projects or needs in a table: filters, a search by words (id, title, body) or by meaning, pages."""
    kind = _kind_argument()
    boxes, raw_filters = _filter_boxes(kind)
    filters = Filters.parse(kind, raw_filters)
    text = request.args.get("q", "").strip()
    mode = "meaning" if request.args.get("mode") == "meaning" and text else "words"
    newest_first = request.args.get("sort") == "updated"
    page = _page_number()
    store = staff_matcher().catalogue
    strengths: dict[str, float | None] = {}
    if mode == "meaning":
        ranked = _by_meaning(kind, text, raw_filters)
        total = len(ranked)
        rows = _entries(kind, [record_id for record_id, _ in ranked[(page - 1) * PER_PAGE : page * PER_PAGE]])
        strengths = dict(ranked)
    else:
        listed = store.search(kind, filters, text, PER_PAGE, (page - 1) * PER_PAGE, newest_first)
        total, rows = listed.total, listed.records
    pages = max(math.ceil(total / PER_PAGE), 1)
    kept = {key: value for key, value in request.args.items() if key not in ("page", "lang") and value}

    def page_url(number: int) -> str:
        return url_for("staff.catalogue") + "?" + urlencode({**kept, "kind": kind.value, "page": number})

    return render_template(
        "staff/catalogue.html",
        section="catalogue",
        kind=kind,
        kinds=list(Kind),
        counts={each: store.count(each) for each in Kind},
        boxes=boxes,
        text=text,
        mode=mode,
        newest_first=newest_first,
        rows=rows,
        strengths=strengths,
        total=total,
        page=page,
        pages=pages,
        first=(page - 1) * PER_PAGE + 1 if rows else 0,
        last=(page - 1) * PER_PAGE + len(rows),
        previous_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
        filtered=bool(filters) or bool(text),
    )


# -- one record --------------------------------------------------------------------------


def display_value(value: Any) -> str:
    """A field's value as the record page shows it: a list joined by '; '."""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return "" if value is None else str(value)


def form_values(record: Record) -> dict[str, str]:
    """A stored record as the edit form's texts (lists joined by '; ', metadata as JSON)."""
    values = {"title": record.title, record.kind.body_field: record.body}
    values.update({name: display_value(value) for name, value in record.attributes.items()})
    values["metadata"] = json.dumps(record.metadata, ensure_ascii=False, indent=2) if record.metadata else ""
    return values


@staff.get(f"/catalogue/<{KINDS}:kind>/<record_id>")
def catalogue_record(kind: str, record_id: str) -> ResponseReturnValue:
    """Every field of one record (the private ones too: this is staff's), its metadata and stored times."""
    entry = staff_matcher().catalogue.entry(Kind(kind), record_id)
    return render_template(
        "staff/catalogue_record.html",
        section="catalogue",
        kind=Kind(kind),
        entry=entry,
        record=entry.record,
        schema=SCHEMAS[Kind(kind)],
        values={**form_values(entry.record), "id": entry.record.id},
        labels=LABELS,
        display=display_value,
    )


def _record_from_form(kind: Kind, record_id: str, form: Any) -> tuple[dict[str, Any], list[Problem]]:
    """The record a form describes, as a PUT body would (blank fields left out), and what the form
    itself gets wrong (metadata that is not a JSON object)."""
    source = f"edit {kind.value}/{record_id}"
    record: dict[str, Any] = {"id": record_id}
    problems: list[Problem] = []
    for spec in SCHEMAS[kind]:
        if spec.name == "id":
            continue
        raw = str(form.get(spec.name, ""))
        if not raw.strip():
            if spec.required:
                record[spec.name] = raw  # the catalogue's validation names it empty
            continue
        if spec.type is FieldType.TRL and raw.strip().isdigit():
            record[spec.name] = int(raw.strip())
        else:
            record[spec.name] = raw
    metadata = str(form.get("metadata", "")).strip()
    if metadata:
        try:
            parsed = json.loads(metadata)
        except json.JSONDecodeError as error:
            parsed = None
            problems.append(Problem(source, 1, "metadata", "invalid_json", f"not valid JSON: {error.msg}"))
        if parsed is not None and not isinstance(parsed, dict):
            problems.append(Problem(source, 1, "metadata", "not_an_object", 'must be a JSON object: {"key": "value"}'))
        elif isinstance(parsed, dict):
            record["metadata"] = parsed
    return record, problems


def problems_by_field(problems: list[Problem], fields: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Problems under the form field they concern (``fields.0`` is the field ``fields``), and the rest."""
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for problem in problems:
        name = (problem.field or "").split(".")[0]
        if name in fields:
            by_field.setdefault(name, []).append(problem.message)
        else:
            other.append(f"{problem.field}: {problem.message}" if problem.field else problem.message)
    return by_field, other


def _edit_page(
    kind: Kind,
    record: Record,
    values: dict[str, str],
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    version: str | None = None,
) -> tuple[str, int]:
    page = render_template(
        "staff/catalogue_edit.html",
        section="catalogue",
        kind=kind,
        record=record,
        schema=[spec for spec in SCHEMAS[kind] if spec.name != "id"],
        values=values,
        errors=errors or {},
        general=general or [],
        version=version or record.content_hash,
        long_fields={kind.body_field, "metadata"},
        labels=LABELS,
    )
    return page, status


@staff.get(f"/catalogue/<{KINDS}:kind>/<record_id>/edit")
def catalogue_edit(kind: str, record_id: str) -> ResponseReturnValue:
    record = staff_matcher().get(Kind(kind), record_id)
    return _edit_page(Kind(kind), record, form_values(record))


@staff.post(f"/catalogue/<{KINDS}:kind>/<record_id>/edit")
def catalogue_save(kind: str, record_id: str) -> ResponseReturnValue:
    """Save an edit through the API's PUT checks; problems are shown under their fields (422)."""
    side = Kind(kind)
    matcher = staff_matcher()
    stored = matcher.get(side, record_id)
    values = {name: str(value) for name, value in request.form.items() if name not in ("csrf_token", "version")}
    if request.form.get("version") != stored.content_hash:
        flash("This record was changed by someone else since you opened it. Check it and save again.", "error")
        return _edit_page(side, stored, values, 409)
    body, problems = _record_from_form(side, record_id, request.form)
    fields = {spec.name for spec in SCHEMAS[side]} | {"metadata"}
    if problems:
        errors, general = problems_by_field(problems, fields)
        return _edit_page(side, stored, values, 422, errors, general)
    source = f"staff edit {side.value}/{record_id}"
    try:
        records = _checked_records(side, [body], source)
        report = matcher.ingest_records(side, records, source)
    except ValidationFailed as failed:
        errors, general = problems_by_field(failed.problems, fields)
        flash("Nothing was saved: correct the fields marked below.", "error")
        return _edit_page(side, stored, values, 422, errors, general)
    except Busy as busy:
        flash(_busy_message(busy), "error")
        return _edit_page(side, stored, values, 503)
    log.info("%s edited %s %s: %s", author(), side.value, record_id, report)
    flash("Saved." if report.updated else "Nothing changed: the record already held these values.", "success")
    return redirect(url_for("staff.catalogue_record", kind=side.value, record_id=record_id))


def _busy_message(busy: Busy) -> str:
    return translate(
        "Another change to the catalogue is under way; nothing was changed. Try again in {seconds} s."
    ).format(seconds=busy.retry_after)


@staff.get(f"/catalogue/<{KINDS}:kind>/<record_id>/retire")
def catalogue_retire(kind: str, record_id: str) -> ResponseReturnValue:
    """A confirmation form: retiring takes the record out of the catalogue and its indexes."""
    record = staff_matcher().get(Kind(kind), record_id)
    return render_template("staff/catalogue_retire.html", section="catalogue", kind=Kind(kind), record=record)


@staff.post(f"/catalogue/<{KINDS}:kind>/<record_id>/retire")
def catalogue_retire_confirmed(kind: str, record_id: str) -> ResponseReturnValue:
    side = Kind(kind)
    matcher = staff_matcher()
    record = matcher.get(side, record_id)
    try:
        matcher.delete(side, [record_id])
    except Busy as busy:
        flash(_busy_message(busy), "error")
        page = render_template("staff/catalogue_retire.html", section="catalogue", kind=side, record=record)
        return page, 503
    log.info("%s retired %s %s", author(), side.value, record_id)
    message = translate("{kind} {id} was retired from the catalogue.").format(
        kind=translate(side.singular.capitalize()), id=record_id
    )
    flash(message, "success")
    return redirect(url_for("staff.catalogue", kind=side.value))


# -- upload and templates ----------------------------------------------------------------


def _upload_page(
    status: int = 200, problems: list[Problem] | None = None, kind: Kind | None = None, **extra: Any
) -> tuple[str, int]:
    asked = request.args.get("kind")
    page = render_template(
        "staff/catalogue_upload.html",
        section="catalogue",
        kinds=list(Kind),
        kind=kind or (Kind(asked) if asked in ("projects", "needs") else Kind.PROJECTS),
        problems=problems or [],
        encodings=ENCODINGS,
        suffixes=SUPPORTED_SUFFIXES,
        formats=FORMATS,
        languages=LANGUAGES,
        labels=LABELS,
        **extra,
    )
    return page, status


@staff.get("/catalogue/upload")
def catalogue_upload() -> ResponseReturnValue:
    return _upload_page()


@staff.post("/catalogue/upload")
def catalogue_upload_file() -> ResponseReturnValue:
    """A spreadsheet checked whole as ``matcher ingest`` checks it: on any problem the report, row by row,
    and nothing stored; else what was added, updated or unchanged."""
    raw_kind = request.form.get("kind", "")
    if raw_kind not in ("projects", "needs"):
        flash("Choose whether the file holds projects or needs.", "error")
        return _upload_page(422)
    kind = Kind(raw_kind)
    encoding = request.form.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        encoding = "utf-8"
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a file to upload.", "error")
        return _upload_page(422, kind=kind)
    name = Path(upload.filename.replace("\\", "/")).name or "upload"
    matcher = staff_matcher()
    try:
        table = read_data(upload.read(), name, encoding)
        records = validate_table(table, kind, matcher.settings.max_text_chars)
        report = matcher.ingest_records(kind, records, name)
    except ValidationFailed as failed:
        flash(
            translate("{name}: {count} problem(s); nothing was stored.").format(name=name, count=len(failed.problems)),
            "error",
        )
        return _upload_page(422, failed.problems, kind=kind, file_name=name, encoding=encoding)
    except Busy as busy:
        flash(_busy_message(busy), "error")
        return _upload_page(503, kind=kind, encoding=encoding)
    log.info("%s uploaded %s (%s): %s", author(), name, kind.value, report)
    flash(
        translate("{name}: {created} added, {updated} updated, {unchanged} unchanged.").format(
            name=name, created=report.created, updated=report.updated, unchanged=report.unchanged
        ),
        "success",
    )
    return redirect(url_for("staff.catalogue", kind=kind.value, sort="updated"))


@staff.get(f"/catalogue/template/<{KINDS}:kind>.<any(csv,xlsx):file_format>")
def catalogue_template(kind: str, file_format: str) -> ResponseReturnValue:
    """A blank template of ``kind`` with one example row; ``?headers=zh`` for Chinese headers."""
    language = request.args.get("headers", "en")
    if language not in LANGUAGES:
        raise InvalidInput(
            f"'headers' must be en or zh, got {language!r}", details={"parameter": "headers", "value": language}
        )
    media = "text/csv; charset=utf-8" if file_format == "csv" else XLSX_MEDIA_TYPE
    return Response(
        template_bytes(Kind(kind), file_format, language),
        mimetype=media,
        headers={"Content-Disposition": f'attachment; filename="{kind}-template-{language}.{file_format}"'},
    )


texts.add(
    {
        **{LABELS[name]: header for name, header in CHINESE_HEADERS[Kind.PROJECTS].items()},
        **{LABELS[name]: header for name, header in CHINESE_HEADERS[Kind.NEEDS].items()},
        "ID": "编号",
        "Metadata": "其他信息",
        "Field": "领域",
        "TRL": "成熟度",
        "TRL at least": "成熟度不低于",
        "TRL at most": "成熟度不高于",
        "Deadline on or after": "截止日期不早于",
        "projects": "项目",
        "needs": "需求",
        "project": "项目",
        "need": "需求",
        "Projects": "项目",
        "Project": "项目",
        "Need": "需求",
        "Needs": "需求",
        "Search": "搜索",
        "Search by": "搜索方式",
        "words": "关键字",
        "meaning": "语义",
        "Words in the id, title or text": "编号、标题或正文中的词",
        "Filter": "筛选",
        "Clear": "清除",
        "any": "全部",
        "Sort": "排序",
        "by id": "按编号",
        "last changed first": "最近修改在前",
        "Showing {first}–{last} of {total}": "显示第 {first}–{last} 条，共 {total} 条",
        "{count} in the catalogue": "目录中共 {count} 条",
        "No record matches.": "没有符合条件的记录。",
        "Previous": "上一页",
        "Next": "下一页",
        "Page {page} of {pages}": "第 {page} 页，共 {pages} 页",
        "Strength": "匹配强度",
        "Institution or enterprise": "单位或企业",
        "Upload a spreadsheet": "上传表格",
        "Blank templates": "空白模板",
        "Edit": "编辑",
        "Retire": "下架",
        "Record": "记录",
        "Stored": "入库时间",
        "Last changed": "最近修改",
        "Index key": "索引键",
        "As the API shows it (JSON)": "API 中的记录（JSON）",
        "Back to the catalogue": "返回目录",
        "No metadata.": "无其他信息。",
        "Key": "键",
        "Value": "值",
        "Edit {kind} {id}": "编辑{kind} {id}",
        "Fields marked * are required.": "带 * 的字段为必填。",
        "Separate items with ';'.": "多项之间用“；”分隔。",
        "A whole number from 1 to 9.": "1 到 9 的整数。",
        "YYYY-MM-DD": "YYYY-MM-DD",
        "en or zh; left blank, it is detected from the text.": "en 或 zh；留空则自动识别。",
        'A JSON object of other columns, e.g. {"funding": "city fund"}.': '其他列，JSON 对象，例如 {"funding": "city fund"}。',
        "Saved.": "已保存。",
        "Nothing changed: the record already held these values.": "没有改动：记录已是这些内容。",
        "Nothing was saved: correct the fields marked below.": "未保存：请更正下面标出的字段。",
        "This record was changed by someone else since you opened it. Check it and save again.": (
            "您打开此记录后，已有他人修改。请核对后再次保存。"
        ),
        "Another change to the catalogue is under way; nothing was changed. Try again in {seconds} s.": (
            "目录正在进行其他修改，本次未作任何改动。请 {seconds} 秒后重试。"
        ),
        "Retire {kind} {id}?": "下架{kind} {id}？",
        "Retiring takes the record out of the catalogue and its indexes: it is no longer matched, and the API answers 404 for it. Outcomes recorded for it are kept. To bring it back, upload it again.": (
            "下架后，该记录将从目录和索引中移除：不再参与匹配，API 对其返回 404。已记录的对接结果会保留。如需恢复，请重新上传。"
        ),
        "Retire it": "确认下架",
        "{kind} {id} was retired from the catalogue.": "{kind} {id} 已从目录下架。",
        "The file holds": "文件内容",
        "File": "文件",
        "Text encoding (CSV, JSON)": "文本编码（CSV、JSON）",
        "Upload": "上传",
        "CSV, XLSX, JSON or JSONL. The whole file is checked first: if any row has a problem, nothing is stored and every problem is listed. A row whose id is already stored updates that record.": (
            "支持 CSV、XLSX、JSON 或 JSONL。先检查整个文件：只要有一行有问题，就不保存任何内容，并列出所有问题。编号已存在的行会更新该记录。"
        ),
        "Headers may be English (the field names) or Chinese (编号, 标题, 摘要 ...).": (
            "表头可以是英文（字段名）或中文（编号、标题、摘要……）。"
        ),
        "Choose whether the file holds projects or needs.": "请选择文件内容是项目还是需求。",
        "Choose a file to upload.": "请选择要上传的文件。",
        "{name}: {count} problem(s); nothing was stored.": "{name}：发现 {count} 个问题，未保存任何内容。",
        "{name}: {created} added, {updated} updated, {unchanged} unchanged.": (
            "{name}：新增 {created} 条，更新 {updated} 条，未变 {unchanged} 条。"
        ),
        "Problems in {name}": "{name} 中的问题",
        "Row": "行",
        "Field name": "字段",
        "Problem": "问题",
        "Each template has every field as a column and one example row; the XLSX one also describes each field on a second sheet.": (
            "每个模板包含所有字段列和一行示例；XLSX 模板的第二个工作表说明每个字段。"
        ),
        "English headers": "英文表头",
        "Chinese headers": "中文表头",
        "required": "必填",
    }
)
