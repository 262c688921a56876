"""Saving and loading vector indexes atomically, each with its manifest.

Layout, per side: ``<index_dir>/<kind>/<generation>/{index.faiss, entries.json, manifest.json}``
and ``<index_dir>/<kind>/CURRENT`` naming the generation in use. A save writes a whole new
generation folder (files fsynced, folder renamed into place), then replaces ``CURRENT`` by an
atomic rename. A crash at any point before that rename leaves the previous generation current
and loadable; readers never see a half-written index.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import faiss

from matcher.errors import IndexMismatch
from matcher.records import Kind
from matcher.vector_index import VectorIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
REBUILD_HINT = "rebuild it with `matcher index --rebuild`"


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_json(path: Path, document: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


class IndexStore:
    """The folder of saved indexes for both sides."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _side(self, kind: Kind) -> Path:
        return self.root / kind.value

    def current_generation(self, kind: Kind) -> str | None:
        try:
            return (self._side(kind) / CURRENT).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def manifest(self, kind: Kind) -> dict[str, Any] | None:
        generation = self.current_generation(kind)
        if generation is None:
            return None
        return json.loads((self._side(kind) / generation / "manifest.json").read_text(encoding="utf-8"))

    def save(self, index: VectorIndex) -> str:
        """Write ``index`` as a new generation and make it current; return the generation's name."""
        side = self._side(index.kind)
        side.mkdir(parents=True, exist_ok=True)
        generation = f"r{index.revision:08d}-{uuid.uuid4().hex[:8]}"
        staging = side / f".staging-{generation}"
        staging.mkdir()
        try:
            faiss.write_index(index.faiss_index, str(staging / "index.faiss"))
            _fsync_file(staging / "index.faiss")
            _write_json(staging / "entries.json", sorted(index.entries.items()))
            _write_json(staging / "manifest.json", self._manifest_of(index))
            _fsync_dir(staging)
            os.rename(staging, side / generation)
            _fsync_dir(side)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._point_to(side, generation)
        self._prune(side, keep={generation})
        log.info("Saved %s index generation %s (%d vectors)", index.kind.value, generation, index.count)
        return generation

    def _manifest_of(self, index: VectorIndex) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": index.kind.value,
            "model": index.model_name,
            "dimension": index.dimension,
            "count": index.count,
            "revision": index.revision,
            "metric": "inner_product",
            "faiss_version": faiss.__version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def _point_to(self, side: Path, generation: str) -> None:
        pointer = side / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        pointer.write_text(generation + "\n", encoding="utf-8")
        _fsync_file(pointer)
        os.replace(pointer, side / CURRENT)
        _fsync_dir(side)

    def _prune(self, side: Path, keep: set[str]) -> None:
        """Remove all but the newest two generations (a reader may still be loading the previous one)."""
        generations = sorted(
            (path for path in side.iterdir() if path.is_dir() and not path.name.startswith(".")),
            key=lambda path: path.stat().st_mtime,
        )
        for path in generations[:-2]:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def load(self, kind: Kind, model_name: str) -> VectorIndex | None:
        """The current index of ``kind``, or None if none was saved; refuse one from another model."""
        generation = self.current_generation(kind)
        if generation is None:
            return None
        folder = self._side(kind) / generation
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"The {kind.value} index in {folder} has format version {manifest.get('format_version')}, "
                f"this program reads version {FORMAT_VERSION}; {REBUILD_HINT}",
                details={"kind": kind.value, "format_version": manifest.get("format_version")},
            )
        if manifest["model"] != model_name:
            raise IndexMismatch(
                f"The {kind.value} index was built with model '{manifest['model']}' "
                f"({manifest['dimension']} dimensions) but the configured model is '{model_name}'; {REBUILD_HINT}",
                details={"kind": kind.value, "index_model": manifest["model"], "configured_model": model_name},
            )
        faiss_index = faiss.read_index(str(folder / "index.faiss"))
        entries = {int(key): value for key, value in json.loads((folder / "entries.json").read_text(encoding="utf-8"))}
        return VectorIndex(
            kind=kind,
            model_name=manifest["model"],
            dimension=int(manifest["dimension"]),
            revision=int(manifest["revision"]),
            entries=entries,
            faiss_index=faiss_index,
        )

    def remove_all(self, kind: Kind) -> None:
        shutil.rmtree(self._side(kind), ignore_errors=True)
