"""Explanations with the real model: sentence vectors, related terms, evidence, API and CLI output."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from matcher.config import load_settings
from matcher.engine import Matcher, open as open_matcher
from matcher.explanation.generic import reason
from matcher.records import Kind
from matcher.text.sentences import sentence_spans
from matcher.text.tokenize import tokenize
from service import create_app
from service.cli import main
from tests.conftest import SAMPLE_DATA, SHARED_MODELS
from tests.unit.test_evaluation import DOCS, QRELS, QUERIES, write_beir


def test_sentence_sums_split_the_models_own_vector(real_embedder):
    texts = [
        "Laser welding of aluminium trays. Porosity falls below 0.5%! Joints pass a leak test.",
        "激光焊接。Laser welding.",
    ]
    spans = [[(s.start, s.end) for s in sentence_spans(text)] for text in texts]
    vectors, parts = real_embedder.encode_spans(texts, spans)
    assert np.allclose(vectors, real_embedder.encode(texts), atol=1e-5)
    first = parts[0]
    assert len(first.tokens) == 3 and all(first.tokens > 0)
    # the model's vector is the mean of all token vectors: the sentences' sums carry nearly all of it
    rebuilt = first.sums.sum(axis=0)
    assert float(rebuilt @ vectors[0] / np.linalg.norm(rebuilt)) > 0.95


def test_a_sentence_past_the_models_window_gets_no_tokens(real_embedder):
    text = "First sentence here. " + "word " * 400 + ". Last sentence."
    spans = [(s.start, s.end) for s in sentence_spans(text)]
    _, (parts,) = real_embedder.encode_spans([text], [spans])
    assert parts.tokens[0] > 0 and parts.tokens[-1] == 0


@pytest.fixture(scope="module")
def small_matcher(tmp_path_factory, real_embedder) -> Matcher:
    data_dir = tmp_path_factory.mktemp("explain") / "var"
    matcher = open_matcher(
        load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False), embedder=real_embedder
    )
    matcher.ingest_batch(
        Kind.PROJECTS,
        [
            {
                "id": "P1",
                "title": "Rust on electric vehicle battery enclosures",
                "abstract": "We study rust on steel enclosures of electric vehicle batteries. Salt spray tests rank coatings.",
            },
            {
                "id": "P2",
                "title": "Soybean breeding",
                "abstract": "New soybean varieties for black soil in cold regions.",
            },
            {
                "id": "P3",
                "title": "Drone inspection of bridges",
                "abstract": "A drone with a camera maps cracks on bridge decks.",
            },
        ],
    )
    matcher.ingest_batch(
        Kind.NEEDS,
        [
            {
                "id": "N1",
                "title": "Corrosion of EV battery housings",
                "description": "Our EV battery housings show corrosion after two winters. We need a better protective coating.",
            }
        ],
    )
    return matcher


def test_related_terms_found_by_the_model(small_matcher):
    result = small_matcher.match(small_matcher.request(record_id="N1", top_k=1))
    (match,) = result.matches
    assert match.record.id == "P1"
    explanation = match.explanation
    pairs = {(pair.query_term.lower(), pair.match_term.lower()) for pair in explanation.related}
    assert ("corrosion", "rust") in pairs
    assert ("ev", "electric vehicle") in pairs
    assert all(pair.similarity >= small_matcher.settings.related_threshold for pair in explanation.related)
    need = small_matcher.get(Kind.NEEDS, "N1")
    project = match.record
    for pair in explanation.related:
        assert all(need.text_fields[o.field][o.start : o.end].lower() == pair.query_term.lower() for o in pair.query)
        assert all(project.text_fields[o.field][o.start : o.end].lower() == pair.match_term.lower() for o in pair.match)
    assert "related: " in explanation.summary and "Corrosion ~ rust" in explanation.summary.replace("Rust", "rust")


def test_free_text_is_explained_with_the_same_parts(small_matcher):
    result = small_matcher.match(small_matcher.request(text="A UAV to inspect bridges for cracks", top_k=1))
    explanation = result.matches[0].explanation
    assert result.matches[0].record.id == "P3"
    assert {t.term for t in explanation.shared} >= {"bridges", "cracks"}
    assert ("uav", "drone") in {(p.query_term.lower(), p.match_term.lower()) for p in explanation.related}
    # "UAV" is in no stored record, so it was encoded at query time: on the model's second copy, which that loaded.
    twin = small_matcher.vectors.phrase_embedder
    assert twin is not small_matcher.embedder and twin.loaded
    evidence = explanation.evidence
    assert evidence is not None and evidence.query.field == "text"
    assert (
        evidence.match_text
        == result.matches[0].record.text_fields[evidence.match.field][evidence.match.start : evidence.match.end]
    )


# Every word is new to the catalogue, and "quadcopter" is not among its four heaviest: a budget of
# four new phrases a request left "Quadcopter ~ Drone" to the second request.
NEW_TEXT = (
    "Quadcopter surveys of viaducts: fissures, spalling, delamination and efflorescence found by "
    "thermography and photogrammetry."
)


def test_a_free_text_gets_the_same_explanation_on_every_request_whatever_the_cache_holds(small_matcher, real_embedder):
    def explained(engine: Matcher) -> list[tuple[str, dict]]:
        result = engine.match(engine.request(text=NEW_TEXT, top_k=3))
        return [(match.record.id, match.explanation.to_dict()) for match in result.matches]

    first = explained(small_matcher)
    assert explained(small_matcher) == first  # its new phrases are in memory now
    fresh = open_matcher(small_matcher.settings, embedder=real_embedder)  # as a new process: nothing in memory
    fresh.vectors.phrase_vectors(["fissures", "spalling"])  # ... but some of its phrases
    assert explained(fresh) == first
    top = dict(first)["P3"]
    pairs = [[pair["query_term"].lower(), pair["match_term"].lower()] for pair in top["related_terms"]]
    assert ["quadcopter", "drone"] in pairs and ["viaducts", "bridges"] in pairs


def test_no_sample_explanation_names_a_generic_word(sample_matcher):
    def words(term: str) -> list[str]:
        return [token.surface.lower() for token in tokenize(term) if token.keyword]

    explanations = []
    with (SAMPLE_DATA / "expected_matches.csv").open(encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))
    for row in expected:
        result = sample_matcher.match(sample_matcher.request(record_id=row["need_id"], top_k=100))
        (hit,) = [match for match in result.matches if match.record.id == row["project_id"]]
        # Every same-language expected match still has shared reasons; a pair in two languages
        # shares words only where both texts name the same acronym or number.
        if "cross-language" not in row["note"]:
            assert hit.explanation.shared, row
        explanations.append(hit.explanation)
    for kind, direction in ((Kind.NEEDS, "need_to_projects"), (Kind.PROJECTS, "project_to_needs")):
        for record_id in sample_matcher.catalogue.content_hashes(kind):
            request = sample_matcher.request(record_id=record_id, top_k=5, direction=direction)
            explanations += [match.explanation for match in sample_matcher.match(request).matches]
    named = [term.term for e in explanations for term in e.shared] + [
        term for e in explanations for pair in e.related for term in (pair.query_term, pair.match_term)
    ]
    assert len(named) > 500
    assert [term for term in named if not reason(words(term))] == []
    reported = {"two", "roughly", "min", "mm", "km", "获得", "开展", "方案", "合作", "下比"}  # seen by users (issue 15)
    assert not {term.lower() for term in named} & reported


def test_profiles_are_made_at_indexing_so_matching_encodes_nothing(small_matcher):
    assert small_matcher.explainer.store.valid_keys(
        Kind.PROJECTS, small_matcher.catalogue.text_hashes(Kind.PROJECTS)
    ) == set(small_matcher.catalogue.text_hashes(Kind.PROJECTS))
    before = small_matcher.vectors.encoded_count
    small_matcher.match(small_matcher.request(record_id="N1", top_k=3))
    assert small_matcher.vectors.encoded_count == before


@pytest.fixture
def client(copied_matcher):
    return create_app(copied_matcher.settings, matcher=copied_matcher).test_client()


def test_api_returns_every_part_of_the_explanation(client, copied_matcher):
    body = client.get("/api/v1/needs/N027/matches?top_k=3").get_json()
    top = body["matches"][0]
    explanation = top["explanation"]
    assert set(explanation) == {"summary", "shared_terms", "related_terms", "evidence", "scores"}
    scores = explanation["scores"]
    assert scores["method"] == "hybrid" and scores["fusion"] == "blend"
    assert scores["dense_part"] + scores["lexical_part"] == pytest.approx(scores["score"], abs=1e-5)
    assert (scores["score"], scores["similarity"], scores["lexical_score"]) == (
        top["score"],
        top["similarity"],
        top["lexical_score"],
    )
    need = copied_matcher.get(Kind.NEEDS, "N027")
    project = copied_matcher.get(Kind.PROJECTS, top["id"])
    for term in explanation["shared_terms"]:
        assert set(term) == {"term", "match_term", "key", "weight", "query_occurrences", "match_occurrences"}
        for o in term["match_occurrences"]:
            assert (
                project.text_fields[o["field"]][o["start"] : o["end"]]
                .lower()
                .startswith(term["match_term"].lower()[:3])
            )
        first = term["query_occurrences"][0]
        assert need.text_fields[first["field"]][first["start"] : first["end"]] == term["term"]
    weights = [term["weight"] for term in explanation["shared_terms"]]
    assert weights == sorted(weights, reverse=True) and len(weights) <= 10
    evidence = explanation["evidence"]
    assert (
        project.text_fields[evidence["match"]["field"]][evidence["match"]["start"] : evidence["match"]["end"]]
        == evidence["match"]["text"]
    )
    assert (
        need.text_fields[evidence["query"]["field"]][evidence["query"]["start"] : evidence["query"]["end"]]
        == evidence["query"]["text"]
    )


def test_api_explain_false_leaves_explanations_out(client):
    body = client.post(
        "/api/v1/match", json={"text": "laser welding porosity", "top_k": 2, "explain": False}
    ).get_json()
    assert body["explain"] is False and [m["explanation"] for m in body["matches"]] == [None, None]
    body = client.get("/api/v1/needs/N027/matches?top_k=1&explain=false").get_json()
    assert body["matches"][0]["explanation"] is None
    response = client.post("/api/v1/match", json={"text": "laser", "explain": "sometimes"})
    assert response.status_code == 422 and response.get_json()["error"]["details"]["parameter"] == "explain"


def test_chinese_need_is_explained_in_chinese(copied_matcher):
    result = copied_matcher.match(copied_matcher.request(record_id="N006", top_k=1))
    (match,) = result.matches
    assert match.record.id == "P047"
    shared = [term.term for term in match.explanation.shared]
    # "double-sided cooling" is named beside "cooling", which also stands alone (单面散热, 散热方案)
    assert shared[:3] == ["散热", "双面散热", "SiC功率模块"]
    assert match.explanation.summary.startswith("共同关键词：散热、双面散热、SiC功率模块")


def test_cli_explain_eval_prints_the_figures(tmp_path, sample_dir):
    folder = write_beir(tmp_path / "toy", DOCS, QUERIES, QRELS)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copy(sample_dir / "embeddings.sqlite", data_dir / "embeddings.sqlite")
    result = CliRunner().invoke(
        main, ["--quiet", "--data-dir", str(data_dir), "explain-eval", str(folder), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report)[:7] == [
        "queries",
        "faithful_share",
        "mean_drop_explained",
        "mean_drop_random",
        "sufficiency_mean",
        "sufficiency_p10",
        "coverage",
    ]
    assert report["queries"] >= 1 and 0 <= report["faithful_share"] <= 1 and 0 <= report["coverage"] <= 1
    assert report["mean_drop_explained"] > report["mean_drop_random"]


# Cross-language pairs of the sample (need -> project) and a translated term each names, checked by reading.
TRANSLATED = {
    ("N037", "P044"): ("客户投诉", "customer complaints"),  # zh need, en project
    ("N042", "P027"): ("引擎盖", "hood"),
    ("N049", "P054"): ("连续玄武岩纤维", "Continuous basalt fibre"),
    ("N043", "P006"): ("受电弓", "pantographs"),
    ("N044", "P049"): ("燃料电池", "fuel cell"),
    ("N020", "P065"): ("sensitivity", "灵敏度"),  # en need, zh project
    ("N052", "P036"): ("organic fertiliser standard", "有机肥标准"),
    ("N053", "P045"): ("cathodic electrodeposition", "阴极电泳"),
    ("N008", "P034"): ("slaughterhouse", "屠宰场"),
}


def test_cross_language_pairs_name_their_translated_terms(sample_matcher):
    from matcher.pipeline.explain import explain_pairs

    catalogue = sample_matcher.catalogue
    needs = catalogue.by_ids(Kind.NEEDS, [need for need, _ in TRANSLATED])
    projects = catalogue.by_ids(Kind.PROJECTS, [project for _, project in TRANSLATED])
    need_keys = catalogue.keys_of(Kind.NEEDS, list(needs))
    project_keys = catalogue.keys_of(Kind.PROJECTS, list(projects))
    explained = explain_pairs(
        sample_matcher.explainer,
        Kind.NEEDS,
        {need_keys[id_]: record for id_, record in needs.items()},
        {project_keys[id_]: record for id_, record in projects.items()},
        [(need_keys[need], project_keys[project]) for need, project in TRANSLATED],
    )
    for (need, project), (query_term, match_term) in TRANSLATED.items():
        explanation = explained[(need_keys[need], project_keys[project])]
        pairs = [(pair.query_term, pair.match_term) for pair in explanation.related]
        assert (query_term, match_term) in pairs, (need, project, pairs)
        assert f"{query_term} ~ {match_term}" in explanation.summary or len(pairs) > 2
        # the offsets point at the terms in both texts, so the page highlights them
        for pair in explanation.to_dict()["related_terms"]:
            for side, record in (("query", needs[need]), ("match", projects[project])):
                texts = record.text_fields
                shown = [texts[p["field"]][p["start"] : p["end"]] for p in pair[f"{side}_occurrences"]]
                assert shown[0] == pair[f"{side}_term"]  # as first written; later ones may be inflected
                assert all(shown)


def test_most_strong_cross_language_matches_name_a_translated_term(sample_matcher):
    from matcher.explanation.translated import is_chinese_word
    from matcher.pipeline.explain import record_language

    strong = named = 0
    for kind, direction in ((Kind.NEEDS, "need_to_projects"), (Kind.PROJECTS, "project_to_needs")):
        for record_id in sample_matcher.catalogue.content_hashes(kind):
            query = sample_matcher.get(kind, record_id)
            request = sample_matcher.request(record_id=record_id, top_k=3, direction=direction)
            for match in sample_matcher.match(request).matches:
                if record_language(query) == record_language(match.record) or match.band is None:
                    continue
                if match.band.value not in ("possible", "strong"):
                    continue
                strong += 1
                named += any(
                    is_chinese_word(pair.query_key) != is_chinese_word(pair.match_key)
                    for pair in match.explanation.related
                )
    assert strong >= 10
    assert named >= 0.75 * strong, (named, strong)
