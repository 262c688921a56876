#!/usr/bin/env python
"""Set the related-terms threshold: similarity of true related pairs against chance pairs.

Chance pairs are every pair of candidate keyphrases (sharing no word) between a sample need and a
sample project that are *not* a labelled match (data/expected_matches.csv), so nearly all are
unrelated; related pairs are a hand-made list across the sample's fields. A match compares about
16 x 16 candidate pairs, so a threshold passing 0.1% of chance pairs adds about one stray pair in
four matches. Prints, per threshold, the share of chance pairs and of related pairs it passes.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/calibrate_related.py
"""

from __future__ import annotations

import csv
import logging
import tempfile
from pathlib import Path

import numpy as np

from common import REPO_ROOT, bench_settings
from matcher.engine import open as open_matcher
from matcher.records import Kind

RELATED = [
    ("corrosion", "rust"), ("EV", "electric vehicle"), ("photovoltaic", "solar cell"), ("UAV", "drone"),
    ("unmanned aerial vehicle", "drone"), ("porosity", "pores"), ("wastewater", "sewage"), ("cancer", "tumour"),
    ("obesity", "overweight"), ("deafness", "hearing loss"), ("heart disease", "cardiovascular"),
    ("lidar", "laser ranging"), ("machine learning", "neural network"), ("fertiliser", "nitrogen"),
    ("crop", "harvest"), ("battery", "lithium-ion cell"), ("lightweight", "low weight"), ("fault", "defect"),
    ("inspection", "testing"), ("antibiotic", "antimicrobial"), ("pesticide", "insecticide"),
    ("steel", "iron"), ("semiconductor", "silicon chip"), ("wind turbine", "wind power"), ("greenhouse", "glasshouse"),
    ("wound", "injury"), ("diabetes", "insulin"), ("vaccine", "immunisation"), ("robot", "manipulator"),
    ("camera", "image sensor"), ("recycling", "reuse"), ("emissions", "pollutants"), ("hydrogen", "fuel cell"),
    ("milk", "dairy"), ("aircraft", "aviation"), ("ship", "vessel"), ("road", "pavement"), ("bridge", "viaduct"),
    ("heat pump", "heating"), ("water treatment", "purification"),
]  # fmt: skip


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        matcher = open_matcher(bench_settings(Path(folder)))
        matcher.ingest_file(REPO_ROOT / "data" / "projects.csv", Kind.PROJECTS)
        matcher.ingest_file(REPO_ROOT / "data" / "needs.csv", Kind.NEEDS)
        labelled = set()
        with (REPO_ROOT / "data" / "expected_matches.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                labelled.add((row["need_id"], row["project_id"]))
        needs = {
            r.id: (k, r)
            for k, r in matcher.catalogue.by_keys(Kind.NEEDS, matcher.catalogue.text_hashes(Kind.NEEDS)).items()
        }
        projects = {
            r.id: (k, r)
            for k, r in matcher.catalogue.by_keys(Kind.PROJECTS, matcher.catalogue.text_hashes(Kind.PROJECTS)).items()
        }
        need_profiles = matcher.explainer.profiles(Kind.NEEDS, {k: r for k, r in needs.values()})
        project_profiles = matcher.explainer.profiles(Kind.PROJECTS, {k: r for k, r in projects.values()})
        chance: list[np.ndarray] = []
        for need_id, (need_key, _) in needs.items():
            first = need_profiles[need_key]
            for project_id, (project_key, _) in projects.items():
                if (need_id, project_id) in labelled:
                    continue
                second = project_profiles[project_key]
                if not first.candidates or not second.candidates:
                    continue
                similarities = first.candidate_vectors @ second.candidate_vectors.T
                apart = np.array(
                    [[set(a.split()).isdisjoint(b.split()) for b in second.candidates] for a in first.candidates]
                )
                chance.append(similarities[apart])
        chance_all = np.concatenate(chance)
        vectors = matcher.embedder.encode([a.lower() for a, _ in RELATED] + [b.lower() for _, b in RELATED])
        related = (vectors[: len(RELATED)] * vectors[len(RELATED) :]).sum(axis=1)
    print(f"chance pairs: {len(chance_all)}; related pairs: {len(RELATED)}")
    print(f"chance percentiles: 99% {np.percentile(chance_all, 99):.3f}, 99.9% {np.percentile(chance_all, 99.9):.3f}")
    print(f"{'threshold':>9} {'chance passed':>14} {'related passed':>15}")
    for threshold in np.arange(0.30, 0.81, 0.05):
        print(f"{threshold:>9.2f} {np.mean(chance_all >= threshold):>14.4%} {np.mean(related >= threshold):>15.1%}")
    budget = 256 * np.mean(chance_all >= 0.55)  # stray pairs per match at 0.55 with 16 x 16 candidates
    print(f"budget: {budget:.3f} chance pairs per match (0.55 over 16 x 16 pairs); lowest threshold keeping it:")
    for pairs in (16, 32, 64, 128, 256):
        allowed = [t for t in np.arange(0.30, 0.81, 0.05) if pairs * np.mean(chance_all >= t) <= budget]
        print(f"  {pairs:>3} pairs compared: {min(allowed):.2f}")
    for (a, b), value in sorted(zip(RELATED, related), key=lambda item: item[1]):
        print(f"  {value:.3f}  {a} ~ {b}")


if __name__ == "__main__":
    main()
