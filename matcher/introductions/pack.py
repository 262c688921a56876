"""The content of a printable event pack: one page per introduction and recipient, in their language.

Each introduction gives two pages: one for the need's enterprise, in the need's language, and one
for the project's researcher, in the project's language (a record's ``language`` field, else
detected from its text). A page names both parties, why they were matched (the shared and related
terms and the pair of sentences that match best, each side's as its own text writes it), the
match strength in a band, and a suggested agenda drawn from the two records.

Texts are English templates (:data:`AGENDA_TEXTS`) with ``{name}`` places; whoever shows a page
translates the template into the page's language and fills the places with the records' values,
which stay as written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from matcher.explanation.explain import Explanation
from matcher.introductions.export import PlannedPair
from matcher.pipeline.explain import explain_pairs, record_language
from matcher.pipeline.reader import Reader
from matcher.records import Kind, Record
from matcher.strength.model import Band, StrengthModel, pair_kind

MAX_TERMS = 8  # shared terms shown on a page; related ones: the explanation's own limit

# The agenda's templates (English; translated where a page is shown).
AGENDA_INTRODUCTIONS = "Introductions: {need_party} and {project_party}"
AGENDA_NEED = "The enterprise's problem: {need_title}"
AGENDA_NEED_BY = "The enterprise's problem: {need_title} (wanted by {deadline})"
AGENDA_TECHNOLOGY = "The technology: {project_title}"
AGENDA_TECHNOLOGY_TRL = "The technology: {project_title}, at technology readiness level {trl}"
AGENDA_NEXT = "Next steps: a follow-up meeting, who does what"
AGENDA_NEXT_IP = "Next steps: intellectual property ({ip_status}), a follow-up meeting"
AGENDA_NEXT_BUDGET = "Next steps: budget ({budget}), a follow-up meeting"
AGENDA_NEXT_IP_BUDGET = "Next steps: intellectual property ({ip_status}), budget ({budget}), a follow-up meeting"
AGENDA_TEXTS = (
    AGENDA_INTRODUCTIONS,
    AGENDA_NEED,
    AGENDA_NEED_BY,
    AGENDA_TECHNOLOGY,
    AGENDA_TECHNOLOGY_TRL,
    AGENDA_NEXT,
    AGENDA_NEXT_IP,
    AGENDA_NEXT_BUDGET,
    AGENDA_NEXT_IP_BUDGET,
)


@dataclass(frozen=True)
class AgendaItem:
    """One point of a suggested agenda: a template of :data:`AGENDA_TEXTS` and the values of its places."""

    template: str
    values: dict[str, str] = field(default_factory=dict)

    def text(self, translated: str | None = None) -> str:
        """The point in words: the (translated) template with its places filled."""
        return (translated or self.template).format(**self.values)


@dataclass(frozen=True)
class Party:
    """One side of an introduction as a page shows it."""

    kind: Kind
    id: str
    title: str
    organisation: str  # the need's enterprise, the project's institution
    contact: str
    language: str
    details: dict[str, str]  # optional facts worth printing (budget, TRL, ...), by field name


@dataclass(frozen=True)
class TermPair:
    """A term of the explanation as the page's recipient writes it and as the other side does."""

    mine: str
    theirs: str


@dataclass(frozen=True)
class PackPage:
    """The page of one introduction for one recipient (``for_kind``: the need's or the project's side)."""

    for_kind: Kind
    language: str
    need: Party
    project: Party
    state: str
    strength: float | None
    band: str | None  # strong, possible or weak; None when the pair has no strength (added by hand)
    shared: list[TermPair]
    related: list[TermPair]
    evidence_mine: str | None
    evidence_theirs: str | None
    agenda: list[AgendaItem]

    @property
    def recipient(self) -> Party:
        return self.need if self.for_kind is Kind.NEEDS else self.project

    @property
    def other(self) -> Party:
        return self.project if self.for_kind is Kind.NEEDS else self.need


@dataclass(frozen=True)
class Pack:
    pages: list[PackPage]
    counts: dict[str, Any]


_NEED_DETAILS = ("industry", "region", "budget", "deadline")
_PROJECT_DETAILS = ("trl", "ip_status", "fields")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value if str(item).strip())
    return str(value).strip()


def party(record: Record) -> Party:
    """A record as one side of an introduction."""
    organisation = "enterprise" if record.kind is Kind.NEEDS else "institution"
    names = _NEED_DETAILS if record.kind is Kind.NEEDS else _PROJECT_DETAILS
    details = {name: _text(record.attributes.get(name)) for name in names}
    return Party(
        record.kind,
        record.id,
        record.title,
        _text(record.attributes.get(organisation)),
        _text(record.attributes.get("contact")),
        record_language(record),
        {name: value for name, value in details.items() if value},
    )


