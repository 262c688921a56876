#!/usr/bin/env python
"""The figures behind matcher/explanation/generic.py: which words are no reason for a match.

Prints, for review of the lists (nothing here changes them):

1. English candidates: the sample's words (data/) in at least 5% of the pap2pat research abstracts
   *and* of the first 2,000 SBIR needs (../shared/data) and in at least 4 of the sample's 9 fields,
   each with its figures and whether a list holds it (EDGE, GENERIC) or it is kept as a reason.
2. Chinese candidates: the sample's Chinese words of jieba dictionary frequency 2,000 or more used
   in 3 or more of the sample's fields, the same way.
3. The fragment rule on the sample's Chinese words that jieba's dictionary lacks (made up by its
   HMM): which it flags, which it keeps; and the grammatical characters as jieba's dictionary
   gives them (prepositions, conjunctions, particles, adverbs and pronouns of frequency 10,000 or
   more), against the module's list.
4. With ``--data-dir`` (a folder made by ``make sample``): every sample record's top ``--top-k``
   matches, by id and by its first 300 characters as a new free text, explained by this
   checkout's code: how many named terms there are, how many a list holds (0 is the aim), the
   share of explanations naming nothing by rank, and the commonest single words still named.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/measure_generic_terms.py [--data-dir var/sample]
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
from pathlib import Path

from common import NEEDS, PAPERS, REPO_ROOT, SHARED_DATA, missing_shared, skip_message
from matcher.explanation import generic
from matcher.text.tokenize import _jieba, in_dictionary, tokenize

CJK = re.compile(r"[\u3400-\u9fff]")


def sample_rows() -> list[tuple[list[str], str]]:
    rows = []
    for name, body in (("projects.csv", "abstract"), ("needs.csv", "description")):
        with (REPO_ROOT / "data" / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                fields = (row.get("fields") or row.get("industry") or "").split("; ")
                rows.append((fields, f"{row['title']}\n{row[body]}"))
    return rows


def word_statistics(texts: list[str]) -> tuple[collections.Counter[str], int]:
    """How many texts hold each keyword (as written, lower-cased)."""
    found: collections.Counter[str] = collections.Counter()
    for text in texts:
        found.update({token.surface.lower() for token in tokenize(text) if token.keyword})
    return found, len(texts)


def read_corpus(path: Path, limit: int) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= limit:
                break
            document = json.loads(line)
            texts.append(f"{document.get('title', '')}\n{document['text']}")
    return texts


def where(word: str) -> str:
    return "EDGE" if word in generic.EDGE else "GENERIC" if word in generic.GENERIC else "kept"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--data-dir", type=Path, default=None, help="a data folder holding the sample catalogue")
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()

    rows = sample_rows()
    documents: collections.Counter[str] = collections.Counter()
    fields: dict[str, set[str]] = collections.defaultdict(set)
    for record_fields, text in rows:
        for word in {token.surface.lower() for token in tokenize(text) if token.keyword}:
            documents[word] += 1
            fields[word].update(record_fields)
    print(f"sample: {len(rows)} records; commonest words: {documents.most_common(5)}")
    print(f"  the commonest is in {documents.most_common(1)[0][1] / len(rows):.0%} of the records")

    missing = missing_shared(args.shared_data, [PAPERS, NEEDS])
    if missing:
        print(skip_message(args.shared_data, missing))
    else:
        papers, paper_count = word_statistics(read_corpus(args.shared_data / PAPERS, 10**9))
        needs, need_count = word_statistics(read_corpus(args.shared_data / NEEDS, 2000))
        candidates = [
            word
            for word in documents
            if not CJK.search(word)
            and papers[word] >= 0.05 * paper_count
            and needs[word] >= 0.05 * need_count
            and len(fields[word]) >= 4
        ]
        print(
            f"\n1. English candidates ({len(candidates)}: >= 5% of {paper_count} papers and {need_count} needs, >= 4 fields)"
        )
        for word in sorted(candidates, key=lambda w: (where(w), -documents[w])):
            print(
                f"  {word:14} {where(word):8} sample {documents[word]:3} records in {len(fields[word])} fields;"
                f" papers {papers[word] / paper_count:.1%}, needs {needs[word] / need_count:.1%}"
            )

    frequency = _jieba().dt.FREQ
    chinese = [w for w in documents if CJK.fullmatch(w[0]) and frequency.get(w, 0) >= 2000 and len(fields[w]) >= 3]
    print(f"\n2. Chinese candidates ({len(chinese)}: jieba frequency >= 2,000, >= 3 fields)")
    for word in sorted(chinese, key=lambda w: (where(w), -documents[w])):
        print(
            f"  {word:6} {where(word):8} sample {documents[word]:3} records in {len(fields[word])} fields; jieba {frequency[word]}"
        )

    made_up = sorted(
        w for w in documents if CJK.search(w) and re.fullmatch(r"[\u3400-\u9fff]+", w) and not in_dictionary(w)
    )
    flagged = [w for w in made_up if generic.fragment(w)]
    print(f"\n3. The sample's words jieba's dictionary lacks: {len(made_up)}; flagged as fragments: {len(flagged)}")
    print("  flagged:", " ".join(flagged))
    print("  kept:   ", " ".join(w for w in made_up if w not in flagged))
    dictionary = Path(_jieba().__file__).parent / "dict.txt"
    grammatical = set()
    with dictionary.open(encoding="utf-8") as handle:
        for line in handle:
            word, count, tag = line.split()
            if len(word) == 1 and tag[0] in "pcudr" and int(count) >= 10_000:
                grammatical.add(word)
    print(
        f"  grammatical characters per jieba's dictionary: {len(grammatical)}; the module's list agrees: "
        f"{grammatical == set(generic.FUNCTION_CHARACTERS)}"
    )

    if args.data_dir is not None:
        explanations_by_rank(args.data_dir, args.top_k)


def explanations_by_rank(data_dir: Path, top_k: int) -> None:
    from matcher.config import load_settings
    from matcher.engine import open as open_matcher
    from matcher.records import Kind

    matcher = open_matcher(load_settings(data_dir=data_dir, show_progress=False))
    for case in ("by id", "by new text"):
        named: collections.Counter[str] = collections.Counter()
        listed: collections.Counter[str] = collections.Counter()
        empty = collections.Counter()
        count = collections.Counter()
        for kind, direction in ((Kind.NEEDS, "need_to_projects"), (Kind.PROJECTS, "project_to_needs")):
            for record_id in sorted(matcher.catalogue.content_hashes(kind)):
                if case == "by id":
                    request = matcher.request(record_id=record_id, top_k=top_k, direction=direction)
                else:
                    body = matcher.get(kind, record_id).body[:300]
                    request = matcher.request(text=body, top_k=top_k, direction=direction)
                for match in matcher.match(request).matches:
                    band = "1" if match.rank == 1 else "2-3" if match.rank <= 3 else f"4-{top_k}"
                    explanation = match.explanation
                    count[band] += 1
                    terms = [term.term for term in explanation.shared] + [
                        term for pair in explanation.related for term in (pair.query_term, pair.match_term)
                    ]
                    empty[band] += not terms
                    for term in terms:
                        words = [token.surface.lower() for token in tokenize(term) if token.keyword]
                        named[term.lower()] += 1
                        if not generic.reason(words):
                            listed[term.lower()] += 1
        total = sum(named.values())
        print(f"\n4. {case}: {sum(count.values())} explanations, {total} named terms, {sum(listed.values())} listed")
        print("  naming nothing, by rank: " + ", ".join(f"{band}: {empty[band]}/{count[band]}" for band in count))
        if listed:
            print("  listed:", listed.most_common(20))
        single = [(term, n) for term, n in named.most_common() if " " not in term and not CJK.search(term)][:40]
        print("  commonest single words named:", " ".join(f"{term}({n})" for term, n in single))
        chinese = [(term, n) for term, n in named.most_common() if CJK.search(term)][:30]
        print("  commonest Chinese named:", " ".join(f"{term}({n})" for term, n in chinese))


if __name__ == "__main__":
    main()
