"""Match strength: the logistic model per pair kind, bands, the JSON it ships as, and whole rows at once."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.errors import ConfigError
from matcher.retrieval.channels import DenseScores
from matcher.retrieval.ranking import Ranked
from matcher.strength.model import (
    Band,
    Bands,
    Logistic,
    PairKind,
    StrengthModel,
    bundled_model,
    pair_kind,
    row_strengths,
)

MODEL = StrengthModel(
    {
        PairKind.ENGLISH: Logistic((10.0, 0.5, 1.0, 0.2, 0.3), -8.0),
        PairKind.CROSS: Logistic((6.0, 0.3, 2.0, 0.1, 0.1), -6.0),
    },
    {PairKind.ENGLISH: Bands(0.4, 0.75), PairKind.CROSS: Bands(0.6, 0.8)},
)


def hit(
    dense: float, z: float, lead: float, multilingual: bool = False, lexical_z: float = 0.0, lexical_lead: float = 0.0
) -> Ranked:
    return Ranked(
        1,
        0.0,
        dense,
        None,
        dense_z=z,
        lead_z=lead,
        lexical_z=lexical_z,
        lexical_lead_z=lexical_lead,
        multilingual=multilingual,
    )


def test_pair_kinds_follow_channel_and_languages():
    assert pair_kind("en", "en", False) is PairKind.ENGLISH
    assert pair_kind("zh", "en", True) is PairKind.CROSS
    assert pair_kind("en", "zh", True) is PairKind.CROSS
    assert pair_kind("zh", "zh", True) is PairKind.CHINESE


def test_strength_rises_with_similarity_and_lead_and_bands_cut_it():
    weak, strong = (
        MODEL.strength(hit(0.3, 1.0, -0.5), PairKind.ENGLISH),
        MODEL.strength(hit(0.8, 6, 2), PairKind.ENGLISH),
    )
    assert 0 < weak < 0.4 < 0.75 < strong < 1
    english = PairKind.ENGLISH
    assert MODEL.band(weak, english) is Band.WEAK and MODEL.band(strong, english) is Band.STRONG
    # Each kind has its own bands; Chinese pairs take the cross-language ones.
    assert MODEL.band(0.5, english) is Band.POSSIBLE and MODEL.band(0.5, PairKind.CHINESE) is Band.WEAK
    # Chinese pairs without a model of their own use the cross-language one (the same channel).
    assert MODEL.strength(hit(0.5, 3, 1, True), PairKind.CHINESE) == MODEL.strength(
        hit(0.5, 3, 1, True), PairKind.CROSS
    )


def test_the_model_round_trips_through_json_and_refuses_a_broken_one():
    assert StrengthModel.from_dict(MODEL.to_dict()) == MODEL
    broken = {**MODEL.to_dict(), "features": ["dense"]}
    with pytest.raises(ConfigError, match="features"):
        StrengthModel.from_dict(broken)
    with pytest.raises(ConfigError, match="en-en and cross"):
        StrengthModel.from_dict({**MODEL.to_dict(), "kinds": {}})
    document = MODEL.to_dict()
    document["kinds"]["cross"]["bands"]["possible"] = 0.9  # above its strong band
    with pytest.raises(ConfigError, match="possible <= strong"):
        StrengthModel.from_dict(document)


def test_the_bundled_model_reads_and_orders_its_bands():
    model = bundled_model()
    assert set(model.models) >= {PairKind.ENGLISH, PairKind.CROSS}
    assert all(0 < bands.possible <= bands.strong < 1 for bands in model.bands.values())


def test_row_strengths_equal_the_strength_of_each_hit():
    scores = np.asarray([0.2, 0.75, 0.4, 0.1, 0.55], dtype=np.float32)
    keys = np.arange(1, 6)
    multilingual = np.asarray([False, True, False, False, True])
    row = DenseScores(keys, scores, multilingual, None, None)
    languages = {1: "en", 2: "zh", 3: "en", 4: "en", 5: "zh"}
    lexical = np.asarray([0.0, 3.0, 1.0, 0.0, 6.0], dtype=np.float32)
    got = row_strengths(MODEL, row, lexical, "en", languages)
    mean, spread = float(scores.mean()), float(scores.std())
    lexical_mean, lexical_spread = float(lexical.mean()), float(lexical.std())
    for position, score in enumerate(scores.tolist()):
        other = 0.55 if position == 1 else 0.75
        lexical_other = 3.0 if position == 4 else 6.0
        words = float(lexical[position])
        one = hit(
            score,
            (score - mean) / spread,
            (score - other) / spread,
            bool(multilingual[position]),
            (words - lexical_mean) / lexical_spread,
            (words - lexical_other) / lexical_spread,
        )
        kind = pair_kind("en", languages[position + 1], bool(multilingual[position]))
        assert got[position] == pytest.approx(MODEL.strength(one, kind), rel=1e-5)
