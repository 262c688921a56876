"""Who must not be introduced to whom: the same party on both sides, listed conflicts, and history.

A record's *party marks* are its id, its institution or enterprise, its contact's name and email,
and the email's domain (public mail services excepted), each normalised. A pair is a conflict
when both sides share a mark (same institution, same person, same mail domain), when a row of a
conflicts file names a mark of each side, or when the pair was introduced or declined before.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matcher.errors import Problem, ValidationFailed
from matcher.ingest.readers import Table, read_table, rows_from_objects
from matcher.records import Kind, Record

EMAIL = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)", re.UNICODE)
TITLES = re.compile(
    r"^(?:(?:prof|professor|dr|mr|mrs|ms|assoc|associate)\.?\s+)+|(?:教授|博士|研究员|工程师|老师|先生|女士)$", re.I
)
PUBLIC_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sohu.com",
        "aliyun.com",
        "139.com",
    }
)
PARTY_FIELD = {Kind.PROJECTS: "institution", Kind.NEEDS: "enterprise"}
CONFLICT_COLUMNS = ("project", "need")


def normalise(value: str) -> str:
    """Case, width and spacing folded, so "ACME  Ltd" and "acme ltd" are one party."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


MAIL_HOSTS = re.compile(r"^(?:www|mail|mails|email|webmail|smtp|mx|m|stu|student|staff)\.(?=[\w-]+\.[\w-]+)")
CONTACT_PARTS = re.compile(r"[,;/|、，；]")
PHONE = re.compile(r"[+(]?\d[\d\s()+-]{4,}\d")


def _domain(value: str) -> str:
    """A mail domain without a mail-host label: mail.dlut.edu.cn and dlut.edu.cn are one party."""
    return MAIL_HOSTS.sub("", normalise(value).lstrip("@"))


def _contact_names(contact: str) -> list[str]:
    """The person names in a contact text: emails, phone numbers and titles taken out."""
    text = EMAIL.sub(" ", contact).replace("<", " ").replace(">", " ")
    names = []
    for part in CONTACT_PARTS.split(PHONE.sub(" ", text)):
        name = TITLES.sub("", part.strip(" ()[]")).strip()
        if name and not any(character.isdigit() for character in name):
            names.append(name)
    return names


def party_marks(record: Record) -> set[str]:
    """The normalised marks by which ``record``'s people and organisation can be recognised."""
    marks = {f"id:{normalise(record.id)}"}
    party = record.attributes.get(PARTY_FIELD[record.kind])
    if isinstance(party, str) and party.strip():
        marks.add(f"name:{normalise(party)}")
    contact = record.attributes.get("contact")
    if isinstance(contact, str) and contact.strip():
        for match in EMAIL.finditer(contact):
            marks.add(f"email:{normalise(match.group(0))}")
            domain = _domain(match.group(1))
            if domain not in PUBLIC_MAIL:
                marks.add(f"domain:{domain}")
        marks.update(f"name:{normalise(name)}" for name in _contact_names(contact))
    return marks


def _cell_marks(value: str) -> set[str]:
    """What a conflicts-file cell may name: a record id, a name, an email or a mail domain."""
    text = normalise(value)
    if EMAIL.fullmatch(text):
        return {f"email:{text}"}
    marks = {f"id:{text}", f"name:{text}"}
    if re.fullmatch(r"@?[\w-]+(?:\.[\w-]+)+", text):
        marks.add(f"domain:{_domain(text)}")
    return marks


@dataclass(frozen=True)
class ConflictRule:
    """One row of a conflicts file: any project marked ``project`` with any need marked ``need``."""

    project: frozenset[str]
    need: frozenset[str]
    row: int


