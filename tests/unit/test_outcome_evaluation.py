"""evaluate-outcomes on a small hand-made set, every figure computed by hand.

Latest outcome per pair (score; * = no score recorded with the latest outcome):

    N1: P1 agreement .82, P2 meeting .74, P3 declined .66, P4 declined .58, P5 contacted .55 (pending)
    N2: P1 declined .71, P2 agreement .637, P3 declined .52* (an earlier meeting recorded .52),
        P6 meeting (no score at all: the current similarity, .35, is looked up)
    N3: P8 meeting .41* (contacted earlier with .41)

10 pairs: contacted 1, meeting 3, agreement 2, declined 4; 9 labelled, 5 positive, 4 negative.
precision@2 per need: N1 {P1+, P2+} = 1, N2 {P1-, P2+} = 0.5, N3 {P8+} = 1 (one labelled pair);
mean 2.5 / 3 = 0.8333, pooled 4 / 5 = 0.8. Positive rate 5 / 9.
"""

from __future__ import annotations

import pytest

from matcher.errors import InvalidInput
from matcher.outcomes.evaluation import evaluate_outcomes
from matcher.outcomes.store import AgreementType, DeclineReason, Outcome, OutcomeStatus

_ids = iter(range(1, 1000))


def outcome(project: str, need: str, status: str, score: float | None, day: int = 10, **extra) -> Outcome:
    return Outcome(
        id=next(_ids),
        project_id=project,
        need_id=need,
        status=OutcomeStatus(status),
        agreement_type=AgreementType.LICENCE if status == "agreement" else None,
        decline_reason=DeclineReason(extra.get("reason", "not_relevant")) if status == "declined" else None,
        note="",
        score=score,
        plan_id=None,
        author="staff",
        recorded_at=f"2024-04-{day:02d}T09:00:00+00:00",
    )


OUTCOMES = [
    outcome("P1", "N1", "agreement", 0.82),
    outcome("P2", "N1", "meeting", 0.74),
    outcome("P3", "N1", "declined", 0.66),
    outcome("P4", "N1", "declined", 0.58, reason="no_budget"),
    outcome("P5", "N1", "contacted", 0.55),
    outcome("P1", "N2", "declined", 0.71),
    outcome("P2", "N2", "agreement", 0.637),
    outcome("P3", "N2", "declined", None, day=12, reason="too_early_stage"),
    outcome("P3", "N2", "meeting", 0.52, day=11),
    outcome("P6", "N2", "meeting", None),
    outcome("P8", "N3", "meeting", None, day=12),
    outcome("P8", "N3", "contacted", 0.41, day=1),
]


class Lookup:
    """Current similarities for pairs recorded without a score; remembers what it was asked."""

    def __init__(self, scores: dict[tuple[str, str], float]) -> None:
        self.scores = scores
        self.asked: list[tuple[str, str]] = []

    def __call__(self, pairs):
        self.asked.extend(pairs)
        return {pair: self.scores[pair] for pair in pairs if pair in self.scores}


def test_counts_precision_and_rates_match_the_hand_computed_figures():
    lookup = Lookup({("P6", "N2"): 0.35})
    report = evaluate_outcomes(OUTCOMES, lookup, k=2, keep=0.6, min_labelled=5)
    assert lookup.asked == [("P6", "N2")]  # every other pair has a recorded score in its history
    assert report.enough and report.message == ""
    assert report.counts == {"contacted": 1, "meeting": 3, "agreement": 2, "declined": 4}
    assert (report.pairs, report.labelled, report.positives, report.negatives, report.pending, report.unscored) == (
        10,
        9,
        5,
        4,
        1,
        0,
    )
    assert report.positive_rate == pytest.approx(5 / 9)
    assert report.precision_at_k == pytest.approx(2.5 / 3)
    assert report.precision_at_k_pooled == pytest.approx(4 / 5)
    assert report.needs_evaluated == 3


def test_score_bands_count_labelled_positive_agreement_and_pending():
    report = evaluate_outcomes(OUTCOMES, Lookup({("P6", "N2"): 0.35}), k=2, keep=0.6, min_labelled=5)
    bands = [(b.low, b.high, b.labelled, b.positives, b.agreements, b.declined, b.pending) for b in report.bands]
    assert bands == [
        (0.3, 0.4, 1, 1, 0, 0, 0),  # P6-N2
        (0.4, 0.5, 1, 1, 0, 0, 0),  # P8-N3
        (0.5, 0.6, 2, 0, 0, 2, 1),  # P4-N1, P3-N2; P5-N1 pending
        (0.6, 0.7, 2, 1, 1, 1, 0),  # P3-N1, P2-N2
        (0.7, 0.8, 2, 1, 0, 1, 0),  # P2-N1, P1-N2
        (0.8, 0.9, 1, 1, 1, 0, 0),  # P1-N1
    ]
    six = report.bands[3]
    assert (six.positive_rate, six.agreement_rate) == (0.5, 0.5)
    assert report.bands[2].positive_rate == 0.0


