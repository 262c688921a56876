"""The API contract: pydantic models of every request and response, from which the OpenAPI document is made.

Requests are validated with these models before the matcher sees them; responses are built by
the matcher and checked against these models by the contract tests (schemathesis), not on every
request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from matcher.errors import Problem
from matcher.filters import FILTERS, INTEGER_RANGE
from matcher.introductions.planner import MAX_CAP
from matcher.introductions.solver import Solver
from matcher.outcomes.store import MAX_NOTE_CHARS, AgreementType, DeclineReason, OutcomeStatus
from matcher.pipeline.request import Direction
from matcher.records import INVALID_TEXT_CHARACTERS, MAX_FIELD_CHARS, MAX_ID_CHARS, TRL_RANGE, Kind
from matcher.retrieval.channels import Channel
from matcher.retrieval.ranking import Fusion, Method
from matcher.strength.model import Band
from service.intro_requests import CONTACT, AnswerLanguage, RequestState

MAX_REQUESTER_CHARS = 200  # a name, an organisation or a contact of an introduction request
MAX_MESSAGE_CHARS = 2_000


def one_of(enum: type[Enum], order: Sequence[Enum] = ()) -> Any:
    """A ``Literal`` of a library enum's values: pydantic validates the plain strings and documents an ``enum``.

    ``order`` lists every member again where the document has always shown another order than the enum's.
    """
    members = list(order) or list(enum)
    if sorted(member.value for member in members) != sorted(member.value for member in enum):
        raise ValueError(f"{order} must list every member of {enum.__name__} once")
    return Literal[tuple(member.value for member in members)]


if TYPE_CHECKING:  # a type checker sees the strings they are; pydantic, at run time, the Literals
    DirectionName: TypeAlias = str
    KindName: TypeAlias = str
    MethodName: TypeAlias = str
    FusionName: TypeAlias = str
    SolverName: TypeAlias = str
    OutcomeStatusName: TypeAlias = str
    AgreementTypeName: TypeAlias = str
    DeclineReasonName: TypeAlias = str
    BandName: TypeAlias = str
    ChannelName: TypeAlias = str
    RequestStateName: TypeAlias = str
    AnswerLanguageName: TypeAlias = str
else:
    DirectionName = one_of(Direction)
    KindName = one_of(Kind)
    MethodName = one_of(Method, order=(Method.HYBRID, Method.DENSE, Method.BM25))  # the document's order
    FusionName = one_of(Fusion, order=(Fusion.BLEND, Fusion.RRF))
    SolverName = one_of(Solver)
    BandName = one_of(Band, order=(Band.STRONG, Band.POSSIBLE, Band.WEAK))
    ChannelName = one_of(Channel)
    OutcomeStatusName = one_of(OutcomeStatus)
    AgreementTypeName = one_of(AgreementType)
    DeclineReasonName = one_of(DeclineReason)
    RequestStateName = one_of(RequestState)
    AnswerLanguageName = one_of(AnswerLanguage)
TRL_LOW, TRL_HIGH = TRL_RANGE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# -- requests --------------------------------------------------------------------------------


# A character Python's str.strip() keeps: \S, less the separators U+001C to U+001F, which Python
# counts as white space and the schema's regex dialects do not.
NON_BLANK = r"[^\s\x1c-\x1f]"
# A record's texts: no control character (but tab and line breaks) nor U+FFFD, as the catalogue's
# validation requires (matcher.records.INVALID_TEXT_CHARACTERS); required ones also hold a non-space.
CLEAN_TEXT = f"^[^{INVALID_TEXT_CHARACTERS}]*$"
CLEAN_NON_BLANK = f"^[^{INVALID_TEXT_CHARACTERS}]*[^\\s{INVALID_TEXT_CHARACTERS}][^{INVALID_TEXT_CHARACTERS}]*$"
DATE = r"^\d{4}-\d{2}-\d{2}$"


def _whole_number(value: Any) -> Any:
    """JSON's 3.0 is the whole number 3 (JSON Schema says so too); strict models would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _calendar_date(value: Any) -> Any:
    """A YYYY-MM-DD text must also be a day of the calendar (not 0000-00-00): the schema says ``format: date``."""
    if isinstance(value, str) and len(value) == 10:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date of the calendar") from None
    return value


