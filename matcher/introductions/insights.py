"""What the committee's dashboard shows: the introductions funnel, market pull, supply gaps, plan strengths
and agreements.

Plain computations over records, outcomes and event plans. Events come in as :class:`PlannedEvent`
values (the service reads them from the event store), so this module needs no event store. The one
costly part, every need against every project in the "strong" band, is :func:`strong_matches`: needs
a block at a time through :class:`~matcher.introductions.scoring.PairStrengths`, only the strong pairs
and each need's best kept; :class:`InsightCache` keeps its answer per catalogue revision, so a page
view does not score again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.outcomes.store import Outcome, OutcomeStatus
from matcher.pipeline.reader import Reader
from matcher.records import Kind, Record
from matcher.strength.model import PairKind, StrengthModel, pair_kind

from .scoring import PairStrengths

log = logging.getLogger(__name__)

STAGES = ("proposed", "contacted", "meeting", "agreement")
# How far an outcome took its pair (an index into STAGES). A decline came after the contact.
STAGE_OF_STATUS = {
    OutcomeStatus.CONTACTED: 1,
    OutcomeStatus.DECLINED: 1,
    OutcomeStatus.MEETING: 2,
    OutcomeStatus.AGREEMENT: 3,
}
NEED_BLOCK = 256  # needs scored against every project at once (256 x a few thousand floats)
HISTOGRAM_BINS = 10  # strengths 0 to 1 in steps of 0.1
UNSPECIFIED = "unspecified"

PairKey = tuple[str, str]  # (need id, project id)


# -- the funnel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedEvent:
    """An event's plan as the dashboard reads it: its pairs not struck, and the plan ids they came from."""

    id: int
    name: str
    pairs: tuple[PairKey, ...]
    plan_ids: frozenset[str] = frozenset()
    strengths: tuple[float | None, ...] = ()  # per pair, None where unknown (a pair added by hand)
    min_score: float | None = None


@dataclass(frozen=True)
class Funnel:
    """How many pairs reached each stage of :data:`STAGES`; a later stage counts in every earlier one."""

    label: str
    proposed: int
    contacted: int
    meeting: int
    agreement: int

    @property
    def counts(self) -> tuple[int, int, int, int]:
        return (self.proposed, self.contacted, self.meeting, self.agreement)

    @property
    def empty(self) -> bool:
        return not any(self.counts)


@dataclass(frozen=True)
class MonthFunnel:
    """Pairs that first reached each stage in one month (``YYYY-MM`` of the outcomes' ``recorded_at``)."""

    month: str
    contacted: int
    meeting: int
    agreement: int

    @property
    def counts(self) -> tuple[int, int, int]:
        return (self.contacted, self.meeting, self.agreement)


def _key(outcome: Outcome) -> PairKey:
    return (outcome.need_id, outcome.project_id)


def furthest_stages(outcomes: Iterable[Outcome]) -> dict[PairKey, int]:
    """Each pair's furthest stage over all its outcomes (an index into :data:`STAGES`)."""
    furthest: dict[PairKey, int] = {}
    for outcome in outcomes:
        stage = STAGE_OF_STATUS[outcome.status]
        if stage > furthest.get(_key(outcome), 0):
            furthest[_key(outcome)] = stage
    return furthest


def _funnel(label: str, pairs: Iterable[PairKey], stages: Mapping[PairKey, int]) -> Funnel:
    reached = Counter(stages.get(pair, 0) for pair in set(pairs))
    at_least = [sum(n for stage, n in reached.items() if stage >= wanted) for wanted in range(len(STAGES))]
    return Funnel(label, *at_least)


def overall_funnel(events: Sequence[PlannedEvent], outcomes: Sequence[Outcome], label: str = "all") -> Funnel:
    """Every pair any event proposed, or that has an outcome (it was introduced), by its furthest stage."""
    pairs = {pair for event in events for pair in event.pairs} | {_key(outcome) for outcome in outcomes}
    return _funnel(label, pairs, furthest_stages(outcomes))


