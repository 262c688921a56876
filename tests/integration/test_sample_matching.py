"""On the sample data, with the real model: the clearly right project comes first, with reasons."""

from __future__ import annotations

import csv

import pytest

from matcher.embedding.encoder import SentenceTransformerEmbedder
from matcher.engine import Matcher, open as open_matcher
from matcher.errors import IndexMismatch, Unavailable
from matcher.records import Kind
from tests.conftest import SAMPLE_DATA

with (SAMPLE_DATA / "expected_matches.csv").open(encoding="utf-8") as handle:
    EXPECTED = [(row["need_id"], row["project_id"], row["note"]) for row in csv.DictReader(handle)]
ENGLISH = [pair for pair in EXPECTED if not pair[2].startswith(("zh-zh", "cross-language"))]
CHINESE = [pair for pair in EXPECTED if pair[2].startswith("zh-zh")]
SAME_LANGUAGE = ENGLISH + CHINESE
CROSS_LANGUAGE = [pair for pair in EXPECTED if pair[2].startswith("cross-language")]
CHINESE_TO_ENGLISH = [pair for pair in CROSS_LANGUAGE if "zh->en" in pair[2]]
ENGLISH_TO_CHINESE = [pair for pair in CROSS_LANGUAGE if "en->zh" in pair[2]]


def _pairs(pairs: list[tuple[str, str, str]], direction: str | None = None) -> list:
    """Pairs as parameters named need->project."""
    return [pytest.param(*pair, id=f"{pair[0]}->{pair[1]}") for pair in pairs]


def test_sample_data_has_enough_clear_pairs():
    assert len(ENGLISH) >= 7 and len(CHINESE) >= 4
    assert len(CHINESE_TO_ENGLISH) >= 7 and len(ENGLISH_TO_CHINESE) >= 7
    assert len(SAME_LANGUAGE) + len(CROSS_LANGUAGE) == len(EXPECTED)
    assert (
        len({need_id for need_id, _, _ in EXPECTED})
        == len({project_id for _, project_id, _ in EXPECTED})
        == len(EXPECTED)
    ), "a need or a project in two reference pairs: one of them is not its single best match"


def _ranked(matcher: Matcher, direction: str, record_id: str, top_k: int) -> list[str]:
    result = matcher.match(matcher.request(direction=direction, record_id=record_id, top_k=top_k))
    return [m.record.id for m in result.matches]


@pytest.mark.parametrize(("need_id", "project_id", "note"), _pairs(SAME_LANGUAGE))
def test_need_finds_its_project_first(sample_matcher, need_id, project_id, note):
    ranked = _ranked(sample_matcher, "need_to_projects", need_id, 5)
    assert ranked[0] == project_id, ranked


@pytest.mark.parametrize(("need_id", "project_id", "note"), _pairs(SAME_LANGUAGE))
def test_project_finds_its_need_first(sample_matcher, need_id, project_id, note):
    ranked = _ranked(sample_matcher, "project_to_needs", project_id, 5)
    assert ranked[0] == need_id, ranked


@pytest.mark.parametrize(("need_id", "project_id", "note"), _pairs(SAME_LANGUAGE))
def test_the_right_project_is_explained_by_shared_terms(sample_matcher, need_id, project_id, note):
    result = sample_matcher.match(sample_matcher.request(record_id=need_id, top_k=5))
    (match,) = [m for m in result.matches if m.record.id == project_id]
    shared = match.explanation.shared
    assert len(shared) + len(match.explanation.related) >= 2, shared
    need = sample_matcher.get(Kind.NEEDS, need_id)
    for term in shared:
        for occurrence in term.query:
            text = need.text_fields[occurrence.field]
            assert len(text[occurrence.start : occurrence.end]) >= 2


@pytest.mark.parametrize(("need_id", "project_id", "note"), _pairs(CROSS_LANGUAGE, "need_to_projects"))
def test_cross_language_need_finds_its_project_in_the_first_three(sample_matcher, need_id, project_id, note):
    ranked = _ranked(sample_matcher, "need_to_projects", need_id, 3)
    assert project_id in ranked, ranked


@pytest.mark.parametrize(("need_id", "project_id", "note"), _pairs(CROSS_LANGUAGE, "project_to_needs"))
def test_cross_language_project_finds_its_need_in_the_first_three(sample_matcher, need_id, project_id, note):
    ranked = _ranked(sample_matcher, "project_to_needs", project_id, 3)
    assert need_id in ranked, ranked


