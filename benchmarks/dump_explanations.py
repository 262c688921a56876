#!/usr/bin/env python
"""Every sample explanation (top 5 of every record, both directions) as JSON lines, with its language pair.

Run it with two checkouts on two copies of one data folder and compare the files, to see which
explanations a change touched:

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dump_explanations.py COPY_OF_var/sample OUT.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from matcher.config import load_settings
from matcher.engine import open as open_matcher
from matcher.pipeline.explain import record_language
from matcher.records import Kind


def main() -> None:
    data_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    matcher = open_matcher(load_settings(environ={}, data_dir=data_dir, show_progress=False))
    with out.open("w", encoding="utf-8") as handle:
        for kind, direction in ((Kind.NEEDS, "need_to_projects"), (Kind.PROJECTS, "project_to_needs")):
            for stored in list(matcher.catalogue.records(kind)):
                record = stored.record
                request = matcher.request(direction=direction, record_id=record.id, top_k=5)
                for match in matcher.match(request).matches:
                    assert match.explanation is not None
                    row = {
                        "pair": f"{record_language(record)}-{record_language(match.record)}",
                        "q": record.id,
                        "m": match.record.id,
                        "e": match.explanation.to_dict(),
                    }
                    handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
