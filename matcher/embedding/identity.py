"""What identifies an encoder's vectors: a hash of the model's files, its runtime, precision and export recipe.

Vectors made by one identity are never mixed with another's: the embedding cache and the index
manifests key on :func:`encoder_identity`. Two copies of the same weights in different folders
share an identity; the same folder with changed weights does not.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

# The files whose bytes decide the vectors: weights, configuration, tokenizer, pooling.
_MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")
_CHUNK = 1 << 20


@functools.cache
def _folder_digest(folder: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    root = Path(folder)
    for relative, size, _ in signature:
        digest.update(f"{relative}\x00{size}\x00".encode())
        with (root / relative).open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def model_digest(folder: Path) -> str:
    """SHA-256 over the model folder's weight, configuration and tokenizer files (names and bytes).

    Hashed once per process for each state of the files (path, size, modification time): about
    0.3 s for all-MiniLM-L6-v2's 90 MB.
    """
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix in _MODEL_FILE_SUFFIXES
        # not what a tool left beside the model: caches, staging and hidden folders
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    signature = tuple((str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    return _folder_digest(str(folder.resolve()), signature)


def encoder_identity(name: str, digest: str, runtime: str, precision: str, recipe: str = "") -> str:
    """``name@<12 hex of the weights>/<runtime>-<precision>[-<recipe>]``, e.g.
    ``...MiniLM-L6-v2@a0bcc0c748d5/openvino-bf16-e1``; ``recipe`` names how an export was made
    (its format, and for int8 its calibration texts), so a new recipe is a new identity."""
    return f"{name}@{digest[:12]}/{runtime}-{precision}" + (f"-{recipe}" if recipe else "")