def whole_number(low: int, high: int | None = None) -> Any:
    """A whole number from ``low`` (to ``high``); its bounds sit on the number, so the document shows them in a union."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole_number)]  # bounds first: the schema shows them


# Bounds first in each: the document shows them even inside a union with null.
PositiveNumber = Annotated[int, Field(ge=1), BeforeValidator(_whole_number)]
Trl = Annotated[int, Field(ge=TRL_LOW, le=TRL_HIGH), BeforeValidator(_whole_number)]
CandidateCount = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_whole_number)]
Cap = Annotated[int, Field(ge=1, le=MAX_CAP), BeforeValidator(_whole_number)]
CalendarDate = Annotated[
    str, Field(pattern=DATE, json_schema_extra={"format": "date"}), BeforeValidator(_calendar_date)
]
RecordText = Annotated[str, Field(max_length=MAX_FIELD_CHARS, pattern=CLEAN_TEXT)]
RequiredText = Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS, pattern=CLEAN_NON_BLANK)]
RecordId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=CLEAN_NON_BLANK)]
# A record's body: its length limit is the `max_text_chars` setting, set in the document (service.openapi).
BodyText = Annotated[str, Field(min_length=1, pattern=CLEAN_NON_BLANK)]
TextList = list[RecordText] | RecordText


def _filters_model(kind: Kind) -> type[BaseModel]:
    """The filters of one side as a model: text filters take a text or a list (blank means no filter), bounds a TRL."""
    low, high = INTEGER_RANGE
    fields: dict[str, Any] = {
        name: (
            whole_number(low, high) | None
            if spec.takes_integer
            else CalendarDate | None
            if spec.takes_date
            else str | list[str] | None,
            None,
        )
        for name, spec in FILTERS[kind].items()
    }
    model: type[BaseModel] = create_model(f"{kind.singular.capitalize()}Filters", __base__=Strict, **fields)
    model.__doc__ = f"Filters on {kind.value}; a blank value, or trl_min above trl_max, matches no record out."
    return model


ProjectFilters = _filters_model(Kind.PROJECTS)
NeedFilters = _filters_model(Kind.NEEDS)


class MatchBody(Strict):
    """A free text to match: a need (to find projects) or a project (to find needs)."""

    text: str = Field(min_length=1, pattern=NON_BLANK, description="The need or project description.")
    direction: DirectionName = Field(Direction.NEED_TO_PROJECTS.value, description="Which side the text is.")
    top_k: PositiveNumber | None = Field(None, description="How many matches (default 10, at most max_top_k).")
    min_score: float | None = Field(None, ge=0, le=1, description="A floor on match strength (0 to 1).")
    filters: dict[str, Any] | None = Field(None, description="Filters on the side searched.")
    explain: bool = Field(True, description="Explain each match (shared and related terms, evidence, scores).")


class NeedTextBody(MatchBody):
    """A need's text, to find projects (the default direction)."""

    direction: Literal["need_to_projects"] = Field(
        Direction.NEED_TO_PROJECTS.value, description="Which side the text is."
    )
    filters: ProjectFilters | None = Field(None, description="Filters on projects.")  # type: ignore[valid-type]


class ProjectTextBody(MatchBody):
    """A project's text, to find needs."""

    direction: Literal["project_to_needs"] = Field(description="Which side the text is.")
    filters: NeedFilters | None = Field(None, description="Filters on needs.")  # type: ignore[valid-type]


def match_body_model(body: dict[str, Any]) -> type[MatchBody]:
    """The model of a match body by its direction, so that its filters are checked against the side searched."""
    return ProjectTextBody if body.get("direction") == Direction.PROJECT_TO_NEEDS.value else NeedTextBody


class RecordFields(BaseModel):
    """A record's fields are typed strictly; any other field is kept as metadata (a spreadsheet's extra columns)."""

    model_config = ConfigDict(extra="allow", strict=True)


class ProjectFields(RecordFields):
    """A research project's fields (the same as a projects file's columns); the id is the path's."""

    title: RequiredText
    abstract: BodyText
    institution: RecordText | None = None
    contact: RecordText | None = None
    fields: TextList | None = Field(None, description="A list, or one text split on ';'.")
    keywords: TextList | None = None
    trl: Trl | None = Field(None, description=f"Technology readiness level, {TRL_LOW} to {TRL_HIGH}.")
    ip_status: RecordText | None = None
    language: RecordText | None = None
    url: RecordText | None = None
    updated: CalendarDate | None = Field(None, description="YYYY-MM-DD")
    metadata: dict[str, Any] | None = None