def event_funnels(events: Sequence[PlannedEvent], outcomes: Sequence[Outcome]) -> list[Funnel]:
    """Each event's funnel: its pairs, and the outcomes of those pairs that belong to it.

    An outcome belongs to an event's pair when it names the pair and either no plan, a plan of
    this event, or a plan of no event (a plan job's); an outcome of another event's plan does not.
    """
    owner = {plan_id: event.id for event in events for plan_id in event.plan_ids}
    funnels = []
    for event in events:
        pairs = set(event.pairs)
        mine = [
            outcome
            for outcome in outcomes
            if _key(outcome) in pairs and owner.get(outcome.plan_id or "", event.id) == event.id
        ]
        funnels.append(_funnel(event.name, pairs, furthest_stages(mine)))
    return funnels


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def funnel_by_month(outcomes: Iterable[Outcome]) -> list[MonthFunnel]:
    """Per month, from the first outcome's to the last's: how many pairs first reached each stage then.

    A pair reaches a stage with its first outcome at that stage or further (an agreement recorded
    straight away is a contact, a meeting and an agreement in its month).
    """
    first_at: dict[tuple[PairKey, int], str] = {}
    for outcome in outcomes:
        for stage in range(1, STAGE_OF_STATUS[outcome.status] + 1):
            slot = (_key(outcome), stage)
            if slot not in first_at or outcome.recorded_at < first_at[slot]:
                first_at[slot] = outcome.recorded_at
    if not first_at:
        return []
    counts = Counter((at[:7], stage) for (_, stage), at in first_at.items())
    months = _months(min(first_at.values())[:7], max(first_at.values())[:7])
    return [MonthFunnel(month, counts[(month, 1)], counts[(month, 2)], counts[(month, 3)]) for month in months]


# -- strong matches over the whole catalogue ---------------------------------------------------


@dataclass(frozen=True)
class StrongMatches:
    """Every strong (need, project) pair of the catalogue, and each need's best project, by record key."""

    needs: dict[int, Record]
    projects: dict[int, Record]
    strong: dict[int, dict[int, float]]  # project key -> {need key: strength}
    best: dict[int, tuple[int, float]]  # need key -> (project key, strength) of its best project
    strong_needs: frozenset[int]  # needs with at least one strong project
    seconds: float = 0.0


def _strong_lines(model: StrengthModel, need_language: str, project_zh: np.ndarray, multilingual: bool) -> np.ndarray:
    """The strength at which each project becomes a strong match for a need in ``need_language``."""

    def line(project_language: str) -> float:
        uses_multilingual = multilingual and "zh" in (need_language, project_language)
        kind: PairKind = pair_kind(need_language, project_language, uses_multilingual)
        return model.bands_for(kind).strong

    return np.where(project_zh, line("zh"), line("en"))


def strong_matches(reader: Reader, block: int = NEED_BLOCK) -> StrongMatches:
    """Score every indexed need against every indexed project (a block of needs at a time); keep the strong."""
    started = time.perf_counter()
    need_index, project_index = reader.index(Kind.NEEDS), reader.index(Kind.PROJECTS)
    need_keys = np.asarray(sorted(need_index.vector.entries), dtype=np.int64)
    project_keys = np.asarray(sorted(project_index.vector.entries), dtype=np.int64)
    needs = reader.catalogue.by_keys(Kind.NEEDS, need_keys.tolist())
    projects = reader.catalogue.by_keys(Kind.PROJECTS, project_keys.tolist())
    strong: dict[int, dict[int, float]] = defaultdict(dict)
    best: dict[int, tuple[int, float]] = {}
    if len(need_keys) and len(project_keys):
        score = PairStrengths(reader)
        project_zh = np.asarray([project_index.languages.get(int(key)) == "zh" for key in project_keys])
        multilingual = project_index.multilingual is not None
        for first in range(0, len(need_keys), block):
            keys = need_keys[first : first + block]
            strengths = score(keys, project_keys)
            for row, need_key in enumerate(keys.tolist()):
                language = need_index.languages.get(need_key, "en")
                lines = _strong_lines(reader.strength, language, project_zh, multilingual)
                column = int(np.argmax(strengths[row]))
                best[need_key] = (int(project_keys[column]), float(strengths[row, column]))
                for column in np.flatnonzero(strengths[row] >= lines).tolist():
                    strong[int(project_keys[column])][need_key] = float(strengths[row, column])
    seconds = time.perf_counter() - started
    log.info("Scored %d needs x %d projects for the dashboard in %.2f s", len(need_keys), len(project_keys), seconds)
    strong_needs = frozenset(need for pairs in strong.values() for need in pairs)
    return StrongMatches(needs, projects, dict(strong), best, strong_needs, seconds)


INLINE_PAIRS = 250_000  # up to this many pairs a page view may wait for the scoring; past it, it runs behind