@pytest.mark.parametrize(
    ("keep", "min_score", "kept", "removed"),
    [
        (0.6, 0.63, 3, 2),  # 3 of 5 positives: the 3rd best is .637 -> 0.63; declined .58 and .52 go
        (0.9, 0.35, 5, 0),  # ceil(4.5) = 5: every positive, so the lowest (.35); no decline is that low
        (0.8, 0.41, 4, 0),  # 4 of 5: .41
        (0.2, 0.82, 1, 4),  # 1 of 5: the best positive only; every decline goes
    ],
)
def test_recommended_min_score_keeps_the_share_of_positives(keep, min_score, kept, removed):
    report = evaluate_outcomes(OUTCOMES, Lookup({("P6", "N2"): 0.35}), k=2, keep=keep, min_labelled=5)
    calibration = report.calibration
    assert calibration is not None
    assert (calibration.min_score, calibration.positives_kept, calibration.negatives_removed) == (
        min_score,
        kept,
        removed,
    )
    assert (calibration.positives, calibration.negatives, calibration.keep) == (5, 4, keep)


def test_pairs_without_any_score_are_counted_but_left_out_of_the_figures():
    report = evaluate_outcomes(OUTCOMES, Lookup({}), k=2, keep=0.6, min_labelled=5)  # P6-N2's records are gone
    assert report.unscored == 1 and report.labelled == 9
    assert sum(band.labelled for band in report.bands) == 8
    assert report.precision_at_k == pytest.approx((1 + 0.5 + 1) / 3)  # N2's top 2 is unchanged
    assert report.calibration is not None and report.calibration.positives == 4


def test_too_few_labelled_outcomes_are_said_plainly():
    report = evaluate_outcomes(OUTCOMES, Lookup({("P6", "N2"): 0.35}), min_labelled=10)
    assert not report.enough
    assert report.message.startswith(
        "Only 9 pairs have a final outcome (meeting, agreement or declined); at least 10 are needed"
    )
    assert report.precision_at_k is None and report.bands == [] and report.calibration is None
    assert report.counts["declined"] == 4
    data = report.to_dict()
    assert data["enough"] is False and data["calibration"] is None


def test_too_few_scored_outcomes_are_said_plainly():
    report = evaluate_outcomes(OUTCOMES, Lookup({}), min_labelled=9)
    assert not report.enough and report.unscored == 1
    assert report.message.startswith("Only 8 of the 9 pairs with a final outcome have a score")


def test_no_positive_outcome_gives_no_min_score():
    declines = [outcome(f"P{i}", "N1", "declined", 0.5) for i in range(3)]
    report = evaluate_outcomes(declines, None, min_labelled=3)
    assert report.enough and report.calibration is None and report.precision_at_k == 0.0
    assert "no min_score" in report.message


def test_to_dict_has_every_figure():
    data = evaluate_outcomes(OUTCOMES, Lookup({("P6", "N2"): 0.35}), k=2, keep=0.6, min_labelled=5).to_dict()
    assert data["calibration"] == {
        "min_score": 0.63,
        "keep": 0.6,
        "positives": 5,
        "positives_kept": 3,
        "negatives": 4,
        "negatives_removed": 2,
    }
    assert data["bands"][0] == {
        "low": 0.3,
        "high": 0.4,
        "labelled": 1,
        "positives": 1,
        "agreements": 0,
        "declined": 0,
        "pending": 0,
        "positive_rate": 1.0,
        "agreement_rate": 0.0,
    }
    assert data["precision_at_k"] == pytest.approx(2.5 / 3)


@pytest.mark.parametrize(("k", "keep", "parameter"), [(0, 0.9, "k"), (5, 0, "keep"), (5, 1.5, "keep")])
def test_bad_parameters_are_named(k, keep, parameter):
    with pytest.raises(InvalidInput) as caught:
        evaluate_outcomes(OUTCOMES, None, k=k, keep=keep)
    assert caught.value.details == {"parameter": parameter}