class ProjectIn(ProjectFields):
    """A research project as sent to POST /projects."""

    id: RecordId


class NeedFields(RecordFields):
    """An enterprise technology need's fields (the same as a needs file's columns); the id is the path's."""

    title: RequiredText
    description: BodyText
    enterprise: RecordText | None = None
    industry: RecordText | None = None
    region: RecordText | None = None
    budget: RecordText | float | None = None
    deadline: CalendarDate | None = Field(None, description="YYYY-MM-DD")
    contact: RecordText | None = None
    language: RecordText | None = None
    metadata: dict[str, Any] | None = None


class NeedIn(NeedFields):
    """An enterprise technology need as sent to POST /needs."""

    id: RecordId


class ProjectBatch(Strict):
    records: list[ProjectIn]


class NeedBatch(Strict):
    records: list[NeedIn]


class OutcomeFields(Strict):
    """What happened to a proposed pair. The author is the API key's name; the time is now."""

    project_id: str = Field(min_length=1, pattern=NON_BLANK)
    need_id: str = Field(min_length=1, pattern=NON_BLANK)
    note: str = Field("", max_length=MAX_NOTE_CHARS)
    score: float | None = Field(
        None, ge=-1, le=1, allow_inf_nan=False, description="The pair's match strength when it was proposed."
    )
    plan_id: str | None = Field(
        None, min_length=1, pattern=NON_BLANK, description="The introduction plan that proposed the pair."
    )


class ContactedOrMet(OutcomeFields):
    """The pair was contacted, or met: a meeting is a positive outcome."""

    status: Literal["contacted", "meeting"]
    agreement_type: None = None
    decline_reason: None = None


class Agreed(OutcomeFields):
    """The pair reached an agreement (a positive outcome) of this type."""

    status: Literal["agreement"]
    agreement_type: AgreementTypeName
    decline_reason: None = None


class Declined(OutcomeFields):
    """One side declined (a negative outcome): pairs declined as not_relevant are not matched again."""

    status: Literal["declined"]
    agreement_type: None = None
    decline_reason: DeclineReasonName


OUTCOME_BODIES: dict[str, type[OutcomeFields]] = {
    "contacted": ContactedOrMet,
    "meeting": ContactedOrMet,
    "agreement": Agreed,
    "declined": Declined,
}
if sorted(OUTCOME_BODIES) != sorted(status.value for status in OutcomeStatus):
    raise ValueError("OUTCOME_BODIES must name every outcome status once")


def outcome_body_model(body: dict[str, Any]) -> type[OutcomeFields]:
    """The model of an outcome body by its status (an unknown or absent one is checked as a meeting, and named)."""
    return OUTCOME_BODIES.get(str(body.get("status")), ContactedOrMet)


class ConflictIn(Strict):
    """Parties that must not meet: each names a record id, institution or enterprise, contact name, email or mail domain."""

    project: str = Field(min_length=1, pattern=NON_BLANK, description="The project side's party.")
    need: str = Field(min_length=1, pattern=NON_BLANK, description="The need side's party.")


class PlanBody(Strict):
    """An introduction plan: every project in scope against every need in scope, under caps."""

    max_per_project: Cap = Field(description="Introductions a project may take.")
    max_per_need: Cap = Field(description="Introductions a need may take.")
    max_per_enterprise: Cap | None = Field(None, description="Introductions all needs of one enterprise may take.")
    max_per_institution: Cap | None = Field(None, description="Introductions all projects of one institution may take.")
    max_per_need_institution: Cap | None = Field(
        None, description="Diversity: at most this many projects of one institution for any one need."
    )
    min_score: float | None = Field(
        None, ge=0, le=1, description="Match strength floor (default: setting plan_min_score)."
    )
    candidates: CandidateCount | None = Field(None, description="Best candidates of each record the solver weighs.")
    project_filters: ProjectFilters | None = Field(  # type: ignore[valid-type]
        None, description="As a match's filters, on projects."
    )
    need_filters: NeedFilters | None = Field(None, description="As a match's filters, on needs.")  # type: ignore[valid-type]
    updated_since: CalendarDate | None = Field(None, description="Only records updated on or after this date.")
    conflicts: list[ConflictIn] = Field(default_factory=list, max_length=10_000)
    solver: SolverName = Field(Solver.FLOW.value, description="flow: exact min-cost flow; greedy: the baseline.")
    explain: bool = Field(True, description="Add each pair's explanation summary.")