def agenda(need: Party, project: Party) -> list[AgendaItem]:
    """Four points from the pair: who meets, the need's problem, the technology (at its TRL), next steps."""
    items = [
        AgendaItem(
            AGENDA_INTRODUCTIONS,
            {"need_party": need.organisation or need.title, "project_party": project.organisation or project.title},
        )
    ]
    deadline = need.details.get("deadline")
    if deadline:
        items.append(AgendaItem(AGENDA_NEED_BY, {"need_title": need.title, "deadline": deadline}))
    else:
        items.append(AgendaItem(AGENDA_NEED, {"need_title": need.title}))
    trl = project.details.get("trl")
    if trl:
        items.append(AgendaItem(AGENDA_TECHNOLOGY_TRL, {"project_title": project.title, "trl": trl}))
    else:
        items.append(AgendaItem(AGENDA_TECHNOLOGY, {"project_title": project.title}))
    ip_status, budget = project.details.get("ip_status"), need.details.get("budget")
    if ip_status and budget:
        items.append(AgendaItem(AGENDA_NEXT_IP_BUDGET, {"ip_status": ip_status, "budget": budget}))
    elif ip_status:
        items.append(AgendaItem(AGENDA_NEXT_IP, {"ip_status": ip_status}))
    elif budget:
        items.append(AgendaItem(AGENDA_NEXT_BUDGET, {"budget": budget}))
    else:
        items.append(AgendaItem(AGENDA_NEXT))
    return items


def band_of(strength: float | None, need: Party, project: Party, model: StrengthModel) -> str | None:
    """The strength's band for this pair's kind (English, cross-language or Chinese)."""
    if strength is None:
        return None
    languages = (need.language, project.language)
    kind = pair_kind(need.language, project.language, multilingual="zh" in languages)
    band: Band = model.band(strength, kind)
    return band.value


def pages_of_pair(
    pair: PlannedPair, need: Record, project: Record, explanation: Explanation | None, model: StrengthModel
) -> tuple[PackPage, PackPage]:
    """The need's enterprise's page and the project's researcher's page of one introduction.

    ``explanation`` explains the project as a match for the need (the need is the query side).
    """
    need_side, project_side = party(need), party(project)
    band = band_of(pair.strength, need_side, project_side, model)
    plan = agenda(need_side, project_side)
    state = str(getattr(pair.state, "value", pair.state))
    shared = explanation.shared[:MAX_TERMS] if explanation else []
    related = explanation.related if explanation else []
    evidence = explanation.evidence if explanation else None

    def page(for_kind: Kind) -> PackPage:
        mine_first = for_kind is Kind.NEEDS
        return PackPage(
            for_kind,
            need_side.language if mine_first else project_side.language,
            need_side,
            project_side,
            state,
            pair.strength,
            band,
            [
                TermPair(t.query_term, t.match_term) if mine_first else TermPair(t.match_term, t.query_term)
                for t in shared
            ],
            [
                TermPair(t.query_term, t.match_term) if mine_first else TermPair(t.match_term, t.query_term)
                for t in related
            ],
            (evidence.query_text if mine_first else evidence.match_text) if evidence else None,
            (evidence.match_text if mine_first else evidence.query_text) if evidence else None,
            plan,
        )

    return page(Kind.NEEDS), page(Kind.PROJECTS)


def explain_event_pairs(
    reader: Reader, pairs: Sequence[PlannedPair]
) -> tuple[dict[str, Record], dict[str, Record], dict[tuple[str, str], Explanation]]:
    """The pairs' needs and projects by id, and each pair explained (need as query), profiles read once."""
    catalogue = reader.catalogue
    need_keys = catalogue.keys_of(Kind.NEEDS, {pair.need_id for pair in pairs})
    project_keys = catalogue.keys_of(Kind.PROJECTS, {pair.project_id for pair in pairs})
    needs_by_key = catalogue.by_keys(Kind.NEEDS, need_keys.values())
    projects_by_key = catalogue.by_keys(Kind.PROJECTS, project_keys.values())
    keyed = [
        (need_keys[pair.need_id], project_keys[pair.project_id])
        for pair in pairs
        if pair.need_id in need_keys and pair.project_id in project_keys
    ]
    explained = explain_pairs(reader.explainer, Kind.NEEDS, needs_by_key, projects_by_key, keyed)
    by_id = {
        (needs_by_key[need].id, projects_by_key[project].id): explanation
        for (need, project), explanation in explained.items()
    }
    return (
        {record.id: record for record in needs_by_key.values()},
        {record.id: record for record in projects_by_key.values()},
        by_id,
    )


def build_pack(reader: Reader, pairs: Sequence[PlannedPair]) -> Pack:
    """Every page of the pack: the enterprises' pages (by need), then the researchers' (by project).

    A pair whose need or project was deleted since it was planned has no page; ``counts`` says how many.
    """
    needs, projects, explained = explain_event_pairs(reader, pairs)
    need_pages: list[PackPage] = []
    project_pages: list[PackPage] = []
    states: Counter[str] = Counter()
    missing = 0
    for pair in pairs:
        need, project = needs.get(pair.need_id), projects.get(pair.project_id)
        if need is None or project is None:
            missing += 1
            continue
        for_need, for_project = pages_of_pair(
            pair, need, project, explained.get((pair.need_id, pair.project_id)), reader.strength
        )
        need_pages.append(for_need)
        project_pages.append(for_project)
        states[for_need.state] += 1
    need_pages.sort(key=lambda page: (page.need.id, page.project.id))
    project_pages.sort(key=lambda page: (page.project.id, page.need.id))
    pages = need_pages + project_pages
    counts: dict[str, Any] = {
        "introductions": len(need_pages),
        "needs": len({page.need.id for page in need_pages}),
        "projects": len({page.project.id for page in need_pages}),
        "pages": len(pages),
        "pages_in_chinese": sum(page.language == "zh" for page in pages),
        "states": dict(sorted(states.items())),
        "missing_records": missing,
    }
    return Pack(pages, counts)