def _stamp(reader: Reader) -> tuple[int, ...]:
    """What the answer depends on: each side's catalogue revision and the index generation read."""
    return (
        reader.catalogue.revision(Kind.PROJECTS),
        reader.catalogue.revision(Kind.NEEDS),
        reader.index(Kind.PROJECTS).revision,
        reader.index(Kind.NEEDS).revision,
    )


def pair_count(reader: Reader) -> int:
    """How many need-project pairs :func:`strong_matches` scores."""
    return reader.index(Kind.NEEDS).count * reader.index(Kind.PROJECTS).count


class InsightCache:
    """:func:`strong_matches` kept in memory while neither catalogue side changes (one per server process).

    :meth:`get` scores when the kept answer is stale and waits for it; :meth:`get_or_start` instead
    starts the scoring in the background and answers None, for a catalogue too big to score while
    a page waits. One scoring runs at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the fields below
        self._scoring = threading.Lock()  # one scoring at a time
        self._stamp: tuple[int, ...] | None = None
        self._value: StrongMatches | None = None
        self._thread: threading.Thread | None = None
        self.computed = 0  # how many times it scored (tests read it)

    def _fresh(self, stamp: tuple[int, ...]) -> StrongMatches | None:
        return self._value if self._value is not None and stamp == self._stamp else None

    def _score(self, reader: Reader, stamp: tuple[int, ...]) -> StrongMatches:
        with self._scoring:
            with self._lock:
                fresh = self._fresh(stamp)
            if fresh is not None:  # another caller scored this revision while we waited
                return fresh
            value = strong_matches(reader)
            with self._lock:
                self._value, self._stamp = value, stamp
                self.computed += 1
            return value

    def _score_behind(self, reader: Reader, stamp: tuple[int, ...]) -> None:
        try:
            self._score(reader, stamp)
        except Exception:  # a background thread has no caller to tell: the log says it
            log.exception("Scoring every pair for the dashboard failed")

    def get(self, reader: Reader) -> StrongMatches:
        stamp = _stamp(reader)
        with self._lock:
            fresh = self._fresh(stamp)
        return fresh if fresh is not None else self._score(reader, stamp)

    def get_or_start(self, reader: Reader) -> StrongMatches | None:
        """The answer if it is fresh; else None, with the scoring started behind (unless it runs already)."""
        stamp = _stamp(reader)
        with self._lock:
            fresh = self._fresh(stamp)
            if fresh is None and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._score_behind, args=(reader, stamp), name="dashboard-scoring", daemon=True
                )
                self._thread.start()
        return fresh

    def wait(self, timeout: float | None = None) -> None:
        """Until a background scoring ends (tests, and a server stopping)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


# -- market pull and supply gaps --------------------------------------------------------------


def home_names(setting: str) -> tuple[str, ...]:
    """The home region's names from the comma-separated ``home_region`` setting, lower-cased."""
    return tuple(name.strip().casefold() for name in setting.split(",") if name.strip())


def is_local(need: Record, home: Sequence[str]) -> bool:
    """A need is local when its region contains one of the home region's names."""
    region = str(need.attributes.get("region") or "").casefold()
    return bool(region) and any(name in region for name in home)


def is_open(need: Record, today: str) -> bool:
    """A need is open until its deadline has passed (a need with no deadline stays open)."""
    deadline = need.attributes.get("deadline")
    return not deadline or str(deadline)[:10] >= today[:10]


def _label(record: Record, field_name: str) -> str:
    value = record.attributes.get(field_name)
    return str(value).strip() if value and str(value).strip() else UNSPECIFIED


@dataclass(frozen=True)
class ProjectPull:
    """How many open needs one project matches strongly, by the needs' industry and region."""

    project_id: str
    title: str
    institution: str
    local: int
    elsewhere: int
    by_industry: dict[str, int]
    by_region: dict[str, int]
    need_ids: tuple[str, ...]  # best first

    @property
    def total(self) -> int:
        return self.local + self.elsewhere


def _today(today: str | None) -> str:
    return today or dt.date.today().isoformat()