def test_free_text_need_in_english_and_chinese(sample_matcher):
    english = sample_matcher.match(
        sample_matcher.request(text="Porosity when laser welding aluminium battery trays", top_k=3)
    )
    assert english.matches[0].record.id == "P024"
    assert english.matches[0].explanation.summary.startswith("Shares ")
    # The page's own Chinese example finds the same (English) project, through the multilingual channel.
    chinese = sample_matcher.match(sample_matcher.request(text="铝合金电池托盘激光焊接气孔问题", top_k=3))
    assert chinese.matches[0].record.id == "P024"
    assert chinese.matches[0].hit.multilingual and not english.matches[0].hit.multilingual


@pytest.mark.parametrize("text", ["hello", "你好", "honeybee overwintering losses in cold winters", "蜜蜂越冬"])
def test_a_query_nothing_fits_says_no_good_match(sample_matcher, text):
    result = sample_matcher.match(sample_matcher.request(text=text, top_k=10))
    assert result.no_good_match and result.verdict().startswith("No good match"), [
        (m.record.id, m.strength) for m in result.matches
    ]
    assert all(match.band.value == "weak" for match in result.matches)


def test_right_matches_are_strong_or_possible_and_strength_orders_them(sample_matcher):
    weak_cross_language = []
    for need_id, project_id, note in EXPECTED:
        result = sample_matcher.match(sample_matcher.request(record_id=need_id, top_k=5, explain=False))
        (right,) = [m for m in result.matches if m.record.id == project_id]
        assert right.strength == max(m.strength for m in result.matches), need_id
        if right.band.value == "weak":
            assert note.startswith("cross-language"), (need_id, right.strength)  # every same-language one passes
            weak_cross_language.append(need_id)
        else:
            assert not result.no_good_match, need_id
    # Measured: two of the 15 pairs in two languages (N051, N055) come out weak, at 0.69 and 0.71.
    assert len(weak_cross_language) <= 2, weak_cross_language


def test_min_score_is_a_floor_on_strength(sample_matcher):
    every = sample_matcher.match(sample_matcher.request(record_id="N027", top_k=10, explain=False))
    floor = every.matches[1].strength
    kept = sample_matcher.match(sample_matcher.request(record_id="N027", top_k=10, min_score=floor, explain=False))
    assert [m.record.id for m in kept.matches] == [m.record.id for m in every.matches if m.strength >= floor]
    assert len(kept.matches) >= 2 and all(m.strength >= floor for m in kept.matches)


def test_second_run_over_unchanged_files_encodes_nothing(copied_settings, real_embedder):
    """A new Matcher (as a new process would) re-ingests the sample files: no text reaches the model."""
    matcher = open_matcher(copied_settings, embedder=real_embedder)
    for name, kind in (("projects.csv", Kind.PROJECTS), ("needs.csv", Kind.NEEDS)):
        report = matcher.ingest_file(SAMPLE_DATA / name, kind)
        assert (report.created, report.updated, report.deleted) == (0, 0, 0)
    matcher.sync_index(Kind.PROJECTS, rebuild=True)
    assert matcher.vectors.encoded_count == 0


def test_index_of_another_model_is_refused_until_rebuilt(copied_settings, real_embedder):
    other_settings = copied_settings.replace(model_name="local/minilm-copy")
    other = open_matcher(other_settings, embedder=SentenceTransformerEmbedder("local/minilm-copy", real_embedder.path))
    with pytest.raises(
        IndexMismatch,
        match=r"built with model 'sentence-transformers/all-MiniLM-L6-v2@[0-9a-f]{12}/[a-z0-9-]+' .*`matcher index --rebuild`",
    ):
        other.match(other.request(text="laser welding"))
    other.indexes._loaded.clear()
    other.sync_index(Kind.PROJECTS, rebuild=True)
    assert other.match(other.request(text="laser welding aluminium", top_k=1)).matches[0].record.id == "P024"


def test_a_local_model_folder_is_used_by_configuration(tmp_path, real_embedder):
    local = tmp_path / "my-model"
    import shutil

    shutil.copytree(real_embedder.path, local)
    embedder = SentenceTransformerEmbedder("my-model", local)
    assert embedder.encode(["laser welding"]).shape == (1, 384)


def test_a_model_folder_that_is_not_a_model_is_named(tmp_path):
    embedder = SentenceTransformerEmbedder("nothing", tmp_path)
    with pytest.raises(Unavailable, match=f"Model folder {tmp_path} is not a sentence-transformers model"):
        embedder.encode(["x"])
