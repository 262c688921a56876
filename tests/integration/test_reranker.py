"""The re-ranker end to end with the real model, FAISS and SQLite, on a small slice of a real labelled set.

Needs ../shared/data/pap2pat-title (skipped without it). The slice: 30 dev-half queries as needs,
and as projects their relevant papers plus each query's 4 best BM25 papers from the whole corpus
(hard negatives found without encoding), about 140 papers in all.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from matcher.config import load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.evaluation.beir import BeirSet, load_beir
from matcher.evaluation.runner import in_split
from matcher.outcomes.pairs import Pair
from matcher.records import Kind
from matcher.reranking.dataset import base_ranking, need_query
from matcher.reranking.simulate import ingest_beir, record_outcomes, simulate_outcomes, subset
from matcher.reranking.training import train_reranker
from service.cli import main
from tests.conftest import REPO, SHARED_MODELS

PAP2PAT_TITLE = REPO.parent / "shared" / "data" / "pap2pat-title"
QUERIES = 30
NEIGHBOURS = 4
DEPTH = 10


@pytest.fixture(scope="module")
def slice_set() -> BeirSet:
    if not (PAP2PAT_TITLE / "qrels" / "test.tsv").is_file():
        pytest.skip(f"{PAP2PAT_TITLE} is absent: this test needs ../shared/data (see its README)")
    beir = load_beir(PAP2PAT_TITLE)
    chosen = sorted(query_id for query_id in beir.queries if in_split(query_id, "dev"))[:QUERIES]
    return subset(beir, chosen, NEIGHBOURS)


@pytest.fixture(scope="module")
def slice_dir(slice_set, tmp_path_factory, real_embedder):
    """A data folder with the slice ingested (indexes and explanation profiles made); treat as read-only."""
    data_dir = tmp_path_factory.mktemp("pap2pat-slice") / "var"
    matcher = open_matcher(
        load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False), embedder=real_embedder
    )
    ingest_beir(matcher, slice_set)
    return data_dir


@pytest.fixture
def slice_matcher(slice_dir, tmp_path, real_embedder) -> Matcher:
    data_dir = tmp_path / "var"
    shutil.copytree(slice_dir, data_dir)
    return open_matcher(
        load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False), embedder=real_embedder
    )


def _base_top(matcher: Matcher, need_id: str, depth: int) -> list[str]:
    hits = base_ranking(matcher, need_query(matcher, need_id), depth)
    records = matcher.catalogue.by_keys(Kind.PROJECTS, [hit.key for hit in hits])
    return [records[hit.key].id for hit in hits]


def test_the_slice_is_small_and_keeps_every_relevant_paper(slice_set):
    assert len(slice_set.queries) == QUERIES and len(slice_set.corpus) <= QUERIES * (NEIGHBOURS + 1)
    ids = {doc.id for doc in slice_set.corpus}
    assert all(set(labels) <= ids for labels in slice_set.qrels.values())


def test_outcomes_simulated_from_qrels_train_a_reranker_that_is_used_only_when_it_gains(slice_matcher, slice_set):
    matcher = slice_matcher
    outcomes = simulate_outcomes(matcher, slice_set.qrels, sorted(slice_set.queries), depth=DEPTH, seed=13)
    assert record_outcomes(matcher, outcomes) == len(outcomes) == QUERIES * DEPTH
    found = sum(outcome.label for outcome in outcomes)
    assert 0 < found <= QUERIES  # one relevant paper per query, found when in the top DEPTH
    assert all(o.decline_reason == "not_relevant" for o in outcomes if not o.label)

    report = train_reranker(matcher, folds=3, seed=13)
    assert report.counts["pairs"] == QUERIES * DEPTH and report.counts["positives"] == found
    assert report.folds == 3 and {result.model for result in report.results} == {"logistic", "boosting"}
    for result in report.results:
        assert len(result.folds) == 3
        assert sum(fold.needs for fold in result.folds) == report.counts["evaluable_needs"]
        assert result.gain == pytest.approx(np.mean([fold.reranked - fold.base for fold in result.folds]))
        assert 0 < result.base <= 1
    beating = [result for result in report.results if result.beats_base]
    assert report.best.gain == max(result.gain for result in beating or report.results)

    path = matcher.settings.reranker_path
    assert report.saved == bool(beating) == path.exists()
    need = sorted(slice_set.queries)[0]
    result = matcher.match(matcher.request(record_id=need, top_k=5))
    assert result.ranking == ("reranked" if report.saved else "base")
    assert matcher.health()["ranking"]["reranker"]["used"] is report.saved
    if report.saved:
        assert json.loads(path.read_text())["cv"]["gain"] == pytest.approx(report.best.gain, abs=1e-4)


def test_a_reranker_that_gains_is_used_and_one_that_does_not_is_removed(slice_matcher, slice_set):
    matcher = slice_matcher
    needs = sorted(slice_set.queries)
    tops = {need: _base_top(matcher, need, DEPTH) for need in needs}
    # Outcomes that contradict the base ranking: its last three of ten were the good ones.
    reversed_labels = {
        Pair(project, need): position >= 7 for need, top in tops.items() for position, project in enumerate(top)
    }
    report = train_reranker(matcher, folds=3, labels=reversed_labels, models=("logistic",))
    assert report.saved and report.best.gain > 0.3 and matcher.settings.reranker_path.exists()

    need = needs[0]
    base = open_matcher(matcher.settings.replace(use_reranker=False), embedder=matcher.embedder)
    before = base.match(base.request(record_id=need, top_k=5))
    after = matcher.match(matcher.request(record_id=need, top_k=5))
    assert before.ranking == "base" and after.ranking == "reranked"
    assert [m.record.id for m in before.matches] == tops[need][:5]
    assert after.matches[0].record.id != before.matches[0].record.id
    assert {m.record.id for m in after.matches} <= set(_base_top(matcher, need, matcher.settings.rerank_depth))
    scores = [m.rerank_score for m in after.matches]
    assert all(score is not None for score in scores) and scores == sorted(scores, reverse=True)
    assert all(m.explanation is not None for m in after.matches)
    body = after.to_dict()
    assert body["ranking"] == "reranked" and "rerank_score" in body["matches"][0]
    text = matcher.match(matcher.request(text=slice_set.queries[need], top_k=5))
    assert text.ranking == "base"  # free text is not what the re-ranker was trained and measured on
    health = matcher.health()["ranking"]["reranker"]
    assert health["used"] is True and health["cv_gain"] > 0
    printed = CliRunner().invoke(
        main, ["--quiet", "--data-dir", str(matcher.settings.data_dir), "match", "--need-id", need]
    )
    assert printed.exit_code == 0 and printed.output.splitlines()[1].startswith(
        "Ordered by the re-ranker learnt from recorded outcomes"
    )
    first = after.matches[0]
    assert f"  1. {first.band.value:<8} {first.strength:.2f}  {first.record.id}" in printed.output

    # Outcomes that agree with the base ranking exactly (its first two were the good ones): nothing can gain.
    agreeing = {Pair(project, need): position < 2 for need, top in tops.items() for position, project in enumerate(top)}
    report = train_reranker(matcher, folds=3, labels=agreeing)
    assert not report.saved and report.best.gain <= 0 and "removed" in report.message
    assert not matcher.settings.reranker_path.exists()
    assert matcher.match(matcher.request(record_id=need, top_k=5)).ranking == "base"
    assert matcher.health()["ranking"]["reranker"]["used"] is False


def test_train_reranker_command_prints_folds_and_refuses_too_few_outcomes(slice_matcher, slice_set):
    data_dir = str(slice_matcher.settings.data_dir)
    runner = CliRunner()
    refused = runner.invoke(main, ["--quiet", "--data-dir", data_dir, "train-reranker"])
    assert refused.exit_code == 1
    assert "Too few labelled outcomes to train a re-ranker: 0 pairs" in refused.output
    assert not slice_matcher.settings.reranker_path.exists()

    outcomes = simulate_outcomes(slice_matcher, slice_set.qrels, sorted(slice_set.queries), depth=DEPTH, seed=13)
    record_outcomes(slice_matcher, outcomes)
    result = runner.invoke(main, ["--quiet", "--data-dir", data_dir, "train-reranker", "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert f"{QUERIES * DEPTH} labelled pairs" in result.output and "3 folds grouped by need" in result.output
    assert result.output.count("  fold ") == 6  # three per model
    assert ("Saved the" in result.output) == slice_matcher.settings.reranker_path.exists()
    body = json.loads(
        runner.invoke(main, ["--quiet", "--data-dir", data_dir, "train-reranker", "--folds", "3", "--json"]).output
    )
    assert body["folds"] == 3 and body["saved"] == any(model["beats_base"] for model in body["models"])
    assert [len(model["per_fold"]) for model in body["models"]] == [3, 3]
