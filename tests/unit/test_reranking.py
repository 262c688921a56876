"""Re-ranker logic: metrics, features, folds, cross-validation and the JSON model (no engine)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from matcher.errors import InvalidInput
from matcher.evaluation.metrics import average_precision, ndcg, ordered_labels
from matcher.explanation.explain import Explanation
from matcher.explanation.terms import SharedTerm, TermPlaces
from matcher.outcomes.pairs import Pair
from matcher.records import Kind, Record
from matcher.reranking.dataset import Dataset, latest_labels
from matcher.reranking.features import FEATURES, Candidate, pair_features
from matcher.reranking.model import Linear, RerankerModel, Trees, load_model
from matcher.reranking.training import (
    CrossValidation,
    FoldResult,
    NotEnoughOutcomes,
    check_enough,
    compare,
    cross_validate,
    fit,
    grouped_folds,
)
from matcher.retrieval.ranking import Ranked


def test_average_precision_and_ndcg_of_ranked_labels():
    assert average_precision([True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([False, False]) == 0.0
    assert ndcg([True, False]) == 1.0
    assert ndcg([False, True]) == pytest.approx(1 / np.log2(3))


def test_ordered_labels_break_ties_by_base_rank():
    labels = np.array([False, True, False])
    assert ordered_labels(labels, np.array([1.0, 1.0, 2.0]), np.array([1, 2, 3])) == [False, False, True]
    assert ordered_labels(labels, np.array([1.0, 1.0, 0.0]), np.array([2, 1, 3])) == [True, False, False]


def _candidate(project: Record, rank: int = 1, shared_weights: tuple[float, ...] = ()) -> Candidate:
    shared = [
        SharedTerm(f"t{i}", weight, TermPlaces(f"t{i}", []), TermPlaces(f"t{i}", []))
        for i, weight in enumerate(shared_weights)
    ]
    explanation = Explanation(shared, [], None, "")
    return Candidate(rank, Ranked(1, 0.8, 0.6, 12.0, 0.5, 0.3), project, explanation)


def test_pair_features_read_fields_trl_and_region_case_insensitively():
    need = Record(Kind.NEEDS, "N1", "t", "d", {"industry": "Automotive", "region": "Dalian"})
    project = Record(
        Kind.PROJECTS, "P1", "t", "a", {"fields": ["automotive", "energy"], "trl": 6}, {"region": "dalian"}
    )
    values = dict(zip(FEATURES, pair_features(need, _candidate(project, rank=3, shared_weights=(2.0, 1.0)))))
    assert len(values) == len(FEATURES)
    assert values["field_match"] == 1.0 and values["field_unknown"] == 0.0
    assert values["region_match"] == 1.0 and values["region_unknown"] == 0.0
    assert values["trl"] == pytest.approx(6 / 9) and values["trl_missing"] == 0.0
    assert values["log_rank"] == pytest.approx(np.log(3))
    assert values["shared_weight"] == pytest.approx(np.log1p(3.0)) and values["shared_terms"] == 2.0
    assert values["dense"] == 0.6 and values["lexical"] == pytest.approx(np.log1p(12.0)) and values["fused"] == 0.8


def test_pair_features_mark_missing_fields_unknown():
    project = Record(Kind.PROJECTS, "P1", "t", "a", {"fields": ["optics"]})
    values = dict(zip(FEATURES, pair_features(None, _candidate(project))))
    assert values["field_unknown"] == 1.0 and values["field_match"] == 0.0
    assert values["region_unknown"] == 1.0 and values["trl_missing"] == 1.0 and values["trl"] == 0.0
    need = Record(Kind.NEEDS, "N1", "t", "d", {"industry": "automotive"})
    assert dict(zip(FEATURES, pair_features(need, _candidate(project))))["field_match"] == 0.0


@dataclass
class _Outcome:
    id: int
    need_id: str
    project_id: str
    recorded_at: str
    label: bool | None


def test_latest_labels_take_each_pairs_latest_outcome_and_leave_pending_pairs_out():
    outcomes = [
        _Outcome(3, "N1", "P1", "2026-01-02T00:00:00+00:00", False),
        _Outcome(1, "N1", "P1", "2026-01-01T00:00:00+00:00", True),
        _Outcome(5, "N1", "P2", "2026-01-01T00:00:00+00:00", True),
        _Outcome(6, "N1", "P2", "2026-01-01T00:00:00+00:00", None),  # same time, later id: contacted again
        _Outcome(7, "N2", "P1", "2026-01-01T00:00:00+00:00", True),
    ]
    assert latest_labels(outcomes) == {
        Pair(project_id="P1", need_id="N1"): False,
        Pair(project_id="P1", need_id="N2"): True,
    }


def _dataset(needs: int, per_need: int, seed: int, signal: str) -> Dataset:
    """Each need has one positive among ``per_need`` candidates. ``signal``: what reveals it.

    "feature": feature 0 is high for the positive while the base rank is random;
    "base": the base ranking puts the positive first and the features are noise.
    """
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(needs * per_need, len(FEATURES)))
    labels = np.zeros(needs * per_need, dtype=bool)
    ranks = np.zeros(needs * per_need, dtype=np.int64)
    for need in range(needs):
        rows = slice(need * per_need, (need + 1) * per_need)
        ranks[rows] = rng.permutation(per_need) + 1
        positive = need * per_need + (int(np.argmin(ranks[rows])) if signal == "base" else int(rng.integers(per_need)))
        labels[positive] = True
        if signal == "feature":
            features[positive, 0] += 4.0
    groups = np.asarray([f"N{i // per_need}" for i in range(needs * per_need)], dtype=object)
    return Dataset(features, labels, groups, [f"P{i}" for i in range(needs * per_need)], ranks)


def test_grouped_folds_keep_each_need_in_one_fold_and_spread_evaluable_needs():
    dataset = _dataset(needs=10, per_need=5, seed=1, signal="feature")
    folds = grouped_folds(dataset, 3, seed=7)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(dataset)))
    owners = [set(dataset.needs[rows].tolist()) for rows in folds]
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :])
    assert sorted(len(needs) for needs in owners) == [3, 3, 4]


def test_cross_validation_finds_a_gain_where_a_feature_knows_more_than_the_base_ranking():
    dataset = _dataset(needs=40, per_need=8, seed=2, signal="feature")
    result = cross_validate(dataset, "logistic", folds=4, seed=13)
    assert len(result.folds) == 4 and sum(fold.needs for fold in result.folds) == 40
    assert result.gain > 0.3 and all(fold.gain > 0 for fold in result.folds)
    assert result.to_dict()["per_fold"][0]["gain"] == pytest.approx(result.folds[0].gain, abs=1e-4)


def test_a_gain_within_its_standard_error_does_not_beat_the_base_ranking():
    def folds(*gains: float) -> CrossValidation:
        return CrossValidation("m", "map", [FoldResult(i, 5, 50, 0.5, 0.5 + gain) for i, gain in enumerate(gains, 1)])

    assert folds(0.01, 0.02, 0.015).beats_base
    noisy = folds(0.02, -0.015, 0.001)
    assert noisy.gain > 0 and noisy.gain < noisy.gain_se and not noisy.beats_base
    assert not folds(0.0, 0.0, 0.0).beats_base


def test_no_model_can_beat_a_base_ranking_that_is_already_perfect():
    dataset = _dataset(needs=30, per_need=6, seed=3, signal="base")
    for name in ("logistic", "boosting"):
        result = cross_validate(dataset, name, folds=3, seed=13)
        assert result.base == 1.0 and result.gain <= 0 and not result.beats_base


def test_too_few_outcomes_are_refused_with_the_counts():
    dataset = _dataset(needs=2, per_need=5, seed=4, signal="feature")
    with pytest.raises(NotEnoughOutcomes, match=r"10 labelled pairs \(at least 20 needed\)") as caught:
        check_enough(dataset, 5)
    assert caught.value.details["evaluable_needs"] == 2
    with pytest.raises(InvalidInput, match="'folds' must be at least 2"):
        check_enough(_dataset(needs=5, per_need=5, seed=4, signal="feature"), 1)
    assert check_enough(_dataset(needs=3, per_need=8, seed=4, signal="feature"), 5) == 3


def test_saved_models_score_as_scikit_learn_does(tmp_path):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    dataset = _dataset(needs=30, per_need=6, seed=5, signal="feature")
    x, y = dataset.features, dataset.labels.astype(int)
    linear = fit("logistic", dataset)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=1.0, max_iter=5000).fit(scaler.transform(x), y)
    assert np.allclose(linear.raw(x), reference.decision_function(scaler.transform(x)))
    trees = fit("boosting", dataset)
    boosted = GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=13).fit(x, y)
    assert np.allclose(trees.raw(x), boosted.decision_function(x))

    for scorer in (linear, trees):
        model = RerankerModel("m", scorer, {"gain": 0.01}, dataset.counts(), "model-a", "hybrid", "2026-01-01")
        path = tmp_path / "reranker.json"
        model.save(path)
        assert json.loads(path.read_text())["format"] == "techmatch-reranker"  # plain JSON, not a pickle
        loaded = load_model(path)
        assert loaded is not None and np.allclose(loaded.score(x), scorer.raw(x))


def test_a_model_is_unusable_without_gain_or_under_another_model_or_ranking(tmp_path):
    scorer = Linear([0.0] * len(FEATURES), [1.0] * len(FEATURES), [1.0] * len(FEATURES), 0.0)
    model = RerankerModel("logistic", scorer, {"gain": 0.02}, {}, "model-a", "hybrid x", "2026-01-01")
    assert model.unusable_because("model-a", "hybrid x") is None
    assert "embedding model" in model.unusable_because("model-b", "hybrid x")
    assert "base ranking" in model.unusable_because("model-a", "dense")
    no_gain = RerankerModel("logistic", scorer, {"gain": 0.0}, {}, "model-a", "hybrid x", "2026-01-01")
    assert "not positive" in no_gain.unusable_because("model-a", "hybrid x")
    path = tmp_path / "reranker.json"
    assert load_model(path) is None
    path.write_text("{not json")
    assert load_model(path) is None
    path.write_text(json.dumps({"format": "techmatch-reranker", "format_version": 1, "kind": "forest"}))
    assert load_model(path) is None


def test_trees_follow_thresholds_to_their_leaves():
    tree = {
        "feature": [0, -2, -2],
        "threshold": [0.5, -2.0, -2.0],
        "left": [1, -1, -1],
        "right": [2, -1, -1],
        "value": [0.0, -1.0, 3.0],
    }
    scores = Trees(init=0.5, rate=0.1, trees=[tree]).raw(np.array([[0.0], [0.5], [0.9]]))
    assert np.allclose(scores, [0.4, 0.4, 0.8])


def test_compare_measures_only_needs_with_both_labels():
    dataset = _dataset(needs=4, per_need=3, seed=6, signal="feature")
    one_label = Dataset(
        np.vstack([dataset.features, np.zeros((2, len(FEATURES)))]),
        np.concatenate([dataset.labels, [False, False]]),
        np.concatenate([dataset.needs, np.asarray(["N9", "N9"], dtype=object)]),
        [*dataset.projects, "Px", "Py"],
        np.concatenate([dataset.base_ranks, [1, 2]]),
    )
    assert one_label.evaluable_needs() == ["N0", "N1", "N2", "N3"]
    base, reranked, needs = compare(one_label, one_label.features[:, 0])
    assert needs == 4 and reranked == 1.0 and base <= 1.0
