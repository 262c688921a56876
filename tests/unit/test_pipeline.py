"""The match as a pipeline: ranking stages named by configuration, and the composition root's factories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from matcher import engine
from matcher.engine import open as open_matcher
from matcher.errors import ConfigError
from matcher.pipeline.query import Query
from matcher.pipeline.request import MatchRequest
from matcher.pipeline.stages import Hit, apply_stage
from matcher.records import Kind, Record
from matcher.retrieval.ranking import Ranked
from tests.unit.test_engine import NEEDS, PROJECTS, write_jsonl


class ByTitleLength:
    """A stage for tests: the longest title first, over the first ``depth`` hits; it reads explanations."""

    name = "by_title_length"
    needs_explanations = True

    def __init__(self, depth: int = 3) -> None:
        self._depth = depth
        self.seen: list[list[str]] = []

    def depth(self, request: MatchRequest) -> int:
        return self._depth

    def rerank(self, query: Query, hits: Sequence[Hit]) -> Sequence[float] | None:
        assert all(hit.explanation is not None for hit in hits)
        self.seen.append([hit.record.id for hit in hits])
        return [float(len(hit.record.title)) for hit in hits]

    def status(self) -> dict[str, Any]:
        return {"used": True}


def _hit(key: int, title: str) -> Hit:
    return Hit(Ranked(key, 1.0 - key / 10, 0.5, 0.0), Record(Kind.PROJECTS, f"P{key}", title, "body"))


class Fixed:
    name, needs_explanations = "fixed", False

    def __init__(self, scores: list[float] | None) -> None:
        self.scores = scores

    def depth(self, request: MatchRequest) -> int:
        return 3

    def rerank(self, query: Query, hits: Sequence[Hit]) -> Sequence[float] | None:
        return self.scores

    def status(self) -> dict[str, Any]:
        return {}


def test_apply_stage_reorders_only_the_first_hits_and_keeps_ties_in_order():
    hits = [_hit(key, "t") for key in range(5)]
    reordered = apply_stage(Fixed([0.1, 0.9, 0.1]), None, hits, 3)  # type: ignore[arg-type]
    assert [hit.ranked.key for hit in reordered] == [1, 0, 2, 3, 4]
    assert [hit.stage_score for hit in reordered] == [0.9, 0.1, 0.1, None, None]
    assert apply_stage(Fixed(None), None, hits, 3) == hits  # type: ignore[arg-type]


def test_a_stage_named_in_the_settings_reorders_matches(settings, fake_embedder, tmp_path, monkeypatch):
    stage = ByTitleLength()
    monkeypatch.setitem(engine.STAGES, stage.name, lambda settings, embedder: stage)
    configured = settings.replace(ranking_stages=f"reranker, {stage.name}")
    matcher = open_matcher(configured, embedder=fake_embedder)
    matcher.ingest_file(write_jsonl(tmp_path / "p.jsonl", PROJECTS), Kind.PROJECTS)
    matcher.ingest_file(write_jsonl(tmp_path / "n.jsonl", NEEDS), Kind.NEEDS)
    base = open_matcher(settings, embedder=fake_embedder).match(
        MatchRequest.build(settings, record_id="N1", top_k=4, explain=False)
    )
    result = matcher.match(MatchRequest.build(configured, record_id="N1", top_k=4, explain=False))
    first = [match.record.id for match in base.matches[:3]]
    assert stage.seen == [first]
    titles = {match.record.id: match.record.title for match in base.matches}
    assert [match.record.id for match in result.matches[:3]] == sorted(
        first, key=lambda i: (-len(titles[i]), first.index(i))
    )
    assert result.matches[3].record.id == base.matches[3].record.id
    assert result.ranking == "reranked" and base.ranking == "base"
    assert [match.record.id for match in result.matches[:3]] != first  # the stage did move them
    assert result.to_dict()["matches"][0]["rerank_score"] == len(titles[result.matches[0].record.id])
    assert all(match.explanation is None for match in result.matches)  # made for the stage, not returned


@pytest.mark.parametrize(
    ("setting", "value"),
    [("embedding_backend", "onnx-someday"), ("index_kind", "hnsw-someday"), ("ranking_stages", "reranker,oracle")],
)
def test_unknown_backends_and_stages_are_named_config_errors(settings, setting, value):
    with pytest.raises(ConfigError) as caught:
        open_matcher(settings.replace(**{setting: value}))
    assert caught.value.details["setting"] == setting
