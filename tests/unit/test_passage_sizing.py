"""Passages sized by the model's own tokenizer: each fits the window, together they cover the text."""

from __future__ import annotations

import re
import threading
from itertools import pairwise

import pytest

from matcher.config import load_settings
from matcher.embedding.pieces import TokenizerPieces
from matcher.errors import ConfigError
from matcher.text.passages import PassagePolicy, passage_windows, passages
from matcher.text.tokenize import CJK_CLASS

PIECES = TokenizerPieces()
WINDOW = 256

# A real-looking long English abstract: about 600 words, many of them several pieces long.
SENTENCE = (
    "Electrohydrodynamic atomisation of polyvinylpyrrolidone solutions yields nanofibres whose "
    "morphology depends on viscosity, conductivity and the applied field strength. "
)
LONG_ENGLISH = SENTENCE * 35
LONG_CHINESE = "基于深度学习的锂电池健康状态估计方法研究，提出了一种新的卷积神经网络模型。" * 30


def tokens_policy(max_tokens: int = WINDOW, overlap: int = 64, max_passages: int = 8) -> PassagePolicy:
    return PassagePolicy(
        sizing="tokens", max_tokens=max_tokens, token_overlap=overlap, max_passages=max_passages, pieces=PIECES
    )


def model_length(text: str) -> int:
    """How many pieces the model reads of ``text``, special pieces included."""
    return len(PIECES(text))


@pytest.mark.parametrize("title", ["", "Nanofibre production by electrospinning"])
def test_every_passage_fits_the_window(title):
    made = passages(title, LONG_ENGLISH, tokens_policy(max_passages=20))
    assert len(made) > 3
    assert all(model_length(text) <= WINDOW for text in made)
    # Sizing by 160 words puts most of these past the window, which is what this sizing fixes.
    by_words = passages(title, LONG_ENGLISH, PassagePolicy(max_passages=20))
    assert any(model_length(text) > WINDOW for text in by_words)


def test_windows_cover_the_text_overlap_and_end_on_words():
    windows = passage_windows(LONG_ENGLISH, tokens_policy(max_passages=20), "Title")
    assert windows[0][0] == 0 and windows[-1][1] == len(LONG_ENGLISH.rstrip())
    for (start, end), (next_start, next_end) in pairwise(windows):
        assert start < next_start < end < next_end  # overlapping, and always moving on
        overlap_pieces = model_length(LONG_ENGLISH[next_start:end]) - 2
        assert 0 < overlap_pieces <= 64
    for start, end in windows:
        assert start == 0 or LONG_ENGLISH[start - 1].isspace()
        assert end == len(LONG_ENGLISH) or LONG_ENGLISH[end].isspace()


def test_windows_prefer_to_end_on_a_sentence():
    windows = passage_windows(LONG_ENGLISH, tokens_policy(max_passages=20), "Title")
    assert all(LONG_ENGLISH[end - 1] == "." for start, end in windows)


def test_a_text_that_fits_is_left_exactly_as_it_is():
    body = SENTENCE * 3
    policy = tokens_policy()
    assert passages("A title", body, policy) == passages("A title", body, PassagePolicy()) == [f"A title\n{body}"]
    assert passages("", body, policy) == [body]


def test_the_title_counts_against_the_window():
    body = SENTENCE * 6  # 230 pieces: fits alone, not under a title of 72
    title = "A long title about electrohydrodynamic atomisation " * 6
    assert passages("", body, tokens_policy()) == [body]
    made = passages(title, body, tokens_policy())
    assert len(made) == 2 and all(text.startswith(f"{title}\n") for text in made)
    assert all(model_length(text) <= WINDOW for text in made)


def test_chinese_text_is_cut_between_characters_and_fits():
    made = passages("锂电池", LONG_CHINESE, tokens_policy())
    assert len(made) > 2
    assert all(model_length(text) <= WINDOW for text in made)
    assert all(text.startswith("锂电池\n") for text in made)
    windows = passage_windows(LONG_CHINESE, tokens_policy(max_passages=20), "锂电池")
    assert windows[0][0] == 0 and windows[-1][1] == len(LONG_CHINESE)
    assert all(start < next_start < end for (start, end), (next_start, _) in pairwise(windows))
    assert all(re.match(rf"[{CJK_CLASS}]", LONG_CHINESE[start]) for start, _ in windows)


def test_at_most_max_passages():
    assert len(passages("T", LONG_ENGLISH, tokens_policy(max_passages=3))) == 3
    assert passages("T", LONG_ENGLISH, tokens_policy(max_passages=1)) == [f"T\n{LONG_ENGLISH}"]


def test_a_word_longer_than_a_window_is_cut_at_pieces():
    body = "x" + "-".join(["segment"] * 400)  # one whitespace word of about 800 pieces
    made = passages("", body, tokens_policy())
    assert len(made) > 2 and all(model_length(text) <= WINDOW for text in made)


def test_threads_share_one_tokenizer():
    texts = [LONG_ENGLISH[i * 50 :] for i in range(16)]
    expected = [PIECES(text) for text in texts]
    found: dict[int, list[tuple[int, int]]] = {}

    def work(i: int) -> None:
        found[i] = TokenizerPieces()(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [found[i] for i in range(16)] == expected


def test_settings_choose_the_sizing_and_name_bad_values():
    policy = load_settings(environ={}).passage_policy  # the default
    assert policy.sizing == "tokens" and policy.max_tokens == 256 and isinstance(policy.pieces, TokenizerPieces)
    words = load_settings(environ={"MATCHER_PASSAGE_SIZING": "words"}).passage_policy
    assert words.pieces is None
    assert words.identity() == {"max_units": 160, "overlap": 40, "max_passages": 8}  # as manifests hold it
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"MATCHER_PASSAGE_SIZING": "pieces"})
    assert error.value.details["setting"] == "passage_sizing"
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"MATCHER_PASSAGE_SIZING": "tokens", "MATCHER_PASSAGE_TOKEN_OVERLAP": "200"})
    assert error.value.details["setting"] == "passage_token_overlap"


def test_the_bundled_model_window_is_256_pieces():
    assert PIECES.max_seq_length() == WINDOW
