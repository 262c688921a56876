#!/usr/bin/env python
"""Calibration of match strength, per language pair, and the "no good match" line.

For every labelled query of each set, the default ranking's first ten hits become rows of
(features, right or not). The queries' fixed *dev* half fits one logistic model per kind of pair
(``--fit`` writes matcher/strength/strength.json); the *test* half measures it:

- expected calibration error (ECE, ten equal-width bins) of the strength over the test rows;
- "no good match": the same test queries with their right document taken out of the candidates;
  the share whose best hit stays below the ``possible`` band, against the share of queries
  ranked right at 1 whose right hit stays at or above it.

Run from the repository root (embeddings are cached in --data-dir):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_strength.py --data-dir var/bench [--fit] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import SHARED_DATA, bench_settings, missing_shared, skip_message, work_dir
from matcher.engine import open as open_matcher
from matcher.evaluation.runner import in_split, prepared_set
from matcher.retrieval.retrieve import retrieve
from matcher.strength.model import (
    FEATURES,
    MODEL_PATH,
    Bands,
    Logistic,
    PairKind,
    StrengthModel,
    pair_kind,
    strength_features,
)

SETS = {
    "pap2pat-title": PairKind.ENGLISH,
    "pap2pat-claim": PairKind.ENGLISH,
    "pap2pat-reverse": PairKind.ENGLISH,
    "xling-tico19-zh2en": PairKind.CROSS,
    "xling-tico19-en2zh": PairKind.CROSS,
    "xling-tatoeba-zh2en": PairKind.CROSS,
}
DEPTH = 10
STRONG = 0.75  # a strong match: right three times in four or more
log = logging.getLogger("bench_strength")


@dataclass
class Row:
    set: str
    query: str
    kind: PairKind
    rank: int
    features: list[float]
    right: bool
    removed: bool  # the query's right documents were taken out of the candidates

    @property
    def dev(self) -> bool:
        return in_split(self.query, "dev")


def collect(shared: Path, data_dir: Path, names: list[str]) -> list[Row]:
    settings = bench_settings(data_dir, explain_at_index=False)
    policy = settings.ranking_policy
    rows: list[Row] = []
    for name in names:
        with prepared_set(
            shared / name, settings, "all", open_matcher, work_dir=data_dir / f"strength-{name}"
        ) as ready:
            key_of = {doc_id: key for key, doc_id in ready.id_of.items()}
            everyone = set(ready.id_of)
            for query in ready.queries:
                relevant = {doc for doc, grade in ready.beir.qrels.get(query.id, {}).items() if grade > 0}
                for removed in (False, True):
                    allowed = everyone - {key_of[doc] for doc in relevant if doc in key_of} if removed else None
                    hits = retrieve(ready.side, policy, query.vectors, query.tokens, DEPTH, allowed)
                    for rank, hit in enumerate(hits, start=1):
                        kind = pair_kind(
                            query.vectors.language, ready.side.languages.get(hit.key, "en"), hit.multilingual
                        )
                        rows.append(
                            Row(
                                name,
                                query.id,
                                kind,
                                rank,
                                strength_features(hit),
                                ready.id_of[hit.key] in relevant,
                                removed,
                            )
                        )
        log.info("%s: %d rows", name, len(rows))
    return rows


def fit(rows: list[Row]) -> dict[PairKind, Logistic]:
    from sklearn.linear_model import LogisticRegression

    models = {}
    for kind in (PairKind.ENGLISH, PairKind.CROSS):
        train = [row for row in rows if row.kind is kind and row.dev and not row.removed]
        x = np.asarray([row.features for row in train])
        y = np.asarray([row.right for row in train])
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        models[kind] = Logistic(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]))
    return models


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    edges = np.minimum((probabilities * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = edges == b
        if inside.any():
            total += inside.sum() * abs(float(probabilities[inside].mean()) - float(labels[inside].mean()))
    return total / len(probabilities)


def choose_line(model: StrengthModel, rows: list[Row], kind: PairKind) -> float:
    """The kind's ``possible`` threshold that does best on the worse of the two dev rates over its sets:
    queries without their answer left below it, and queries ranked right at 1 kept at or above it."""
    sets = sorted({row.set for row in rows if row.kind is kind and SETS[row.set] is kind})
    tops = {
        name: (
            np.asarray(
                [
                    model.strength(_ranked(r), r.kind)
                    for r in rows
                    if r.set == name and r.dev and r.removed and r.rank == 1
                ]
            ),
            np.asarray(
                [
                    model.strength(_ranked(r), r.kind)
                    for r in rows
                    if r.set == name and r.dev and not r.removed and r.rank == 1 and r.right
                ]
            ),
        )
        for name in sets
    }

    def worst(line: float) -> float:
        return min(min(float((absent < line).mean()), float((right >= line).mean())) for absent, right in tops.values())

    grid = np.linspace(0.05, 0.95, 181)
    return float(max(grid, key=worst))


def _ranked(row: Row):  # the features back as a Ranked-like object for StrengthModel.strength
    from matcher.retrieval.ranking import Ranked

    dense, dense_z, lead_z, lexical_z, lexical_lead_z = row.features
    return Ranked(
        0,
        0.0,
        dense,
        None,
        dense_z=dense_z,
        lead_z=lead_z,
        lexical_z=lexical_z,
        lexical_lead_z=lexical_lead_z,
        multilingual=row.kind is not PairKind.ENGLISH,
    )


def report(model: StrengthModel, rows: list[Row]) -> list[dict[str, object]]:
    results = []
    for name in sorted({row.set for row in rows}):
        test = [row for row in rows if row.set == name and not row.dev]
        present = [row for row in test if not row.removed]
        p = np.asarray([model.strength(_ranked(row), row.kind) for row in present])
        y = np.asarray([row.right for row in present], dtype=float)
        absent_tops = [row for row in test if row.removed and row.rank == 1]
        no_match = np.mean(
            [model.strength(_ranked(row), row.kind) < model.bands_for(row.kind).possible for row in absent_tops]
        )
        right_first = [row for row in present if row.rank == 1 and row.right]
        kept = np.mean(
            [model.strength(_ranked(row), row.kind) >= model.bands_for(row.kind).possible for row in right_first]
        )
        results.append(
            {
                "set": name,
                "kind": SETS[name].value,
                "test_queries": len({row.query for row in present}),
                "ece": round(ece(p, y), 4),
                "no_good_match_when_absent": round(float(no_match), 4),
                "kept_when_right_at_1": round(float(kept), 4),
                "recall@1_all": round(
                    float(
                        np.mean([row.right for row in rows if row.set == name and not row.removed and row.rank == 1])
                    ),
                    4,
                ),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=work_dir("bench"), help="holds the embedding cache")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--fit", action="store_true", help=f"fit on the dev half and write {MODEL_PATH.name}")
    parser.add_argument("--reuse-rows", action="store_true", help="refit from the rows the last run saved")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = missing_shared(args.shared_data, args.sets)
    if missing:
        raise SystemExit(skip_message(args.shared_data, missing))
    cached = args.data_dir / "strength-rows.json"
    if args.reuse_rows and cached.exists():
        rows = [Row(**{**row, "kind": PairKind(row["kind"])}) for row in json.loads(cached.read_text(encoding="utf-8"))]
    else:
        rows = collect(args.shared_data, args.data_dir, args.sets)
        cached.write_text(json.dumps([{**vars(row), "kind": row.kind.value} for row in rows]), encoding="utf-8")
    if args.fit:
        models = fit(rows)
        draft = StrengthModel(models, {kind: Bands(0.5, 0.75) for kind in models})
        # One line for every kind: "possible" means the same probability whatever the languages.
        # The English sets (titles, claims, abstracts) choose it; the sentence sets' absent answers
        # have near-paraphrases that abstracts in a catalogue do not (benchmarks/RESULTS.md).
        line = choose_line(draft, rows, PairKind.ENGLISH)
        bands = {kind: Bands(line, max(STRONG, (1 + line) / 2)) for kind in models}
        model = StrengthModel(models, bands)
        MODEL_PATH.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
        log.info("wrote %s (bands %s)", MODEL_PATH, bands)
    else:
        model = StrengthModel.from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
    results = report(model, rows)
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    bands = ", ".join(
        f"{kind.value}: possible >= {b.possible:.3f}, strong >= {b.strong:.3f}" for kind, b in model.bands.items()
    )
    print(f"features {FEATURES}; bands {bands}")
    print(
        "| set | kind | test queries | ECE | no good match (answer absent) | kept (right at 1) | Recall@1 (all queries) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['set']} | {r['kind']} | {r['test_queries']} | {r['ece']:.4f} | {r['no_good_match_when_absent']:.3f} "
            f"| {r['kept_when_right_at_1']:.3f} | {r['recall@1_all']:.3f} |"
        )


if __name__ == "__main__":
    main()
