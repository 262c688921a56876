#!/usr/bin/env python
"""How precise translated terms (Chinese ~ English related terms) are at each bridge-score threshold.

Two measures:

- **sample**: every record of the sample data folder (``make sample``) is matched (top 5, both
  directions); for each Chinese-English pair the explanation is made at each threshold, and its
  translated terms are looked up in ``benchmarks/data/translated_terms_sample_labels.tsv`` (pairs
  the explanations proposed at 0.7, each hand-checked: right when the two name the same thing, or
  one a kind of the other, in that text). Also: the share of the top-3 cross-language matches of
  band possible/strong that name at least one translated term.
- **tico19**: each Chinese term of ``terms-tico19-zh-en`` against all the set's English terms; the
  best English term is kept when its dictionary score reaches the threshold; right when the set
  pairs the two (in any of its rows).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_translated_terms.py [--data-dir var/sample]

The sample's data folder is copied first (opening it may write).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from common import SHARED_DATA
from matcher.config import load_settings
from matcher.engine import open as open_matcher
from matcher.explanation.translated import is_chinese_word
from matcher.pipeline.explain import record_language
from matcher.records import Kind
from matcher.text.bilingual import dictionary_scores

THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
LABELS = Path(__file__).parent / "data" / "translated_terms_sample_labels.tsv"


def _labels() -> dict[tuple[str, str], int]:
    found = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        zh, en, label = line.split("\t")
        found[(zh, en)] = int(label)
    return found


def sample(data_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        copy = Path(temporary) / "var"
        shutil.copytree(data_dir, copy)
        matcher = open_matcher(load_settings(environ={}, data_dir=copy, show_progress=False))
        explainer = matcher.explainer
        cases = []  # (query profile, match profile, language, strong top-3)
        for kind, direction in ((Kind.NEEDS, "need_to_projects"), (Kind.PROJECTS, "project_to_needs")):
            for stored in list(matcher.catalogue.records(kind)):
                record = stored.record
                result = matcher.match(matcher.request(direction=direction, record_id=record.id, top_k=5))
                profile = explainer.profiles(kind, {stored.key: record})[stored.key]
                for match in result.matches:
                    if record_language(record) == record_language(match.record):
                        continue
                    key = matcher.catalogue.keys_of(kind.other, [match.record.id])[match.record.id]
                    other = explainer.profiles(kind.other, {key: match.record})[key]
                    strong = match.rank <= 3 and match.band is not None and match.band.value in ("possible", "strong")
                    cases.append((profile, other, record_language(record), strong))
        labels = _labels()
        print(f"sample: {len(cases)} cross-language matches (top 5), {sum(c[3] for c in cases)} top-3 possible/strong")
        print("| threshold | pairs shown | right | wrong | unlabelled | precision | strong top-3 naming one |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        base = explainer.policy
        for threshold in THRESHOLDS:
            policy = dataclasses.replace(base, translated_threshold=threshold)
            right = wrong = unknown = named = 0
            for query, match, language, strong in cases:
                (explanation,) = explainer_explain(explainer, policy, query, match, language)
                pairs = [
                    (p.query_term, p.match_term) if is_chinese_word(p.query_key) else (p.match_term, p.query_term)
                    for p in explanation.related
                    if is_chinese_word(p.query_key) or is_chinese_word(p.match_key)
                ]
                named += strong and bool(pairs)
                for pair in pairs:
                    label = labels.get(pair)
                    if label is None:
                        unknown += 1
                    elif label:
                        right += 1
                    else:
                        wrong += 1
            strong_count = sum(c[3] for c in cases)
            print(
                f"| {threshold:.2f} | {right + wrong + unknown} | {right} | {wrong} | {unknown} | "
                f"{right / max(1, right + wrong):.3f} | {named}/{strong_count} |"
            )


def explainer_explain(explainer, policy, query, match, language):  # type: ignore[no-untyped-def]
    from matcher.explanation.explain import explain_all

    return explain_all(query, [match], explainer.idf, policy, language)


def tico(shared: Path) -> None:
    rows = [json.loads(line) for line in (shared / "terms-tico19-zh-en" / "pairs.jsonl").read_text().splitlines()]
    zh_terms = list(dict.fromkeys(row["zh"] for row in rows))
    en_terms = list(dict.fromkeys(row["en"] for row in rows))
    right_pairs = {(row["zh"], row["en"].lower()) for row in rows}
    scores = dictionary_scores(zh_terms, en_terms)
    best = scores.argmax(axis=1)
    print(f"\ntico19: {len(zh_terms)} Chinese terms against {len(en_terms)} English terms (dictionary only)")
    print("| threshold | kept | right | precision | recall |")
    print("|---:|---:|---:|---:|---:|")
    for threshold in THRESHOLDS:
        kept = right = 0
        for row, column in enumerate(best.tolist()):
            if scores[row, column] >= threshold:
                kept += 1
                right += (zh_terms[row], en_terms[column].lower()) in right_pairs
        print(f"| {threshold:.2f} | {kept} | {right} | {right / max(1, kept):.3f} | {right / len(zh_terms):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("var/sample"))
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    arguments = parser.parse_args()
    sample(arguments.data_dir)
    tico(arguments.shared_data)


if __name__ == "__main__":
    main()
