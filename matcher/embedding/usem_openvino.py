"""USE-m's forward pass on OpenVINO: converted once from the package's weights, cached on disk.

The torch re-expression of the numpy forward (:mod:`matcher.embedding.usem_graph`) is converted
with ``openvino.convert_model`` (dynamic batch and length) and saved under the caller's folder as
``usem3-<weights hash>-openvino-v<graph version>/``: a change of the weights (or of the graph code)
makes a new folder, never a stale model. It is made once across processes
(:func:`matcher.embedding.staged.made_once`), so two starting at once read one complete copy.

Texts are run in batches of similar length (sorted by piece count, padded to a multiple of
:data:`LENGTH_STEP` so the CPU plugin sees few distinct shapes), at most :data:`TOKEN_BUDGET` slots
a batch.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from matcher.embedding.batching import token_batches
from matcher.embedding.runtimes import compile_on_cpu
from matcher.embedding.staged import made_once

log = logging.getLogger(__name__)

# Bump when usem_graph's arithmetic or inputs change: cached conversions of older code are then ignored.
GRAPH_VERSION = 1
MODEL_FILE = "usem3.xml"
DIMENSION = 512
LENGTH_STEP = 8
TOKEN_BUDGET = 4_096
MAX_BATCH_TEXTS = 256


def weights_digest(path: Path) -> str:
    """The SHA-256 of the weights file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_folder(cache_dir: Path, digest: str) -> Path:
    return cache_dir / f"usem3-{digest[:12]}-openvino-v{GRAPH_VERSION}"


def convert(weights_path: Path) -> Any:
    """The package's weights as an ``openvino.Model`` with dynamic (texts, pieces) inputs."""
    import openvino as ov
    import torch

    from matcher.embedding.usem_graph import UsemGraph, load_weights

    graph = UsemGraph(load_weights(weights_path)).eval()
    example = (torch.ones((2, 8), dtype=torch.int64), torch.tensor([8, 5], dtype=torch.int64))
    with torch.no_grad():
        return ov.convert_model(graph, example_input=example, input=[ov.PartialShape([-1, -1]), ov.PartialShape([-1])])


def cached_model(cache_dir: Path, weights_path: Path, digest: str) -> Path:
    """The converted model's XML under ``cache_dir``, converting and saving it first if absent."""
    folder = converted_folder(cache_dir, digest)
    return made_once(folder, MODEL_FILE, functools.partial(_save, weights_path), "model_cache_dir") / MODEL_FILE


def _save(weights_path: Path, staging: Path) -> None:
    import openvino as ov

    log.info("Converting USE-m to OpenVINO into %s (once per weights)", staging.parent)
    ov.save_model(convert(weights_path), staging / MODEL_FILE, compress_to_fp16=False)


class OpenVinoForward:
    """The compiled model: piece ids (with BOS/EOS) to unit float32 vectors."""

    def __init__(self, model: Any, precision: str, threads: int) -> None:
        """``model``: an ``openvino.Model`` or the path of its XML; ``precision``: "f32", "bf16" or ""
        (the plugin's default for this CPU)."""

        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        self._compiled = compile_on_cpu(model, config)
        self.precision = str(self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def encode(self, pieces: list[list[int]]) -> np.ndarray:
        out = np.empty((len(pieces), DIMENSION), dtype=np.float32)
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        widths = [-(-int(length) // LENGTH_STEP) * LENGTH_STEP for length in lengths]  # padded as run
        with self._lock:
            for batch in token_batches(widths, TOKEN_BUDGET, MAX_BATCH_TEXTS):
                ids = np.zeros((len(batch), widths[batch[0]]), dtype=np.int64)  # the longest comes first
                for row, index in enumerate(batch):
                    ids[row, : lengths[index]] = pieces[index]
                result = self._request.infer([ids, lengths[batch]])
                out[batch] = next(iter(result.values()))
        return out
