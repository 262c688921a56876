"""Bulk encoding's pure parts: batches by length, what the cache lacks, storing vectors made elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.embedding.bulk import ClusterOptions, length_batches
from matcher.embedding.cache import VectorCache, sentence_bounds
from matcher.errors import ConfigError
from tests.conftest import FakeEmbedder


def test_length_batches_put_texts_of_like_length_together_longest_first():
    texts = ["aa", "a", "aaaaa", "aaaa", "aaa"]
    batches = length_batches(texts, 2)
    assert [[texts[position] for position in batch] for batch in batches] == [["aaaaa", "aaaa"], ["aaa", "aa"], ["a"]]
    assert sorted(position for batch in batches for position in batch) == list(range(len(texts)))
    assert length_batches([], 4) == []


def test_missing_lists_each_unstored_text_once_and_store_fills_it(tmp_path, fake_embedder):
    cache = VectorCache(tmp_path / "embeddings.sqlite", fake_embedder, show_progress=False)
    cache.vectors(["known text"])
    assert cache.missing(["new one", "known text", "new one", "other. Two sentences."]) == [
        "new one",
        "other. Two sentences.",
    ]
    texts = ["new one", "other. Two sentences."]
    elsewhere = FakeEmbedder()  # the same model, in another process
    vectors, sums = elsewhere.encode_spans(texts, sentence_bounds(texts))
    cache.store(texts, vectors, sums)
    assert cache.missing(texts) == []
    encoded = cache.encoded_count
    assert np.allclose(cache.vectors(texts), vectors)
    stored = cache.sentence_vectors(texts)
    assert cache.encoded_count == encoded  # vectors and sentence sums both came from the store
    assert [len(parts.spans) for parts in stored] == [1, 2]
    assert np.allclose(stored[1].sums, sums[1].sums)


def test_store_refuses_vectors_that_do_not_fit_the_texts(tmp_path, fake_embedder):
    cache = VectorCache(tmp_path / "embeddings.sqlite", fake_embedder, show_progress=False)
    with pytest.raises(ValueError, match="2 texts, vectors of shape"):
        cache.store(["a", "b"], np.zeros((1, 4), dtype=np.float32))


def test_options_name_the_setting_that_is_out_of_range():
    with pytest.raises(ConfigError, match="Setting 'ray_workers' must be at least 1"):
        ClusterOptions("local", workers=0)
