"""The real Matcher on an approximate index: "auto" with a threshold of one passage over the sample catalogue
(real model, FAISS, SQLite) gives about the matches the exact index gives, filtered or not, and saves its kind.

The sample catalogue is small (66 projects, one passage each), so settings force the approximate paths:
retrieval scores a candidate set (30 records from the index, BM25's best, a background sample of a few
records, where the default would score every record), an HNSW walk stops at 30 of the 66 nodes, one IVF
list is probed (at this size IVF has one list: its training needs 39 vectors a list), and a filter
passing 49 records runs inside the index search rather than as an exact scan.
"""

from __future__ import annotations

import pytest

from matcher.engine import open as open_matcher
from matcher.records import Kind
from matcher.retrieval import retrieve as retrieve_module

NEEDS = [f"N{number:03d}" for number in range(1, 31)]
TOP_K = 3


def ranked(matcher, **request) -> list[str]:
    """The ids of the best ``TOP_K`` matches, best first."""
    result = matcher.match(matcher.request(explain=False, top_k=TOP_K, **request))
    return [match.record.id for match in result.matches]


def agreeing(approximate, exact, **request) -> tuple[int, int]:
    """Of the needs ``NEEDS``: how many get the same best match, and the same top ``TOP_K`` (as a set)."""
    pairs = [
        (ranked(approximate, record_id=need, **request), ranked(exact, record_id=need, **request)) for need in NEEDS
    ]
    return sum(got[:1] == want[:1] for got, want in pairs), sum(set(got) == set(want) for got, want in pairs)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_matches_on_an_approximate_index_mostly_equal_the_exact_ones(
    copied_settings, sample_matcher, real_embedder, kind, monkeypatch
):
    """Measured (both kinds): best match 29 of 30, top 3 27 of 30; filtered: best 28, top 3 29 of 30."""
    monkeypatch.setattr(retrieve_module, "BACKGROUND_SAMPLE", 5)
    settings = copied_settings.replace(
        index_exact_below=1,
        index_approximate_kind=kind,
        dense_candidates=1,  # the floor, 10 x top_k, decides: 30 records
        ivf_nprobe=1,
        hnsw_ef_search=1,  # raised to the 30 passages asked for
        index_exact_filter_below=0,
    )
    approximate = open_matcher(settings, embedder=real_embedder)
    assert approximate.index(Kind.PROJECTS).vector.index_kind == kind
    assert sample_matcher.index(Kind.PROJECTS).vector.index_kind == "flat"
    best, top = agreeing(approximate, sample_matcher)
    assert best >= 26 and top >= 24, f"of {len(NEEDS)} needs: same best match {best}, same top {TOP_K} {top}"
    best, top = agreeing(approximate, sample_matcher, filters={"trl_min": 5})  # 49 of 66 pass
    assert best >= 26 and top >= 24, f"filtered, of {len(NEEDS)} needs: same best {best}, same top {TOP_K} {top}"
    text = "Porosity when laser welding aluminium battery trays"
    assert ranked(approximate, text=text)[:2] == ranked(sample_matcher, text=text)[:2]
    tight = {"trl_min": 7}  # 4 pass: scanned exactly
    filtered = ranked(approximate, text=text, filters=tight)
    assert filtered and filtered == ranked(sample_matcher, text=text, filters=tight)
    approximate.sync_index(Kind.PROJECTS, rebuild=True)
    assert approximate.store.manifest(Kind.PROJECTS)["index_kind"] == kind
