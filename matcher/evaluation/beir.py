"""Reading a BEIR folder: corpus.jsonl, queries.jsonl and qrels/test.tsv."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.errors import Problem, ValidationFailed


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirSet:
    name: str
    corpus: list[Document]
    queries: dict[str, str]  # only queries that have relevance labels
    qrels: dict[str, dict[str, int]]  # query id -> {document id: grade}


def _fail(path: Path, message: str, row: int | None = None) -> ValidationFailed:
    return ValidationFailed([Problem(str(path), row, None, "malformed_file", message)])


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise _fail(path, "missing: a BEIR folder has corpus.jsonl, queries.jsonl and qrels/test.tsv")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise _fail(path, f"not valid JSON: {error.msg}", number) from None
            if not isinstance(item, dict) or "_id" not in item:
                raise _fail(path, "each line must be an object with an '_id'", number)
            yield number, item


def load_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """Load a BEIR set; queries without labels are left out, documents are kept whole."""
    folder = Path(folder)
    corpus = [
        Document(str(item["_id"]), str(item.get("title") or ""), str(item.get("text") or ""))
        for _, item in _jsonl(folder / "corpus.jsonl")
    ]
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise _fail(qrels_path, "missing: relevance labels are needed to evaluate")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if number == 1 and len(row) >= 3 and not row[2].strip().lstrip("-").isdigit():
                continue  # header
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                raise _fail(qrels_path, f"expected 'query-id<TAB>corpus-id<TAB>score', got {row!r}", number)
            if int(row[2]) > 0:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {str(item["_id"]): str(item.get("text") or "") for _, item in _jsonl(folder / "queries.jsonl")}
    labelled = {qid: text for qid, text in queries.items() if qid in qrels and text.strip()}
    return BeirSet(folder.name, corpus, labelled, {qid: qrels[qid] for qid in labelled})
