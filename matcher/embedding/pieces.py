"""The English model's word pieces of a text, as character spans: what passages are sized by.

The model reads at most ``max_seq_length`` pieces (256 for all-MiniLM-L6-v2) and silently cuts
the rest, so passages are measured with the model's own tokenizer (matcher.text.passages takes
a :class:`TokenizerPieces` as its piece function). The tokenizer loads from the model folder on
first use, once per process and folder, never at import time; its Rust core is then only read,
so any number of threads may call it at once.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.embedding.encoder import bundled_model_path
from matcher.errors import Unavailable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_tokenizers: dict[str, Any] = {}


@dataclass(frozen=True)
class TokenizerPieces:
    """The piece spans of a text for the model in ``folder`` ("" means the bundled model).

    Calling it gives the ``(start, end)`` character span of every piece the model reads of a text,
    in order, with its special pieces ([CLS], [SEP]) as empty spans ``(0, 0)``. It holds only the
    folder's name, so it is cheap to copy and to pickle; the tokenizer itself is shared per process.
    """

    folder: str = ""

    def __call__(self, text: str) -> list[tuple[int, int]]:
        offsets: list[tuple[int, int]] = _tokenizer(self.folder).encode(text).offsets
        return offsets

    def max_seq_length(self) -> int | None:
        """The model's window in pieces, from its sentence-transformers config (None if it says nothing)."""
        config = _model_folder(self.folder) / "sentence_bert_config.json"
        try:
            value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        except (OSError, ValueError):
            return None
        return int(value) if isinstance(value, int) else None


def _model_folder(folder: str) -> Path:
    return Path(folder) if folder else bundled_model_path()


def _tokenizer(folder: str) -> Any:
    """The fast tokenizer's core (a ``tokenizers.Tokenizer``) of ``folder``, loaded on first use."""
    found = _tokenizers.get(folder)
    if found is not None:
        return found
    with _lock:
        found = _tokenizers.get(folder)
        if found is None:
            found = _load(_model_folder(folder))
            _tokenizers[folder] = found
    return found


def _load(path: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise Unavailable(
            f"Cannot load the tokenizer of {path} that passage_sizing = 'tokens' needs: {error}",
            details={"setting": "passage_sizing", "path": str(path)},
        ) from None
    if not tokenizer.is_fast:
        raise Unavailable(
            f"The tokenizer of {path} is not a fast tokenizer (no tokenizer.json), so it gives no "
            "character offsets; set passage_sizing = 'words'",
            details={"setting": "passage_sizing", "path": str(path)},
        )
    # A private copy of the core: no truncation or padding, set once here, so calls only read it.
    core = tokenizer.backend_tokenizer.__class__.from_str(tokenizer.backend_tokenizer.to_str())
    core.no_truncation()
    core.no_padding()
    log.info("Loaded the tokenizer of %s to size passages", path)
    return core
