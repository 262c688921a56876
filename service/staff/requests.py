"""Introduction requests from the public page, for staff: the list (newest first) and marking one
handled or spam (the author and time recorded)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from matcher.errors import InvalidInput, NotFound
from matcher.records import Kind
from service import intro_requests
from service.intro_requests import STATES
from service.staff import texts
from service.staff.blueprint import staff
from service.staff.context import author, staff_matcher

texts.add(
    {
        "Introduction requests": "对接申请",
        "Requests sent from the public page by people who want to be introduced to a project or a need.": (
            "公开页面上希望与某个项目或需求对接的访客提交的申请。"
        ),
        "All": "全部",
        "new": "新申请",
        "handled": "已处理",
        "spam": "垃圾信息",
        "Received": "收到时间",
        "State": "状态",
        "Record": "记录",
        "Requester": "申请人",
        "Organisation": "单位",
        "Contact details": "联系方式",
        "Message": "留言",
        "Answer in": "回复语言",
        "Action": "操作",
        "Mark handled": "标为已处理",
        "Mark spam": "标为垃圾信息",
        "Reopen": "重新打开",
        "handled by": "处理人",
        "No requests yet.": "暂无申请。",
        "The request is marked handled.": "该申请已标为已处理。",
        "The request is marked spam.": "该申请已标为垃圾信息。",
        "The request is marked new.": "该申请已重新打开。",
        "English": "英文",
        "no longer in the catalogue": "已不在目录中",
        "as the public sees it": "公开页面上的样子",
        "Chinese": "中文",
    }
)


@staff.get("/requests")
def requests() -> ResponseReturnValue:
    """Every request (or those of one state), newest first, with a form per request to mark it."""
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise InvalidInput(f"'state' must be one of {list(STATES)}, got {state!r}", details={"parameter": "state"})
    store = intro_requests.store()
    items = store.list(state)
    return render_template(
        "staff/requests.html",
        section="requests",
        items=items,
        titles=_titles(items),
        counts=store.counts(),
        state=state,
        states=STATES,
    )


def _titles(items: list[intro_requests.IntroRequest]) -> dict[tuple[str, str], str]:
    """Each requested record's title, so staff see what was asked for (a retired record has none)."""
    matcher = staff_matcher()
    titles: dict[tuple[str, str], str] = {}
    for item in items:
        key = (item.kind, item.record_id)
        if key not in titles:
            try:
                titles[key] = matcher.get(Kind(item.kind), item.record_id).title
            except (NotFound, ValueError):
                titles[key] = ""
    return titles


@staff.post("/requests/<int:request_id>")
def mark_request(request_id: int) -> ResponseReturnValue:
    """Mark one request handled, spam or new again; the signed-in person is its handler."""
    state = request.form.get("state", "")
    stored = intro_requests.store().mark(request_id, state, author())
    flash(f"The request is marked {stored.state}.", "success")
    back = request.form.get("shown", "")
    target = url_for("staff.requests", state=back) if back in STATES else url_for("staff.requests")
    return redirect(f"{target}#request-{request_id}")
