"""The API contract: pydantic models of every request and response, from which the OpenAPI document is made.

Requests are validated with these models before the matcher sees them; responses are built by
the matcher and checked against these models by the contract tests (schemathesis), not on every
request.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matcher.filters import FILTERS
from matcher.introductions.solver import Solver
from matcher.outcomes.store import MAX_NOTE_CHARS, AgreementType, DeclineReason, OutcomeStatus
from matcher.pipeline.request import Direction
from matcher.records import TRL_RANGE, Kind
from matcher.retrieval.channels import Channel
from matcher.retrieval.ranking import Fusion, Method
from matcher.strength.model import Band


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
FilterValue = str | int | list[str]
TRL_LOW, TRL_HIGH = TRL_RANGE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# -- requests --------------------------------------------------------------------------------


NON_BLANK = r"\S"


class MatchBody(Strict):
    """A free text to match: a need (to find projects) or a project (to find needs)."""

    text: str = Field(min_length=1, pattern=NON_BLANK, description="The need or project description.")
    direction: DirectionName = Field(Direction.NEED_TO_PROJECTS.value, description="Which side the text is.")
    top_k: int | None = Field(None, ge=1, description="How many matches (default 10, at most max_top_k).")
    min_score: float | None = Field(None, ge=0, le=1, description="A floor on match strength (0 to 1).")
    filters: dict[str, FilterValue] | None = Field(
        None,
        description=f"Projects: {', '.join(FILTERS[Kind.PROJECTS])}. "
        f"Needs: {', '.join(FILTERS[Kind.NEEDS])}. Text filters take a value or a list.",
    )
    explain: bool = Field(True, description="Explain each match (shared and related terms, evidence, scores).")


class ProjectFields(BaseModel):
    """A research project's fields (the same as a projects file's columns); the id is the path's."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, pattern=NON_BLANK)
    abstract: str = Field(min_length=1, pattern=NON_BLANK)
    institution: str | None = None
    contact: str | None = None
    fields: list[str] | str | None = Field(None, description="A list, or one text split on ';'.")
    keywords: list[str] | str | None = None
    trl: int | None = Field(
        None, ge=TRL_LOW, le=TRL_HIGH, description=f"Technology readiness level, {TRL_LOW} to {TRL_HIGH}."
    )
    ip_status: str | None = None
    language: str | None = None
    url: str | None = None
    updated: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    metadata: dict[str, Any] | None = None


class ProjectIn(ProjectFields):
    """A research project as sent to POST /projects."""

    id: str = Field(min_length=1, pattern=NON_BLANK)


class NeedFields(BaseModel):
    """An enterprise technology need's fields (the same as a needs file's columns); the id is the path's."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, pattern=NON_BLANK)
    description: str = Field(min_length=1, pattern=NON_BLANK)
    enterprise: str | None = None
    industry: str | None = None
    region: str | None = None
    budget: str | int | float | None = None
    deadline: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    contact: str | None = None
    language: str | None = None
    metadata: dict[str, Any] | None = None


class NeedIn(NeedFields):
    """An enterprise technology need as sent to POST /needs."""

    id: str = Field(min_length=1, pattern=NON_BLANK)


class ProjectBatch(BaseModel):
    records: list[ProjectIn]


class NeedBatch(BaseModel):
    records: list[NeedIn]


class OutcomeBody(Strict):
    """What happened to a proposed pair. The author is the API key's name; the time is now."""

    project_id: str = Field(min_length=1, pattern=NON_BLANK)
    need_id: str = Field(min_length=1, pattern=NON_BLANK)
    status: OutcomeStatusName = Field(
        description="A meeting or an agreement is a positive outcome, a decline a negative one."
    )
    agreement_type: AgreementTypeName | None = Field(None, description="Required with status 'agreement', only then.")
    decline_reason: DeclineReasonName | None = Field(
        None,
        description="Required with status 'declined', only then. Pairs declined as not_relevant are not matched again.",
    )
    note: str = Field("", max_length=MAX_NOTE_CHARS)
    score: float | None = Field(
        None, ge=-1, le=1, allow_inf_nan=False, description="The pair's dense (cosine) similarity when it was proposed."
    )
    plan_id: str | None = Field(
        None, min_length=1, pattern=NON_BLANK, description="The introduction plan that proposed the pair."
    )


class ConflictIn(Strict):
    """Parties that must not meet: each names a record id, institution or enterprise, contact name, email or mail domain."""

    project: str = Field(min_length=1, pattern=NON_BLANK, description="The project side's party.")
    need: str = Field(min_length=1, pattern=NON_BLANK, description="The need side's party.")


class PlanBody(Strict):
    """An introduction plan: every project in scope against every need in scope, under caps."""

    max_per_project: int = Field(ge=1, description="Introductions a project may take.")
    max_per_need: int = Field(ge=1, description="Introductions a need may take.")
    max_per_enterprise: int | None = Field(
        None, ge=1, description="Introductions all needs of one enterprise may take."
    )
    max_per_institution: int | None = Field(
        None, ge=1, description="Introductions all projects of one institution may take."
    )
    max_per_need_institution: int | None = Field(
        None, ge=1, description="Diversity: at most this many projects of one institution for any one need."
    )
    min_score: float | None = Field(
        None, ge=0, le=1, description="Match strength floor (default: setting plan_min_score)."
    )
    candidates: int | None = Field(None, ge=1, le=1000, description="Best candidates of each record the solver weighs.")
    project_filters: dict[str, FilterValue] | None = Field(None, description="As a match's filters, on projects.")
    need_filters: dict[str, FilterValue] | None = Field(None, description="As a match's filters, on needs.")
    updated_since: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Only records updated on or after this date."
    )
    conflicts: list[ConflictIn] = Field(default_factory=list, max_length=10_000)
    solver: SolverName = Field(Solver.FLOW.value, description="flow: exact min-cost flow; greedy: the baseline.")
    explain: bool = Field(True, description="Add each pair's explanation summary.")


# -- responses -------------------------------------------------------------------------------


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


def first_problem(error: ValidationError) -> tuple[str, str]:
    """The parameter and message of a request model's first validation error, in our words."""
    problem = error.errors()[0]
    parameter = ".".join(str(part) for part in problem["loc"]) or "body"
    message = problem["msg"]
    if problem["type"] == "extra_forbidden":
        message = "unknown field"
    return parameter, f"'{parameter}': {message}"
