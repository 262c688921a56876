"""Batches by tokens: texts of like length together, as many per batch as a token budget allows.

A batch costs about (texts x longest text's pieces): sorting by length pads least, and a budget in
padded pieces (rather than a count of texts) lets hundreds of short phrases share one forward pass
where long passages go 32 at a time.
"""

from __future__ import annotations

from collections.abc import Sequence


def token_batches(lengths: Sequence[int], budget: int, most: int) -> list[list[int]]:
    """Positions of the texts in batches, longest first; each batch's count x its longest length
    stays within ``budget`` padded pieces (a single text longer than that is a batch of its own),
    and no batch holds more than ``most`` texts."""
    order = sorted(range(len(lengths)), key=lambda position: -lengths[position])
    batches: list[list[int]] = []
    current: list[int] = []
    for position in order:
        longest = lengths[current[0]] if current else lengths[position]
        if current and (len(current) >= most or (len(current) + 1) * max(longest, 1) > budget):
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches
