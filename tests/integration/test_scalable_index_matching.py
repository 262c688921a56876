"""The real Matcher on an approximate index: "auto" with a threshold of one passage over the sample catalogue
(real model, FAISS, SQLite) gives the matches the exact index gives, filtered or not, and saves its kind."""

from __future__ import annotations

import pytest

from matcher.engine import open as open_matcher
from matcher.records import Kind

NEEDS = ["N001", "N010", "N027", "N040"]


def ranked(matcher, **request) -> list[tuple[str, float]]:
    """The matches' ids and strengths, to 4 places: the graph's exact re-scoring of candidates is one
    matrix product where the flat scan sums in FAISS's SIMD order (they differ at 1e-6)."""
    result = matcher.match(matcher.request(explain=False, **request))
    return [(match.record.id, round(match.strength, 4)) for match in result.matches]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_matches_on_an_approximate_index_equal_the_exact_ones(copied_settings, sample_matcher, real_embedder, kind):
    settings = copied_settings.replace(index_exact_below=1, index_approximate_kind=kind)
    approximate = open_matcher(settings, embedder=real_embedder)
    assert approximate.index(Kind.PROJECTS).vector.index_kind == kind
    assert sample_matcher.index(Kind.PROJECTS).vector.index_kind == "flat"
    for need in NEEDS:
        assert ranked(approximate, record_id=need, top_k=5) == ranked(sample_matcher, record_id=need, top_k=5), need
    text = "Porosity when laser welding aluminium battery trays"
    assert ranked(approximate, text=text, top_k=5) == ranked(sample_matcher, text=text, top_k=5)
    tight = {"trl_min": 7}
    filtered = ranked(approximate, text=text, top_k=5, filters=tight)
    assert filtered and filtered == ranked(sample_matcher, text=text, top_k=5, filters=tight)
    approximate.sync_index(Kind.PROJECTS, rebuild=True)
    assert approximate.store.manifest(Kind.PROJECTS)["index_kind"] == kind
