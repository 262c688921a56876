"""Batches by tokens: longest first, within a budget of padded pieces, every text exactly once."""

from __future__ import annotations

from matcher.embedding.batching import token_batches


def test_long_texts_go_few_at_a_time_and_short_ones_many():
    lengths = [256] * 40 + [8] * 600
    batches = token_batches(lengths, budget=32 * 256, most=512)
    assert len(batches[0]) == 32 and all(lengths[i] == 256 for i in batches[0])
    assert all(len(batch) * max(lengths[i] for i in batch) <= 32 * 256 for batch in batches)
    assert max(len(batch) for batch in batches) == 512
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))


def test_batches_are_sorted_longest_first_so_little_is_padded():
    lengths = [5, 300, 12, 7, 300, 64]
    batches = token_batches(lengths, budget=600, most=100)
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths, reverse=True)
    assert batches[0] == [1, 4]  # two of 300 fill the budget of 600


def test_a_text_longer_than_the_budget_is_a_batch_of_its_own():
    assert token_batches([1000, 10, 10], budget=100, most=8) == [[0], [1, 2]]
    assert token_batches([], budget=100, most=8) == []