class IntroductionRequestBody(Strict):
    """A visitor's request to be introduced to a project or a need; staff answer it (``/staff/requests``)."""

    kind: KindName = Field(description="The side of the record: projects or needs.")
    record_id: RecordId = Field(description="The record to be introduced to.")
    name: Annotated[str, Field(min_length=1, max_length=MAX_REQUESTER_CHARS, pattern=CLEAN_NON_BLANK)] = Field(
        description="Who asks."
    )
    organisation: Annotated[str, Field(max_length=MAX_REQUESTER_CHARS, pattern=CLEAN_TEXT)] = Field(
        "", description="Their enterprise or institution."
    )
    contact: Annotated[str, Field(min_length=6, max_length=MAX_REQUESTER_CHARS, pattern=CONTACT)] = Field(
        description="An e-mail address or a phone number staff can answer."
    )
    message: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS, pattern=CLEAN_TEXT)] = Field(
        "", description="What they hope for."
    )
    language: AnswerLanguageName = Field(AnswerLanguage.EN.value, description="The language to answer in.")
    token: str = Field(
        min_length=1,
        max_length=200,
        description="From GET /introduction-requests/token, at least introduction_request_min_seconds old.",
    )
    website: str = Field("", max_length=0, description="Leave empty (a field people do not see).")


# -- responses -------------------------------------------------------------------------------


class FormTokenOut(BaseModel):
    token: str = Field(description="Send it with the request, no sooner than min_seconds from now.")
    min_seconds: float
    max_age_seconds: int


class IntroductionRequestOut(BaseModel):
    id: int
    kind: KindName
    record_id: str
    state: RequestStateName
    created_at: str = Field(description="UTC, ISO 8601.")


class VocabularyValue(BaseModel):
    value: str = Field(description="As the records write it (filters compare case-insensitively).")
    count: int = Field(ge=1, description="Records with this value.")


class VocabulariesOut(BaseModel):
    """The values each filter's field takes in the catalogue, most common first, per side searched."""

    revisions: dict[str, int] = Field(description="The catalogue revision of each side these are of.")
    projects: dict[str, list[VocabularyValue]] = Field(description="Filters on projects, by name.")
    needs: dict[str, list[VocabularyValue]] = Field(description="Filters on needs, by name.")
    trl_range: list[int] = Field(description="The lowest and highest TRL (trl_min, trl_max).")


class Occurrence(BaseModel):
    field: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class SharedTermOut(BaseModel):
    term: str = Field(description="As the query writes it.")
    match_term: str = Field(description="As the matched record writes it.")
    key: str = Field(description="The normalised form both share.")
    weight: float
    query_occurrences: list[Occurrence]
    match_occurrences: list[Occurrence]


class RelatedTermOut(BaseModel):
    query_term: str
    match_term: str
    similarity: float
    query_occurrences: list[Occurrence]
    match_occurrences: list[Occurrence]


class EvidenceSide(Occurrence):
    text: str


class EvidenceOut(BaseModel):
    query: EvidenceSide
    match: EvidenceSide
    similarity: float
    share: float


class ScoresOut(BaseModel):
    method: MethodName
    score: float | None
    similarity: float | None
    lexical_score: float | None
    fusion: FusionName | None = None
    dense_part: float | None = None
    lexical_part: float | None = None


class ExplanationOut(BaseModel):
    summary: str
    shared_terms: list[SharedTermOut]
    related_terms: list[RelatedTermOut]
    evidence: EvidenceOut | None
    scores: ScoresOut


class RecordOut(BaseModel):
    """A stored project or need: the fields of its kind, with metadata when read one at a time."""

    id: str
    title: str
    abstract: str | None = None
    description: str | None = None
    institution: str | None = None
    enterprise: str | None = None
    contact: str | None = None
    fields: list[str] | None = None
    keywords: list[str] | None = None
    trl: int | None = None
    ip_status: str | None = None
    industry: str | None = None
    region: str | None = None
    budget: str | None = None
    deadline: str | None = None
    language: str | None = None
    url: str | None = None
    updated: str | None = None
    metadata: dict[str, Any] | None = None