def rules_from_table(table: Table) -> list[ConflictRule]:
    """Validate a conflicts table: columns ``project`` and ``need``, each a name, id, email or domain."""
    if table.columns is None and not table.rows:
        return []  # an empty list of objects
    problems: list[Problem] = []
    columns = (
        table.columns if table.columns is not None else sorted({name for row in table.rows for name in row.values})
    )
    lowered = {normalise(name): name for name in columns}
    missing = [column for column in CONFLICT_COLUMNS if column not in lowered]
    if missing:
        raise ValidationFailed(
            [
                Problem(
                    table.source,
                    1,
                    column,
                    "missing_column",
                    f"a conflicts file needs the columns {list(CONFLICT_COLUMNS)}",
                )
                for column in missing
            ]
        )
    rules: list[ConflictRule] = []
    for row in table.rows:
        cells: dict[str, str] = {}
        for column in CONFLICT_COLUMNS:
            value = row.values.get(lowered[column])
            if not isinstance(value, str) or not value.strip():
                problems.append(
                    Problem(
                        table.source,
                        row.number,
                        column,
                        "missing_value",
                        "name a party: a record id, institution or enterprise, contact name, email or mail domain",
                    )
                )
            else:
                cells[column] = value
        if len(cells) == len(CONFLICT_COLUMNS):
            rules.append(
                ConflictRule(
                    frozenset(_cell_marks(cells["project"])), frozenset(_cell_marks(cells["need"])), row.number
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return rules


def read_conflicts(path: str | Path, encoding: str = "utf-8") -> list[ConflictRule]:
    """Conflict rules from a CSV, XLSX, JSON or JSONL file (all rows valid, or an error naming each bad one)."""
    return rules_from_table(read_table(path, encoding))


def rules_from_objects(items: Iterable[Mapping[str, Any]], source: str = "conflicts") -> list[ConflictRule]:
    """Conflict rules from parsed JSON objects such as an API body's ``conflicts`` list."""
    return rules_from_table(rows_from_objects(list(items), source))


@dataclass
class Exclusions:
    """The pairs left out of a plan, by need key, and how many pairs each reason removed."""

    by_need: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, need_key: int, project_key: int, reason: str) -> None:
        if project_key not in self.by_need[need_key]:
            self.by_need[need_key].add(project_key)
            self.reasons[reason] += 1

    def __contains__(self, pair: tuple[int, int]) -> bool:
        need_key, project_key = pair
        return project_key in self.by_need.get(need_key, ())


def _mark_index(records: Mapping[int, Record]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for key, record in records.items():
        for mark in party_marks(record):
            index[mark].append(key)
    return index


def find_exclusions(
    projects: Mapping[int, Record],
    needs: Mapping[int, Record],
    rules: Iterable[ConflictRule] = (),
    introduced: Iterable[tuple[str, str]] = (),
    declined: Iterable[tuple[str, str]] = (),
) -> Exclusions:
    """Every excluded (need, project) pair among ``projects`` and ``needs`` (by catalogue key).

    ``introduced`` and ``declined`` are ``(project_id, need_id)`` pairs from recorded outcomes.
    Found through an index of marks, so the cost grows with the conflicts, not with all pairs.
    """
    exclusions = Exclusions()
    project_marks, need_marks = _mark_index(projects), _mark_index(needs)
    for mark, need_keys in need_marks.items():
        if mark.startswith("id:"):  # an id is no party: a project and a need may share one by chance
            continue
        for project_key in project_marks.get(mark, ()):
            for need_key in need_keys:
                exclusions.add(need_key, project_key, "same_party")
    for rule in rules:
        rule_projects = {key for mark in rule.project for key in project_marks.get(mark, ())}
        rule_needs = {key for mark in rule.need for key in need_marks.get(mark, ())}
        for need_key in rule_needs:
            for project_key in rule_projects:
                exclusions.add(need_key, project_key, "conflicts_file")
    project_key_of = {record.id: key for key, record in projects.items()}
    need_key_of = {record.id: key for key, record in needs.items()}
    for pairs, reason in ((declined, "declined_not_relevant"), (introduced, "introduced_before")):
        for project_id, need_id in pairs:
            known_project, known_need = project_key_of.get(project_id), need_key_of.get(need_id)
            if known_project is not None and known_need is not None:
                exclusions.add(known_need, known_project, reason)
    return exclusions
