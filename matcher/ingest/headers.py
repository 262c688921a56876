"""Column headers of a spreadsheet, in English or Chinese, mapped to the field names of :mod:`matcher.records`.

Offices keep their sheets with Chinese headers (标题, 摘要, 单位, 成熟度 ...); each field has one
Chinese header that the blank templates use (:data:`CHINESE_HEADERS`) and a few more that people
write (:data:`CHINESE_ALIASES`). A header is compared without surrounding space, case, a trailing
``*`` (a required mark) or a bracketed note (``标题（必填）``, ``TRL (1-9)``).
"""

from __future__ import annotations

import re

from matcher.records import ALIASES, SCHEMAS, Kind

# The Chinese header of each field, as the templates write it. Both kinds share the common fields.
CHINESE_HEADERS: dict[Kind, dict[str, str]] = {
    Kind.PROJECTS: {
        "id": "编号",
        "title": "标题",
        "abstract": "摘要",
        "institution": "单位",
        "contact": "联系人",
        "fields": "领域",
        "keywords": "关键词",
        "trl": "成熟度",
        "ip_status": "知识产权",
        "language": "语言",
        "url": "链接",
        "updated": "更新日期",
    },
    Kind.NEEDS: {
        "id": "编号",
        "title": "标题",
        "description": "描述",
        "enterprise": "企业",
        "industry": "行业",
        "region": "地区",
        "budget": "预算",
        "deadline": "截止日期",
        "contact": "联系人",
        "language": "语言",
    },
}

# Other headers people write, by kind: a body or a field says it in more than one way, and 领域 /
# 行业 name a project's fields and a need's industry alike.
_COMMON = {
    "项目编号": "id",
    "需求编号": "id",
    "名称": "title",
    "题目": "title",
    "联系方式": "contact",
    "联系人及联系方式": "contact",
    "联系人/联系方式": "contact",
    "团队": "contact",
    "关键字": "keywords",
    "语种": "language",
}
CHINESE_ALIASES: dict[Kind, dict[str, str]] = {
    Kind.PROJECTS: {
        **_COMMON,
        "项目名称": "title",
        "成果名称": "title",
        "项目摘要": "abstract",
        "项目简介": "abstract",
        "成果简介": "abstract",
        "简介": "abstract",
        "机构": "institution",
        "单位/机构": "institution",
        "依托单位": "institution",
        "承担单位": "institution",
        "所属单位": "institution",
        "技术领域": "fields",
        "行业": "fields",
        "标签": "keywords",
        "技术成熟度": "trl",
        "知识产权状态": "ip_status",
        "专利": "ip_status",
        "专利情况": "ip_status",
        "网址": "url",
        "更新时间": "updated",
        "更新": "updated",
    },
    Kind.NEEDS: {
        **_COMMON,
        "需求名称": "title",
        "需求描述": "description",
        "需求内容": "description",
        "需求说明": "description",
        "企业名称": "enterprise",
        "公司": "enterprise",
        "单位": "enterprise",
        "所属行业": "industry",
        "领域": "industry",
        "所在地区": "region",
        "区域": "region",
        "预算金额": "budget",
        "经费": "budget",
        "截止时间": "deadline",
        "截止": "deadline",
    },
}

# A bracketed note at the end ("（必填）", "(1-9)") or a required mark ("*") is not part of the name.
_NOTE = re.compile(r"\s*(?:[(（][^()（）]*[)）]|\*|＊)\s*$")


def _bare(header: str) -> str:
    name = str(header).strip()
    while True:
        shorter = _NOTE.sub("", name)
        if shorter == name or not shorter:
            return name
        name = shorter


def _lookup(kind: Kind | None) -> dict[str, str]:
    names: dict[str, str] = {}
    kinds = [kind] if kind is not None else list(Kind)
    for each in kinds:
        names.update({header: field for field, header in CHINESE_HEADERS[each].items()})
        names.update(CHINESE_ALIASES[each])
    return names


_BY_KIND = {kind: _lookup(kind) for kind in Kind}
_ANY_KIND = {**_BY_KIND[Kind.NEEDS], **_BY_KIND[Kind.PROJECTS]}
_FIELDS = frozenset(spec.name for specs in SCHEMAS.values() for spec in specs)


def canonical_name(header: str, kind: Kind | None = None) -> str:
    """The field name a column header stands for (``"标题"`` → ``"title"``, ``"Team"`` → ``"contact"``).

    An unknown header comes back lower-cased with spaces as underscores: it is kept as metadata.
    Without ``kind``, a header that names different fields of the two kinds (领域) takes the project's.
    """
    name = _bare(header)
    chinese = (_BY_KIND[kind] if kind is not None else _ANY_KIND).get(name)
    if chinese is not None:
        return chinese
    key = name.lower().replace(" ", "_")
    if key not in ALIASES and key not in _FIELDS:  # an unknown header is kept whole, note and all
        key = str(header).strip().lower().replace(" ", "_")
    return ALIASES.get(key, key)


def header_of(kind: Kind, field: str, language: str = "en") -> str:
    """The header a template gives ``field``: its name, or its Chinese header (``language="zh"``)."""
    return CHINESE_HEADERS[kind][field] if language == "zh" else field
