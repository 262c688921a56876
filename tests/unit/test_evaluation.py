"""Metrics on hand-computed cases, the BEIR reader, and an evaluation run with a fake embedder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from matcher.engine import open as open_matcher
from matcher.errors import InvalidInput, ValidationFailed
from matcher.evaluation.beir import load_beir
from matcher.evaluation.metrics import ndcg_at, recall_at, reciprocal_rank, summarise
from matcher.evaluation.runner import evaluate, in_split


def test_ndcg_with_graded_labels():
    labels = {"a": 3, "b": 1}
    assert ndcg_at(["a", "b"], labels, 10) == 1.0
    expected = (1 / math.log2(2) + 3 / math.log2(3)) / (3 / math.log2(2) + 1 / math.log2(3))
    assert ndcg_at(["b", "a"], labels, 10) == pytest.approx(expected)
    assert ndcg_at(["x", "y"], labels, 10) == 0.0
    assert ndcg_at(["x", "a"], labels, 1) == 0.0


def test_recall_and_reciprocal_rank():
    labels = {"a": 1, "b": 2}
    assert recall_at(["a", "x", "b"], labels, 1) == 0.5
    assert recall_at(["a", "x", "b"], labels, 3) == 1.0
    assert reciprocal_rank(["x", "y", "b"], labels) == pytest.approx(1 / 3)
    assert summarise({"q": ["x", "a"]}, {"q": {"a": 1}}) == {
        "ndcg@10": pytest.approx(1 / math.log2(3)),
        "recall@1": 0.0,
        "recall@10": 1.0,
        "recall@100": 1.0,
        "mrr": 0.5,
    }


def write_beir(folder: Path, docs: dict[str, str], queries: dict[str, str], qrels: list[tuple[str, str, int]]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs.items())
    )
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items()))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    )
    return folder


DOCS = {
    "d1": "laser welding of aluminium trays",
    "d2": "corrosion of steel bridges",
    "d3": "soybean breeding for black soil",
    "d4": "battery thermal management",
}
QUERIES = {"q1": "aluminium laser welding", "q2": "steel corrosion", "q3": "black soil soybean", "q4": "no labels here"}
QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q3", "d3", 1), ("q3", "d4", 0)]


def test_beir_reader_keeps_labelled_queries_and_positive_labels(tmp_path):
    beir = load_beir(write_beir(tmp_path / "toy", DOCS, QUERIES, QRELS))
    assert beir.name == "toy" and len(beir.corpus) == 4
    assert sorted(beir.queries) == ["q1", "q2", "q3"]
    assert beir.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}, "q3": {"d3": 1}}


def test_beir_reader_names_bad_files(tmp_path):
    folder = write_beir(tmp_path / "toy", DOCS, QUERIES, QRELS)
    (folder / "qrels" / "test.tsv").write_text("q1\td1\n")
    with pytest.raises(ValidationFailed, match=r"test.tsv, row 1: expected 'query-id<TAB>corpus-id<TAB>score'"):
        load_beir(folder)
    with pytest.raises(ValidationFailed, match=r"corpus\.jsonl: missing"):
        load_beir(tmp_path)


def test_evaluation_ranks_every_method_and_writes_a_trec_run(tmp_path, settings, fake_embedder):
    folder = write_beir(tmp_path / "toy", DOCS, QUERIES, QRELS)
    run_path = tmp_path / "run.trec"
    with run_path.open("w") as run_out:
        results = evaluate(
            folder,
            settings,
            ["bm25", "dense", "rrf", "hybrid"],
            top_k=3,
            run_out=run_out,
            embedder=fake_embedder,
            opener=open_matcher,
        )
    assert [result.method for result in results] == ["bm25", "dense", "rrf", "hybrid"]
    for result in results:
        assert result.queries == 3
        assert result.to_dict()["ndcg@10"] == 1.0 and result.metrics["mrr"] == 1.0
    lines = run_path.read_text().splitlines()
    assert len(lines) == 4 * 3 * 3
    qid, q0, doc, position, _score, method = lines[0].split()
    assert (qid, q0, doc, position, method) == ("q1", "Q0", "d1", "1", "bm25")
    encoded = len(fake_embedder.encoded)
    evaluate(folder, settings, ["hybrid"], embedder=fake_embedder, opener=open_matcher)
    assert len(fake_embedder.encoded) == encoded  # everything came from the cache
    assert not (settings.data_dir / "catalogue.sqlite").exists()  # the service's catalogue is untouched


def test_splits_are_fixed_halves():
    ids = [f"q{i}" for i in range(1000)]
    dev = {qid for qid in ids if in_split(qid, "dev")}
    test = {qid for qid in ids if in_split(qid, "test")}
    assert not dev & test and len(dev | test) == 1000 and 400 < len(dev) < 600


def test_unknown_method_is_named(tmp_path, settings, fake_embedder):
    with pytest.raises(InvalidInput, match=r"Unknown method\(s\) \['magic'\]"):
        evaluate(tmp_path, settings, ["magic"], embedder=fake_embedder, opener=open_matcher)