class MatchOut(RecordOut):
    rank: int = Field(ge=1)
    score: float | None = Field(description="The fused score that ranked the match (relative to this query).")
    strength: float | None = Field(
        description="How likely the match is right (0 to 1), calibrated per language pair; comparable across queries."
    )
    band: BandName | None = Field(description="The strength as a person reads it.")
    similarity: float | None = Field(description="Dense cosine similarity in the pair's channel.")
    channel: ChannelName = Field(
        description="The dense channel that scored the pair: the multilingual encoder when either text is Chinese."
    )
    lexical_score: float | None = Field(description="BM25 score.")
    rerank_score: float | None = Field(
        default=None, description="The re-ranker's score (a log-odds), present when it ordered the matches."
    )
    kind: KindName
    explanation: ExplanationOut | None


class QueryOut(BaseModel):
    direction: DirectionName
    id: str | None = None
    text: str | None = None


class MatchResponse(BaseModel):
    query: QueryOut
    top_k: int
    explain: bool
    min_score: float | None
    filters: dict[str, Any]
    candidates: int = Field(description="Records of the target side that passed the filters.")
    ranking: Literal["base", "reranked"] = Field(
        default="base", description="'reranked' when the re-ranker learnt from outcomes ordered the matches."
    )
    no_good_match: bool = Field(description="True when no match reaches the 'possible' band.")
    verdict: str = Field(description="One line to read before the matches (e.g. 'No good match: ...').")
    count: int
    matches: list[MatchOut]


class IngestReportOut(BaseModel):
    kind: KindName
    source: str
    records: int
    created: int
    updated: int
    unchanged: int
    deleted: int


class DeleteReportOut(BaseModel):
    kind: KindName
    id: str
    deleted: bool


class SideHealth(BaseModel):
    records: int
    indexed: int
    index_model: str | None
    in_sync: bool


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    model: dict[str, Any]
    ranking: dict[str, Any]
    indexes: dict[str, SideHealth]
    schema_version: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    error: ErrorBody


class OutcomeOut(BaseModel):
    id: int
    project_id: str
    need_id: str
    status: OutcomeStatusName
    agreement_type: AgreementTypeName | None
    decline_reason: DeclineReasonName | None
    note: str
    score: float | None
    plan_id: str | None
    author: str = Field(description="The name of the API key (or the person, from the CLI) that recorded it.")
    recorded_at: str = Field(description="UTC, ISO 8601.")


class OutcomeList(BaseModel):
    count: int
    outcomes: list[OutcomeOut] = Field(description="Newest first.")


class IntroductionOut(BaseModel):
    project_id: str
    project_title: str
    project_institution: str
    project_contact: str
    need_id: str
    need_title: str
    need_enterprise: str
    need_contact: str
    score: float = Field(description="The pair's match strength (0 to 1), as a match of the need gives it.")
    rank_for_need: int = Field(description="The project's place among all projects in scope for this need (1 = best).")
    rank_for_project: int = Field(description="The need's place among all needs in scope for this project.")
    explanation: str


class PlanOut(BaseModel):
    parameters: dict[str, Any]
    introductions: list[IntroductionOut]
    count: int
    total_score: float
    diagnostics: dict[str, Any] = Field(
        description="Records in scope, pairs scored, excluded by reason, and why a plan is empty."
    )


class PlanJobOut(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    parameters: dict[str, Any]
    author: str
    created_at: str
    finished_at: str | None
    error: dict[str, Any] | None
    result: PlanOut | None = Field(None, description="The plan, once the state is done.")


INPUT_OF: dict[Kind, tuple[type[BaseModel], type[BaseModel], type[BaseModel]]] = {
    Kind.PROJECTS: (ProjectIn, ProjectBatch, ProjectFields),
    Kind.NEEDS: (NeedIn, NeedBatch, NeedFields),
}


def contract_problems(error: ValidationError, source: str, row: int) -> list[Problem]:
    """A record's contract errors as problems of its row, as the catalogue's validation names them."""
    problems = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or None
        problems.append(Problem(source, row, field, problem["type"], problem["msg"]))
    return problems


def first_problem(error: ValidationError, prefix: str = "") -> tuple[str, str]:
    """The parameter and message of a request model's first validation error, in our words."""
    problem = error.errors()[0]
    parameter = ".".join(str(part) for part in (*([prefix] if prefix else []), *problem["loc"])) or "body"
    message = problem["msg"]
    if problem["type"] == "extra_forbidden":
        message = "unknown field"
    return parameter, f"'{parameter}': {message}"
