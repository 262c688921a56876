"""Match requests and results: what a caller asks for and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from matcher.config import Settings
from matcher.errors import InvalidInput, TooLarge
from matcher.explanation.explain import Explanation
from matcher.records import Kind, Record
from matcher.retrieval.channels import Channel
from matcher.retrieval.ranking import Method, Ranked, RankingPolicy
from matcher.strength.model import Band


class Direction(str, Enum):
    NEED_TO_PROJECTS = "need_to_projects"
    PROJECT_TO_NEEDS = "project_to_needs"

    @property
    def query_kind(self) -> Kind:
        return Kind.NEEDS if self is Direction.NEED_TO_PROJECTS else Kind.PROJECTS

    @property
    def target_kind(self) -> Kind:
        return self.query_kind.other

    @classmethod
    def parse(cls, value: Any) -> Direction:
        try:
            return cls(value)
        except ValueError:
            valid = [direction.value for direction in cls]
            raise InvalidInput(
                f"Unknown direction {value!r}; valid directions are {valid}",
                details={"parameter": "direction", "value": value, "valid": valid},
            ) from None

    @classmethod
    def from_kind(cls, query_kind: Kind) -> Direction:
        return cls.NEED_TO_PROJECTS if query_kind is Kind.NEEDS else cls.PROJECT_TO_NEEDS


@dataclass(frozen=True)
class MatchRequest:
    """Either a free ``text`` or the ``record_id`` of a stored record of the direction's query side."""

    direction: Direction
    text: str | None = None
    record_id: str | None = None
    top_k: int = 10
    min_score: float | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    explain: bool = True

    @classmethod
    def build(
        cls,
        settings: Settings,
        direction: Any = Direction.NEED_TO_PROJECTS.value,
        text: Any = None,
        record_id: Any = None,
        top_k: Any = None,
        min_score: Any = None,
        filters: Any = None,
        explain: Any = True,
    ) -> MatchRequest:
        """Validate raw parameters (from JSON, a query string or the CLI) into a request."""
        parsed_direction = Direction.parse(direction)
        if (text is None) == (record_id is None):
            raise InvalidInput("Give exactly one of 'text' or an id", details={"parameter": "text"})
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput("'text' must be a non-empty string", details={"parameter": "text"})
            if len(text) > settings.max_text_chars:
                raise TooLarge(
                    f"'text' has {len(text)} characters; the limit is {settings.max_text_chars}",
                    details={"parameter": "text", "length": len(text), "limit": settings.max_text_chars},
                )
        if top_k is None:
            top_k = settings.default_top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= settings.max_top_k:
            raise InvalidInput(
                f"'top_k' must be a whole number from 1 to {settings.max_top_k}, got {top_k!r}",
                details={"parameter": "top_k", "value": top_k, "max": settings.max_top_k},
            )
        if min_score is not None and (
            isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1
        ):
            raise InvalidInput(
                f"'min_score' is a floor on match strength and must be a number from 0 to 1, got {min_score!r}",
                details={"parameter": "min_score", "value": min_score},
            )
        if isinstance(explain, str) and explain.strip().lower() in {"true", "1", "yes", "false", "0", "no"}:
            explain = explain.strip().lower() in {"true", "1", "yes"}
        if not isinstance(explain, bool):
            raise InvalidInput(
                f"'explain' must be true or false, got {explain!r}", details={"parameter": "explain", "value": explain}
            )
        if filters is not None and not isinstance(filters, dict):
            raise InvalidInput("'filters' must be an object", details={"parameter": "filters", "value": filters})
        return cls(
            direction=parsed_direction,
            text=text,
            record_id=record_id,
            top_k=top_k,
            min_score=float(min_score) if min_score is not None else None,
            filters=dict(filters or {}),
            explain=explain,
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def score_breakdown(hit: Ranked, policy: RankingPolicy) -> dict[str, Any]:
    """The scores that ranked a match: the fused score and what dense and lexical each gave it."""
    breakdown: dict[str, Any] = {
        "method": policy.method.value,
        "score": _rounded(hit.score),
        "similarity": _rounded(hit.dense),
        "lexical_score": _rounded(hit.lexical),
    }
    if policy.method is Method.HYBRID:
        breakdown.update(
            fusion=policy.fusion.value,
            dense_part=_rounded(hit.dense_part),
            lexical_part=_rounded(hit.lexical_part),
        )
    return breakdown


@dataclass(frozen=True)
class Match:
    rank: int
    hit: Ranked
    record: Record
    explanation: Explanation | None
    policy: RankingPolicy
    rerank_score: float | None = None  # the learnt re-ranker's score, when it ordered this match
    # How likely the match is right (calibrated per language pair), and its band.
    strength: float | None = None
    band: Band | None = None

    @property
    def score(self) -> float:
        """The score that ranked the match (fused, for hybrid ranking)."""
        return self.hit.score

    def to_dict(self) -> dict[str, Any]:
        data = self.record.to_dict()
        data.pop("metadata", None)
        rerank = {} if self.rerank_score is None else {"rerank_score": _rounded(self.rerank_score)}
        return {
            "id": self.record.id,
            "rank": self.rank,
            "score": _rounded(self.hit.score),
            "strength": None if self.strength is None else round(self.strength, 4),
            "band": None if self.band is None else self.band.value,
            "similarity": _rounded(self.hit.dense),
            "lexical_score": _rounded(self.hit.lexical),
            "channel": (Channel.MULTILINGUAL if self.hit.multilingual else Channel.ENGLISH).value,
            **rerank,
            "kind": self.record.kind.value,
            **{key: value for key, value in data.items() if key != "id"},
            "explanation": (
                {**self.explanation.to_dict(), "scores": score_breakdown(self.hit, self.policy)}
                if self.explanation is not None
                else None
            ),
        }


@dataclass(frozen=True)
class MatchResult:
    request: MatchRequest
    matches: list[Match]
    candidates: int  # how many records of the target side passed the filters
    ranking: str = "base"  # "reranked" when the re-ranker learnt from outcomes ordered the matches

    @property
    def no_good_match(self) -> bool:
        """No match reaches the ``possible`` band (nothing at all counts too)."""
        return not any(match.band in (Band.STRONG, Band.POSSIBLE) for match in self.matches)

    def verdict(self) -> str:
        """One line a person reads before the cards."""
        if not self.matches:
            return "No good match: no candidate passed the filters and min_score"
        if self.no_good_match:
            best = max(match.strength or 0.0 for match in self.matches)
            return f"No good match: the best candidate is weak (strength {best:.2f})"
        counts = [(sum(match.band is band for match in self.matches), band.value) for band in Band]
        return ", ".join(f"{count} {name}" for count, name in counts if count) + (
            " match" if len(self.matches) == 1 else " matches"
        )

    def to_dict(self) -> dict[str, Any]:
        query: dict[str, Any] = {"direction": self.request.direction.value}
        if self.request.record_id is not None:
            query["id"] = self.request.record_id
        else:
            query["text"] = self.request.text
        return {
            "query": query,
            "top_k": self.request.top_k,
            "explain": self.request.explain,
            "min_score": self.request.min_score,
            "filters": self.request.filters,
            "candidates": self.candidates,
            "ranking": self.ranking,
            "no_good_match": self.no_good_match,
            "verdict": self.verdict(),
            "count": len(self.matches),
            "matches": [match.to_dict() for match in self.matches],
        }
