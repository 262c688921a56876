"""Passages sized by words or by the model's tokenizer: how many run past the model's window.

For each corpus in ../shared/data (the labelled sets' corpora and queries, and the SBIR needs) it
makes every record's passages both ways (``passage_sizing`` "words" and "tokens") and counts, with
the model's own tokenizer, the passages longer than its window (256 pieces for all-MiniLM-L6-v2,
which cuts the rest without warning), the pieces so cut, and how many records' passages differ
between the sizings: only those need new vectors (a text that fits keeps its exact text).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_passage_sizing.py [--json]

``--subset SET QUERIES DOCS OUT`` instead writes a reproducible BEIR subset of a labelled set (for
sets too slow to encode whole here): QUERIES queries drawn with a fixed seed, all their relevant
documents, and random other documents as distractors up to DOCS documents.

The quality half (nDCG@10 of both sizings) runs through ``matcher evaluate``; see RESULTS.md,
"Passages sized by the tokenizer".
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
from pathlib import Path
from typing import Any

from common import SHARED_DATA, bench_settings, missing_shared, read_jsonl, skip_message

# (label, file, title field used): queries of a labelled set have no title, as `matcher evaluate` reads them.
CORPORA = [
    ("pap2pat papers (title, claim corpus)", Path("pap2pat-title") / "corpus.jsonl", True),
    ("pap2pat patents (reverse corpus)", Path("pap2pat-reverse") / "corpus.jsonl", True),
    ("pap2pat-title queries", Path("pap2pat-title") / "queries.jsonl", False),
    ("pap2pat-claim queries", Path("pap2pat-claim") / "queries.jsonl", False),
    ("pap2pat-reverse queries", Path("pap2pat-reverse") / "queries.jsonl", False),
    ("SBIR needs", Path("sbir-topics") / "needs.jsonl", True),
    ("nfcorpus corpus", Path("nfcorpus") / "corpus.jsonl", True),
    ("nfcorpus queries", Path("nfcorpus") / "queries.jsonl", False),
]


def measure(rows: list[dict[str, Any]], titled: bool) -> dict[str, Any]:
    from matcher.embedding.pieces import TokenizerPieces
    from matcher.text.passages import passages

    pieces = TokenizerPieces()
    window = pieces.max_seq_length() or 256
    policies = {sizing: bench_settings(passage_sizing=sizing).passage_policy for sizing in ("words", "tokens")}
    figures: dict[str, Any] = {"records": len(rows)}
    made: dict[str, list[list[str]]] = {}
    for sizing, policy in policies.items():
        groups = [passages(row.get("title") or "" if titled else "", row["text"], policy) for row in rows]
        made[sizing] = groups
        lengths = [len(pieces(text)) for group in groups for text in group]
        over = [length for length in lengths if length > window]
        figures[sizing] = {
            "passages": len(lengths),
            "per_record": round(len(lengths) / max(1, len(rows)), 3),
            "over_window": len(over),
            "over_share": round(len(over) / max(1, len(lengths)), 4),
            "pieces_cut_share": round(sum(length - window for length in over) / max(1, sum(lengths)), 4),
            "max_pieces": max(lengths, default=0),
        }
    changed = [i for i, (a, b) in enumerate(zip(made["words"], made["tokens"])) if a != b]
    old = {text for group in made["words"] for text in group}
    figures["records_changed"] = len(changed)
    figures["records_changed_share"] = round(len(changed) / max(1, len(rows)), 4)
    figures["new_passages"] = len({text for i in changed for text in made["tokens"][i]} - old)
    return figures


def write_subset(folder: Path, queries: int, docs: int, out: Path, seed: int = 18) -> None:
    """A BEIR subset of ``folder`` in ``out``: sampled queries, their relevant documents, distractors."""
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
        qrels = [row for row in csv.DictReader(handle, delimiter="\t") if int(row["score"]) > 0]
    query_rows = read_jsonl(folder / "queries.jsonl", -1)
    judged = sorted({row["query-id"] for row in qrels})
    chosen = set(random.Random(seed).sample(judged, min(queries, len(judged))))
    relevant = {row["corpus-id"] for row in qrels if row["query-id"] in chosen}
    corpus = read_jsonl(folder / "corpus.jsonl", -1)
    others = sorted(row["_id"] for row in corpus if row["_id"] not in relevant)
    distractors = set(random.Random(seed + 1).sample(others, max(0, min(len(others), docs - len(relevant)))))
    kept = relevant | distractors
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in corpus if row["_id"] in kept)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in query_rows if row["_id"] in chosen)
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(
            f"{row['query-id']}\t{row['corpus-id']}\t{row['score']}\n" for row in qrels if row["query-id"] in chosen
        )
    print(f"{out}: {len(chosen)} queries, {len(kept)} documents ({len(relevant)} relevant, seed {seed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    parser.add_argument("--limit", type=int, default=0, help="records per corpus (0: all)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--subset", nargs=4, metavar=("SET", "QUERIES", "DOCS", "OUT"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.subset:
        name, queries, docs, out = args.subset
        write_subset(args.shared / name, int(queries), int(docs), Path(out))
        return
    missing = missing_shared(args.shared, [path for _, path, _ in CORPORA])
    if missing:
        print(skip_message(args.shared, missing))
        return
    results = {}
    for label, path, titled in CORPORA:
        rows = read_jsonl(args.shared / path, args.limit or -1)
        results[label] = measure(rows, titled)
        if not args.json:
            f = results[label]
            w, t = f["words"], f["tokens"]
            print(
                f"{label}: {f['records']} records; words: {w['passages']} passages, "
                f"{w['over_share']:.1%} past the window ({w['pieces_cut_share']:.2%} of pieces cut, max {w['max_pieces']}); "
                f"tokens: {t['passages']} passages, {t['over_share']:.1%} past (max {t['max_pieces']}); "
                f"records changed {f['records_changed']} ({f['records_changed_share']:.1%}), "
                f"new passages {f['new_passages']}",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