def market_pull(matches: StrongMatches, home: Sequence[str], today: str | None = None) -> list[ProjectPull]:
    """Every project that matches an open need strongly: most local needs first, then most needs in all."""
    today = _today(today)
    pulls = []
    for project_key, strong in matches.strong.items():
        project = matches.projects[project_key]
        needs = [
            (matches.needs[key], strength)
            for key, strength in strong.items()
            if key in matches.needs and is_open(matches.needs[key], today)
        ]
        if not needs:
            continue
        needs.sort(key=lambda item: (-item[1], item[0].id))
        local = sum(1 for need, _ in needs if is_local(need, home))
        pulls.append(
            ProjectPull(
                project.id,
                project.title,
                str(project.attributes.get("institution") or ""),
                local,
                len(needs) - local,
                dict(Counter(_label(need, "industry") for need, _ in needs).most_common()),
                dict(Counter(_label(need, "region") for need, _ in needs).most_common()),
                tuple(need.id for need, _ in needs),
            )
        )
    pulls.sort(key=lambda pull: (-pull.local, -pull.total, pull.project_id))
    return pulls


@dataclass(frozen=True)
class Gap:
    """An open need that no project matches strongly, with its best project and that pair's strength."""

    need_id: str
    title: str
    enterprise: str
    industry: str
    region: str
    local: bool
    best_project_id: str | None
    best_strength: float | None


def supply_gaps(matches: StrongMatches, home: Sequence[str], today: str | None = None) -> list[Gap]:
    """Open needs without a strong project, local first, then by industry and weakest best match first."""
    today = _today(today)
    gaps = []
    for key, need in matches.needs.items():
        if key in matches.strong_needs or not is_open(need, today):
            continue
        best = matches.best.get(key)
        best_project = matches.projects.get(best[0]) if best else None
        gaps.append(
            Gap(
                need.id,
                need.title,
                str(need.attributes.get("enterprise") or ""),
                _label(need, "industry"),
                _label(need, "region"),
                is_local(need, home),
                best_project.id if best_project else None,
                best[1] if best else None,
            )
        )
    gaps.sort(key=lambda gap: (not gap.local, gap.industry, gap.best_strength or 0.0, gap.need_id))
    return gaps


def gaps_by_industry(gaps: Iterable[Gap]) -> list[tuple[str, int]]:
    """How many gaps each industry has, most first."""
    return sorted(Counter(gap.industry for gap in gaps).items(), key=lambda item: (-item[1], item[0]))


# -- an event's strengths, and agreements -----------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Counts of strengths in equal bins from 0 to 1; ``unscored`` pairs have no strength."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    unscored: int
    floor: float | None

    @property
    def total(self) -> int:
        return sum(self.counts) + self.unscored


def strength_histogram(event: PlannedEvent, bins: int = HISTOGRAM_BINS) -> Histogram:
    """The strengths of an event's pairs in ``bins`` equal bins (the last one closed: 1.0 falls in it)."""
    known = np.asarray([s for s in event.strengths if s is not None], dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts, _ = np.histogram(np.clip(known, 0.0, 1.0), bins=edges)
    unscored = len(event.pairs) - len(known)
    return Histogram(
        tuple(round(float(edge), 4) for edge in edges), tuple(int(c) for c in counts), unscored, event.min_score
    )


@dataclass(frozen=True)
class Agreements:
    """Pairs whose furthest stage is an agreement, counted by project field, institution and languages."""

    pairs: int
    by_field: list[tuple[str, int]]
    by_institution: list[tuple[str, int]]
    by_language: list[tuple[str, int]] = field(default_factory=list)


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def agreements(
    outcomes: Iterable[Outcome],
    needs: Mapping[str, Record],
    projects: Mapping[str, Record],
    languages: Mapping[tuple[Kind, str], str] | None = None,
) -> Agreements:
    """Agreements by the project's fields (each field of a project counts), institution, and language pair.

    ``languages`` gives a record's detected language where its ``language`` field is empty.
    A language pair reads ``need → project``, e.g. ``zh → en``.
    """
    languages = languages or {}
    by_field: Counter[str] = Counter()
    by_institution: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    stages = furthest_stages(outcomes)
    done = [pair for pair, stage in stages.items() if stage == len(STAGES) - 1]
    for need_id, project_id in done:
        project, need = projects.get(project_id), needs.get(need_id)
        fields = project.attributes.get("fields") if project else None
        for name in fields if isinstance(fields, list) and fields else [UNSPECIFIED]:
            by_field[str(name)] += 1
        by_institution[_label(project, "institution") if project else UNSPECIFIED] += 1
        need_language = (need.language if need else "") or languages.get((Kind.NEEDS, need_id), "?")
        project_language = (project.language if project else "") or languages.get((Kind.PROJECTS, project_id), "?")
        by_language[f"{need_language} → {project_language}"] += 1
    return Agreements(len(done), _ranked(by_field), _ranked(by_institution), _ranked(by_language))
