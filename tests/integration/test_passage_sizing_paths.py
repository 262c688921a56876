"""Indexing and queries make their passages with the configured sizing (real model, FAISS, SQLite)."""

from __future__ import annotations

from matcher.config import load_settings
from matcher.embedding.pieces import TokenizerPieces
from matcher.engine import open as open_matcher
from matcher.records import Kind, Record
from matcher.text.passages import passages, record_passages

# 126 words and 280 pieces: one passage by words (cut by the model), two by tokens.
BODY = (
    "Electrohydrodynamic atomisation of polyvinylpyrrolidone solutions yields nanofibres whose "
    "morphology depends on viscosity, conductivity and the applied field strength. "
) * 7


def test_index_and_free_text_queries_use_token_sizing(tmp_path, real_embedder):
    settings = load_settings(
        environ={},
        data_dir=tmp_path / "var",
        show_progress=False,
        multilingual_backend="",
        explain_at_index=False,
        passage_sizing="tokens",
    )
    policy = settings.passage_policy
    long = Record(Kind.PROJECTS, "p-long", "Nanofibre production", BODY)
    short = Record(Kind.PROJECTS, "p-short", "Laser welding", "Laser welding of aluminium alloys.")
    expected = record_passages(long, policy)
    assert (
        len(expected) == 2
        and len(record_passages(long, load_settings(environ={}, passage_sizing="words").passage_policy)) == 1
    )
    assert all(len(TokenizerPieces()(text)) <= 256 for text in expected)

    matcher = open_matcher(settings, embedder=real_embedder)
    matcher.ingest_records(Kind.PROJECTS, [long, short], "test")
    index = matcher.sync_index(Kind.PROJECTS)
    assert matcher.passages_of(long) == expected
    assert index.vector.passage_count == len(expected) + 1
    manifest = matcher.store.manifest(Kind.PROJECTS)
    assert manifest is not None and manifest["passage_policy"]["sizing"] == "tokens"

    query = matcher.query(matcher.request(text=BODY, explain=False))
    assert query.vectors.shape[0] == len(passages("", BODY, policy)) == 2
