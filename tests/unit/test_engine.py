"""The engine's ingestion and matching logic, with a fake embedder and the real SQLite and FAISS."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from matcher.engine import Matcher, open as open_matcher
from matcher.errors import InvalidInput, NotFound, TooLarge, Unavailable, ValidationFailed
from matcher.records import Kind
from matcher.storage.catalogue import SCHEMA_VERSION, Catalogue
from matcher.text.tokenize import term_set
from tests.conftest import FakeEmbedder

PROJECTS = [
    {
        "id": "P1",
        "title": "Laser welding",
        "abstract": "laser welding of aluminium battery trays",
        "fields": ["automotive"],
        "trl": 5,
        "institution": "NEAU",
    },
    {
        "id": "P2",
        "title": "Rust coatings",
        "abstract": "corrosion coatings for steel bridges",
        "fields": ["applied chemistry"],
        "trl": 3,
        "institution": "CIAC",
    },
    {
        "id": "P3",
        "title": "Battery cooling",
        "abstract": "thermal management of battery packs",
        "fields": ["automotive", "energy"],
        "trl": 7,
        "institution": "NEAU",
    },
    {
        "id": "P4",
        "title": "Soybean breeding",
        "abstract": "soybean varieties for black soil",
        "fields": ["agriculture and food"],
        "trl": 4,
        "institution": "CBAU",
    },
]
NEEDS = [
    {
        "id": "N1",
        "title": "Tray welding",
        "description": "aluminium battery trays laser welding",
        "industry": "automotive",
        "region": "Changbai",
    },
    {
        "id": "N2",
        "title": "Bridge rust",
        "description": "steel bridges corrosion",
        "industry": "applied chemistry",
        "region": "Jilin",
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    return path


def state(matcher: Matcher) -> tuple:
    """Everything ingestion may change: catalogue rows, term frequencies and the current index files."""
    with sqlite3.connect(matcher.settings.catalogue_path) as connection:
        records = connection.execute("SELECT kind, id, data, key FROM records ORDER BY key").fetchall()
        terms = connection.execute("SELECT term, df FROM term_df ORDER BY term").fetchall()
        revisions = connection.execute("SELECT * FROM revisions ORDER BY kind").fetchall()
    files = {}
    for kind in Kind:
        generation = matcher.store.current_generation(kind)
        if generation:
            folder = matcher.settings.index_dir / kind.value / generation
            files[kind.value] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    return records, terms, revisions, files


@pytest.fixture
def matcher(settings, fake_embedder, tmp_path) -> Matcher:
    engine = open_matcher(settings, embedder=fake_embedder)
    engine.ingest_file(write_jsonl(tmp_path / "projects.jsonl", PROJECTS), Kind.PROJECTS)
    engine.ingest_file(write_jsonl(tmp_path / "needs.jsonl", NEEDS), Kind.NEEDS)
    return engine


def test_catalogue_is_created_at_the_current_schema_in_wal_mode(settings, fake_embedder):
    open_matcher(settings, embedder=fake_embedder)
    assert Catalogue(settings.catalogue_path).schema_version() == SCHEMA_VERSION
    with sqlite3.connect(settings.catalogue_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_with_any_problem_changes_nothing(matcher, tmp_path):
    before = state(matcher)
    encoded_before = len(matcher.embedder.encoded)
    bad = [*PROJECTS[:2], {"id": "P9", "title": "New", "abstract": "new text", "trl": 11}]
    with pytest.raises(ValidationFailed) as caught:
        matcher.ingest_file(write_jsonl(tmp_path / "bad.jsonl", bad), Kind.PROJECTS, delete_missing=True)
    assert [(p.row, p.field, p.code) for p in caught.value.problems] == [(3, "trl", "invalid_trl")]
    assert state(matcher) == before
    assert len(matcher.embedder.encoded) == encoded_before


def test_reingesting_the_same_file_changes_nothing_and_encodes_nothing(matcher, tmp_path):
    before = state(matcher)
    encoded_before = len(matcher.embedder.encoded)
    report = matcher.ingest_file(write_jsonl(tmp_path / "projects.jsonl", PROJECTS), Kind.PROJECTS)
    assert (report.created, report.updated, report.unchanged, report.deleted) == (0, 0, 4, 0)
    assert state(matcher) == before
    assert len(matcher.embedder.encoded) == encoded_before


def test_changed_record_is_updated_in_place(matcher, tmp_path):
    key_before = matcher.catalogue.get(Kind.PROJECTS, "P2").key
    changed = [dict(PROJECTS[1], abstract="anti-corrosion paint for steel bridges", trl=4)]
    report = matcher.ingest_file(write_jsonl(tmp_path / "change.jsonl", changed), Kind.PROJECTS)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    stored = matcher.catalogue.get(Kind.PROJECTS, "P2")
    assert stored.key == key_before
    assert (stored.record.body, stored.record.attributes["trl"]) == ("anti-corrosion paint for steel bridges", 4)
    assert matcher.index(Kind.PROJECTS).count == 4
    assert matcher.embedder.encoded.count("Rust coatings\nanti-corrosion paint for steel bridges") == 1


def test_metadata_only_change_does_not_reencode(matcher, tmp_path):
    encoded_before = len(matcher.embedder.encoded)
    report = matcher.ingest_file(write_jsonl(tmp_path / "m.jsonl", [dict(PROJECTS[0], trl=6)]), Kind.PROJECTS)
    assert report.updated == 1
    assert len(matcher.embedder.encoded) == encoded_before


def test_delete_missing_removes_records_from_catalogue_and_index(matcher, tmp_path):
    report = matcher.ingest_file(write_jsonl(tmp_path / "p.jsonl", PROJECTS[:2]), Kind.PROJECTS, delete_missing=True)
    assert (report.unchanged, report.deleted) == (2, 2)
    assert matcher.catalogue.count(Kind.PROJECTS) == 2
    assert matcher.index(Kind.PROJECTS).count == 2
    with pytest.raises(NotFound, match="Project 'P3' does not exist"):
        matcher.get(Kind.PROJECTS, "P3")
    result = matcher.match(matcher.request(text="battery packs thermal management", top_k=10))
    assert {m.record.id for m in result.matches} == {"P1", "P2"}


def test_document_frequencies_follow_changes(matcher, tmp_path):
    frequencies = lambda *terms: matcher.catalogue.document_frequencies(terms)  # noqa: E731
    assert frequencies("batteri", "steel bridg", "soybean") == {"batteri": 3, "steel bridg": 2, "soybean": 1}
    matcher.ingest_file(write_jsonl(tmp_path / "p.jsonl", PROJECTS[:3]), Kind.PROJECTS, delete_missing=True)
    assert frequencies("batteri", "soybean") == {"batteri": 3}
    with sqlite3.connect(matcher.settings.catalogue_path) as connection:
        stored = dict(connection.execute("SELECT term, df FROM term_df"))
    expected: dict[str, int] = {}
    for row in PROJECTS[:3] + NEEDS:
        body = row.get("abstract") or row["description"]
        for term in term_set(f"{row['title']}\n{body}"):
            expected[term] = expected.get(term, 0) + 1
    assert stored == expected


def test_match_by_id_ranks_and_explains(matcher):
    result = matcher.match(matcher.request(direction="need_to_projects", record_id="N1", top_k=2))
    assert [m.record.id for m in result.matches] == ["P1", "P3"]
    assert [m.rank for m in result.matches] == [1, 2]
    terms = [t.term for t in result.matches[0].explanation.shared]
    assert terms[0] == "laser welding" or "laser welding" in terms
    assert "aluminium battery trays" in terms


def test_filters_apply_before_ranking_so_top_k_are_returned(matcher):
    result = matcher.match(matcher.request(text="laser welding for steel bridges", top_k=2, filters={"trl_max": 4}))
    assert [m.record.id for m in result.matches] == ["P2", "P4"]
    assert result.candidates == 2
    result = matcher.match(
        matcher.request(text="battery", top_k=3, filters={"field": ["Energy", "agriculture and food"]})
    )
    assert {m.record.id for m in result.matches} == {"P3", "P4"}
    result = matcher.match(matcher.request(text="battery", filters={"institution": "neau", "trl_min": 6}))
    assert [m.record.id for m in result.matches] == ["P3"]
    result = matcher.match(matcher.request(direction="project_to_needs", text="corrosion", filters={"region": "Jilin"}))
    assert [m.record.id for m in result.matches] == ["N2"]


def test_min_score_drops_weak_matches(matcher):
    every = matcher.match(matcher.request(text="soybean varieties for black soil", top_k=4))
    floor = (every.matches[0].strength + every.matches[1].strength) / 2
    result = matcher.match(matcher.request(text="soybean varieties for black soil", top_k=4, min_score=floor))
    assert [m.record.id for m in result.matches] == ["P4"] == [every.matches[0].record.id]
    assert every.matches[0].strength > every.matches[1].strength


@pytest.mark.parametrize(
    ("parameters", "error", "message"),
    [
        ({"text": "x", "direction": "up"}, InvalidInput, "Unknown direction 'up'"),
        ({"text": "x", "top_k": 0}, InvalidInput, "'top_k' must be a whole number from 1 to 100, got 0"),
        ({"text": "x", "top_k": 101}, InvalidInput, "'top_k' must be a whole number from 1 to 100"),
        (
            {"text": "x", "min_score": 2},
            InvalidInput,
            "'min_score' is a floor on match strength and must be a number from 0 to 1",
        ),
        ({"text": "x", "min_score": -0.5}, InvalidInput, "must be a number from 0 to 1, got -0.5"),
        ({"text": "  "}, InvalidInput, "'text' must be a non-empty string"),
        ({"text": "x", "record_id": "N1"}, InvalidInput, "Give exactly one of 'text' or an id"),
        ({"text": "x" * 20_001}, TooLarge, "'text' has 20001 characters; the limit is 20000"),
    ],
)
def test_bad_requests_are_named(matcher, parameters, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        matcher.match(matcher.request(**parameters))


def test_unknown_filter_lists_the_valid_ones(matcher):
    with pytest.raises(InvalidInput) as caught:
        matcher.match(matcher.request(text="x", filters={"colour": "red"}))
    assert str(caught.value) == (
        "Unknown filter(s) ['colour'] for projects; valid filters are "
        "['field', 'industry', 'institution', 'ip_status', 'language', 'trl_max', 'trl_min']"
    )
    with pytest.raises(InvalidInput, match="Filter 'trl_min' takes a whole number from 1 to 9, got 12"):
        matcher.match(matcher.request(text="x", filters={"trl_min": 12}))


def test_unknown_id_is_not_found(matcher):
    with pytest.raises(NotFound, match="Need 'N404' does not exist"):
        matcher.match(matcher.request(record_id="N404"))


def test_matching_before_any_index_is_unavailable(settings, fake_embedder):
    engine = open_matcher(settings, embedder=fake_embedder)
    with pytest.raises(Unavailable, match="There is no projects index yet"):
        engine.match(engine.request(text="anything"))


def test_batch_limit(matcher):
    too_many = [dict(PROJECTS[0], id=f"X{i}") for i in range(matcher.settings.max_batch_records + 1)]
    with pytest.raises(TooLarge, match="The batch has 1001 records; the limit is 1000"):
        matcher.ingest_batch(Kind.PROJECTS, too_many)


def test_a_new_process_sees_the_index_another_one_saved(matcher, settings, fake_embedder, tmp_path):
    other = open_matcher(settings, embedder=fake_embedder)
    assert other.index(Kind.PROJECTS).count == 4
    matcher.ingest_batch(Kind.PROJECTS, [{"id": "P5", "title": "Hydrogen", "abstract": "hydrogen storage"}])
    assert other.index(Kind.PROJECTS).count == 5
    assert other.match(other.request(text="hydrogen storage", top_k=1)).matches[0].record.id == "P5"


def test_stale_index_is_brought_in_step_from_the_cache(matcher, fake_embedder):
    """If a crash left the catalogue ahead of the index, `index` repairs it without re-encoding."""
    matcher.catalogue.apply(Kind.PROJECTS, [], ["P4"], term_delta=__import__("collections").Counter())
    assert matcher.health()["indexes"]["projects"]["in_sync"] is False
    encoded_before = len(fake_embedder.encoded)
    index = matcher.sync_index(Kind.PROJECTS)
    assert index.count == 3 and len(fake_embedder.encoded) == encoded_before
    assert matcher.health()["indexes"]["projects"]["in_sync"] is True


def test_a_deleted_record_never_comes_back_from_either_index(matcher, settings, fake_embedder, tmp_path):
    key = matcher.catalogue.get(Kind.PROJECTS, "P1").key
    matcher.ingest_file(write_jsonl(tmp_path / "p.jsonl", PROJECTS[1:]), Kind.PROJECTS, delete_missing=True)
    reopened = open_matcher(settings, embedder=fake_embedder)  # reads the saved generation from disk
    from matcher.retrieval.ranking import Method, RankingPolicy

    for engine in (matcher, reopened):
        side = engine.index(Kind.PROJECTS)
        assert key not in side.vector.entries and key not in side.lexical.tokens
        vector = engine.vectors.vectors(["Laser welding\nlaser welding of aluminium battery trays"])
        for method in Method:
            hits = engine.rank(Kind.PROJECTS, vector, ["laser", "weld"], 10, policy=RankingPolicy(method))
            assert key not in [hit.key for hit in hits]


def test_a_free_text_encodes_at_most_its_budget_of_new_phrases(tmp_path, fake_embedder):
    from matcher.embedding.cache import VectorCache

    cache = VectorCache(tmp_path / "embeddings.sqlite", fake_embedder, show_progress=False)
    cache.vectors(["laser welding"])  # a stored record's candidate: on disk
    fake_embedder.encoded.clear()
    phrases = ["laser welding", "rust", "corrosion"]
    assert list(cache.phrase_vectors(phrases, new_budget=0)) == ["laser welding"]
    assert fake_embedder.encoded == []
    assert list(cache.phrase_vectors(phrases, new_budget=1)) == ["laser welding", "rust"]
    assert fake_embedder.encoded == ["rust"]
    assert list(cache.phrase_vectors(phrases, new_budget=0)) == ["laser welding", "rust"]  # now in memory
    assert fake_embedder.encoded == ["rust"]


class _Twinned(FakeEmbedder):
    """A model with a twin; once ``armed``, the twin's phrases and the model's passages must be encoded at
    the same time (each waits for the other), so encoding them one after the other fails."""

    def __init__(self, twin_fails: bool = False) -> None:
        super().__init__()
        self.armed = False
        self.meeting = threading.Barrier(2, timeout=30)
        self.copy: FakeEmbedder | None = None
        self.twin_fails = twin_fails
        self.hold: threading.Event | None = None  # when set to an event, the twin waits for it
        self.twin_started = threading.Event()
        self.await_twin = False  # when true, the text's own encoding waits until the twin has started

    def twin(self) -> FakeEmbedder:
        outer = self

        class Twin(FakeEmbedder):
            def encode(self, texts: list[str]) -> np.ndarray:
                outer.twin_started.set()
                if outer.twin_fails:
                    raise RuntimeError("the twin broke")
                if outer.hold is not None and not outer.hold.wait(timeout=30):
                    raise RuntimeError("never released")
                if outer.armed:
                    outer.meeting.wait()
                return super().encode(texts)

        if self.copy is None:
            self.copy = Twin(self.name, self.dimension)
        return self.copy

    def encode_spans(self, texts, spans):
        if self.await_twin and not self.twin_started.wait(timeout=30):
            raise RuntimeError("the twin never started")
        if self.armed:
            self.meeting.wait()
        return super().encode_spans(texts, spans)


QUERY = "drone inspection of bridges for corrosion"


def _twinned_engine(settings, tmp_path, **changes) -> tuple[Matcher, _Twinned]:
    model = _Twinned(changes.pop("twin_fails", False))
    engine = open_matcher(settings.replace(query_phrases=4, **changes), embedder=model)
    engine.ingest_file(write_jsonl(tmp_path / "projects.jsonl", PROJECTS), Kind.PROJECTS)
    model.encoded.clear()
    return engine, model


def test_a_free_texts_new_phrases_encode_on_the_twin_while_the_text_encodes(settings, tmp_path):
    engine, model = _twinned_engine(settings, tmp_path)
    model.armed = True
    result = engine.match(engine.request(text=QUERY, top_k=2))
    assert result.matches and all(match.explanation is not None for match in result.matches)
    assert model.copy is not None
    assert set(model.copy.encoded) == {"drone", "drone inspection"}  # the new ones of its four heaviest terms
    assert not set(model.copy.encoded) & set(model.encoded)


def test_explanations_are_the_same_with_and_without_the_twin(settings, tmp_path):
    engine, _ = _twinned_engine(settings, tmp_path)
    alone, model = _twinned_engine(
        settings.replace(data_dir=tmp_path / "alone"), tmp_path, parallel_query_phrases=False
    )
    explained = [e.match(e.request(text=QUERY, top_k=3)) for e in (engine, alone)]
    assert model.copy is None and {"drone", "drone inspection"} <= set(model.encoded)  # the model encoded them itself
    first, second = ([m.to_dict() for m in result.matches] for result in explained)
    assert first == second and any(m["explanation"]["related_terms"] or m["explanation"]["shared_terms"] for m in first)


def test_a_free_text_with_nothing_to_explain_does_not_wait_for_its_profile(settings, tmp_path):
    engine, model = _twinned_engine(settings, tmp_path)
    model.hold = threading.Event()  # the twin's phrases never finish while the request runs
    result = engine.match(engine.request(text=QUERY, top_k=2, min_score=0.99))
    assert result.matches == []
    model.hold.set()


def test_a_failing_twin_fails_the_request_that_needs_it_and_is_logged_otherwise(settings, tmp_path, caplog):
    engine, model = _twinned_engine(settings, tmp_path, twin_fails=True)
    with pytest.raises(RuntimeError, match="the twin broke"):
        engine.match(engine.request(text=QUERY, top_k=2))
    caplog.clear()
    # The started half must be running before the request drops it: one dropped before it starts is never run.
    model.twin_started.clear()
    model.await_twin = True
    engine.match(engine.request(text=f"{QUERY} again", top_k=2, min_score=0.99))  # no match, so nothing waits for it
    engine.explainer._beside.shutdown(wait=True)  # let the started half finish
    assert "Making a free text's candidate phrases failed: the twin broke" in caplog.text


def test_a_query_that_is_also_its_own_phrase_keeps_its_sentence_sums_and_stays_off_disk(tmp_path):
    from matcher.embedding.cache import VectorCache

    class MainFirst(FakeEmbedder):
        """Encodes a phrase while the main thread stores the same text as a query (the race, in order)."""

        def encode(self, texts: list[str]) -> np.ndarray:
            cache.query_vectors(texts)  # the query's own encoding lands first, with sentence sums
            return super().encode(texts)

    main = FakeEmbedder()
    cache = VectorCache(tmp_path / "embeddings.sqlite", main, show_progress=False, phrase_embedder=MainFirst())
    cache.phrase_vectors(["corrosion"], new_budget=1)  # stored after the query: must not drop its sums
    encoded = list(main.encoded)
    assert cache.sentence_vectors(["corrosion"])[0].tokens.tolist() == [1]
    assert main.encoded == encoded  # the sums were in memory: nothing encoded again
    del MainFirst.encode
    cache.phrase_vectors(["rust"], new_budget=1)  # a phrase only: no sentence sums
    cache.query_vectors(["rust"])  # asked with sums: encoded again, not read without them
    assert main.encoded[-1:] == ["rust"]
    encoded = list(main.encoded)
    assert cache.sentence_vectors(["rust"])[0].tokens.tolist() == [1] and main.encoded == encoded
    with sqlite3.connect(tmp_path / "embeddings.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM vectors").fetchone() == (0,)
        assert connection.execute("SELECT COUNT(*) FROM sentences").fetchone() == (0,)
