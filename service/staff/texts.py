"""The console's two languages: English text is the key, each view module adds its Chinese with :func:`add`.

Templates write ``{{ _("Events") }}``; a text with no Chinese yet shows in English. The language is
the visitor's choice (``?lang=zh``, kept in the session), else their browser's.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import request, session

LANGUAGES = ("en", "zh")
CHINESE: dict[str, str] = {}


def add(entries: Mapping[str, str]) -> None:
    """Chinese for English texts of the console. One English text has one Chinese across every page
    (a state called 已剔除 on one page and 已否决 on the next would confuse): a clash is an error."""
    clashes = {
        text: (CHINESE[text], chinese) for text, chinese in entries.items() if CHINESE.get(text, chinese) != chinese
    }
    if clashes:
        raise ValueError(f"Console texts translated twice, differently: {clashes}")
    CHINESE.update(entries)


def language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-TW"]) if request else None
    return "zh" if best and best.startswith("zh") else "en"


def choose_language() -> None:
    """Keep ``?lang=`` of this request for the session."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted


def translate(text: str, language_code: str | None = None) -> str:
    if (language_code or language()) == "zh":
        return CHINESE.get(text, text)
    return text


add(
    {
        "techmatch staff console": "techmatch 工作台",
        "Staff console": "工作台",
        "Events": "活动",
        "Catalogue": "目录",
        "Dashboard": "看板",
        "Requests": "对接申请",
        "Public page": "公开页面",
        "Plan a matchmaking event, review its pairs, print the pack, record outcomes.": (
            "策划对接活动，审核配对，打印会谈材料，记录对接结果。"
        ),
        "Browse, edit and upload projects and needs; blank templates.": "浏览、编辑和上传项目与需求；空白模板。",
        "The introductions funnel, market pull and supply gaps.": "对接漏斗、市场需求与供给缺口。",
        "Introductions asked for on the public page.": "公开页面上提交的对接申请。",
        "Record outcomes from a spreadsheet, all or nothing.": "从表格导入对接结果，全部成功才记录。",
        "Open the event": "打开活动",
        "Find ids in the catalogue": "在目录中查找编号",
        "Sign in": "登录",
        "Sign out": "退出",
        "Signed in as": "已登录：",
        "API key": "API 密钥",
        "or": "或",
        "Name": "姓名",
        "Password": "密码",
        "Sign in to the staff console": "登录工作台",
        "Sign in with your staff API key, or with the name and password your administrator gave you.": (
            "请使用您的工作人员 API 密钥登录，或使用管理员为您设置的姓名和密码登录。"
        ),
        "That API key, or that name and password, is not valid.": "API 密钥或姓名、密码不正确。",
        "You are signed out.": "您已退出。",
        "Something went wrong": "出错了",
        "Back": "返回",
        "Save": "保存",
        "Cancel": "取消",
        "Language": "语言",
    }
)
