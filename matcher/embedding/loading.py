"""Loading a local sentence-transformers folder, offline, with no progress bars."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matcher.errors import Unavailable


def load_sentence_transformer(path: Path, device: str = "cpu") -> Any:
    """The model in ``path`` (a sentence-transformers or plain transformers folder); nothing is downloaded."""
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise Unavailable(
            f"Model folder {path} is not a sentence-transformers model (no modules.json or config.json)",
            details={"setting": "model_path", "path": str(path)},
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # A bar for reading 90 MB of local weights is noise (transformers leaves this unannotated).
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(str(path), device=device, local_files_only=True)
