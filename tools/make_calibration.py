#!/usr/bin/env python
"""Write matcher/embedding/calibration_texts.json from the project's own sample catalogue (data/*.csv).

The int8 export of the English model is calibrated on these texts (matcher/embedding/runtimes.py):
whole records, their sentences two at a time, and their titles, so long, middling and short inputs
(passages, evidence, query phrases) are all represented. Run from the repository root after the
sample changes: ``python tools/make_calibration.py``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "matcher" / "embedding" / "calibration_texts.json"
SOURCES = {"projects.csv": "abstract", "needs.csv": "description"}
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def main() -> None:
    texts: list[str] = []
    for file, body_column in SOURCES.items():
        with (ROOT / "data" / file).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                title, body = row["title"].strip(), row[body_column].strip()
                texts.append(f"{title}. {body}")
                sentences = [part for part in _SENTENCE_END.split(body) if part.strip()]
                texts.extend(" ".join(sentences[start : start + 2]) for start in range(0, len(sentences), 2))
                texts.append(title)
    OUTPUT.write_text(json.dumps(texts, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(texts)} texts written to {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
